"""What text from the data may look like where it is shown."""

from __future__ import annotations

import json

import pytest

from connections_core.text import counted, duration, json_text

RAW = ["\x7f", "\x80", "\x9b", "\x9d", "\x9f", "\u061c", "\u200e", "\u200f", "\u202a",
       "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
       "\ud800"]


@pytest.mark.parametrize("character", RAW, ids=[f"U+{ord(c):04X}" for c in RAW])
def test_json_text_escapes_what_a_terminal_obeys(character: str) -> None:
    document = {"name": f"a{character}b", f"key{character}": [character]}

    text = json_text(document)

    assert character not in text
    assert f"\\u{ord(character):04x}" in text
    assert json.loads(text) == document


def test_json_text_leaves_other_text_as_it_is() -> None:
    document = {"name": "Café ☕ 東京 \u200b", "line": "a\nb\x1b", "n": 1, "ok": None}

    text = json_text(document)

    assert "Café ☕ 東京 \u200b" in text and "\\n" in text and "\\u001b" in text
    assert json.loads(text) == document


@pytest.mark.parametrize(("n", "expected"), [(0, "0 connections"), (1, "1 connection"),
                                             (7, "7 connections")])
def test_counted_says_the_plural_unless_there_is_one(n: int, expected: str) -> None:
    assert counted(n, "connection") == expected


def test_counted_takes_an_irregular_plural() -> None:
    assert counted(2, "entry", "entries") == "2 entries"
    assert counted(1, "entry", "entries") == "1 entry"


@pytest.mark.parametrize(("ms", "expected"), [
    (0, "0 ms"), (12, "12 ms"), (999, "999 ms"), (999.6, "1000 ms"), (1000, "1.0 s"),
    (15001, "15.0 s"), (59_940, "59.9 s"), (59_960, "1 min"), (125_000, "2 min 5 s")])
def test_duration_reads_as_a_person_says_it(ms: float, expected: str) -> None:
    assert duration(ms) == expected
