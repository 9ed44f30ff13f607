"""Rules for the names people give things: what a name may contain.

A name is shown in lists, pickers, messages and the audit trail, so it must
read as what it is: no control characters (NUL, line breaks), no
bidirectional overrides (which make ``exe.txt`` read as ``txt.exe``), no
lone surrogates (which can't be stored as UTF-8), and at least one visible
character.  Text that reached the data anyway (a file edited by hand, a
server's message) is made safe where it is shown: :func:`server_text` for a
line, :func:`json_text` for a JSON document.

The words for numbers are here too, so that every screen and command says them
alike: :func:`counted` ("1 connection", "7 connections") and :func:`duration`
("12 ms", "15.0 s").
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

__all__ = ["counted", "duration", "json_text", "name_problem", "server_text", "shown",
           "well_formed"]

#: Characters that reorder the text around them.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                           "\u2066\u2067\u2068\u2069")
#: Characters that take no space on screen.
_INVISIBLE = frozenset("\u00ad\u034f\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064"
                       "\ufeff\u3164\uffa0")
_SHOWN_MAX = 80
#: What JSON leaves raw but a terminal may obey, or can't be written as UTF-8: DEL and
#: the C1 controls (U+009B starts an escape sequence as ``ESC [`` does), the
#: bidirectional controls, and lone surrogates.  JSON escapes the C0 controls itself.
_RAW_IN_JSON = re.compile("[\x7f-\x9f" + "".join(sorted(_BIDI_CONTROLS)) + "\ud800-\udfff]")


def name_problem(text: str, what: str) -> str | None:
    """Why ``text`` (already stripped) can't be a name, or None when it can.

    ``what`` starts the sentence: ``"A name"``, ``"A workspace id"``.
    """
    for character in text:
        category = unicodedata.category(character)
        if category == "Cs":
            return f"{what} contains a broken character (a lone surrogate); type it again."
        if category == "Cc":
            return f"{what} must not contain control characters such as line breaks or tabs."
        if character in _BIDI_CONTROLS:
            return (f"{what} must not contain bidirectional control characters: they make "
                    "text read differently from what it is.")
    if all(character in _INVISIBLE or character.isspace() for character in text):
        return f"{what} needs at least one visible character."
    return None


def shown(value: object, limit: int = _SHOWN_MAX) -> str:
    """``value`` (or its ``repr``) as a message may quote it: see :func:`server_text`."""
    return server_text(value if isinstance(value, str) else repr(value), limit)


_SURROGATE = re.compile("[\ud800-\udfff]")


def well_formed(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, so it can be encoded
    (JSON allows ``"\\ud800"``; UTF-8 doesn't)."""
    return _SURROGATE.sub("\ufffd", text)


def server_text(text: str, limit: int) -> str:
    """A line of text from a server made safe to show and store: encodable,
    control and formatting characters turned into spaces, at most ``limit``
    characters (cut ones end with "…")."""
    flat = "".join(ch if ch.isprintable() else " " for ch in well_formed(text)).strip()
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"



def json_text(document: Any) -> str:
    """``document`` as indented JSON to print: valid JSON that decodes to the same
    values, in which no control character (C0, DEL, C1), bidirectional control or
    lone surrogate is left raw: each is written as a ``\\uXXXX`` escape."""
    text = json.dumps(document, indent=2, ensure_ascii=False)
    # Outside its strings, JSON is ASCII punctuation: every match is inside one.
    return _RAW_IN_JSON.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1: ``"1 connection"``,
    ``"7 connections"``, ``counted(2, "entry", "entries")``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def duration(ms: int | float) -> str:
    """A time taken, as a person reads it: ``"12 ms"`` under a second,
    ``"15.0 s"`` under a minute, ``"2 min 5 s"`` beyond."""
    if ms < 1000:
        return f"{round(ms)} ms"
    seconds = ms / 1000
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"
