"""The screens' helpers that need no page: relative times, Markdown escaping, a followed pull."""

from __future__ import annotations

import re
import threading
from collections.abc import Generator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connections_core import OllamaError, ollama
from tests.app_support import plain
from ui.format import WORD_JOINER, md, relative_time
from ui.ollama_state import PullJob

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("ago", "said"), [
    (timedelta(seconds=5), "just now"),
    (timedelta(seconds=59), "just now"),
    (timedelta(seconds=60), "1 minute ago"),
    (timedelta(minutes=59, seconds=59), "59 minutes ago"),
    (timedelta(hours=2, minutes=30), "2 hours ago"),
    (timedelta(days=1), "1 day ago"),
    (timedelta(days=45), "1 month ago"),
    (timedelta(days=800), "2 years ago"),
    (timedelta(seconds=-30), "just now"),  # a clock a little ahead
])
def test_relative_time(ago: timedelta, said: str) -> None:
    assert relative_time(NOW - ago, NOW) == said


def test_relative_time_of_nothing_is_never() -> None:
    assert relative_time(None, NOW) == "never"


def test_md_stops_markdown_and_streamlit_directives() -> None:
    assert md("**bold** _x_ [link](http://a) :red[alarm] $x$ <b>") == (
        "\\*\\*bold\\*\\* \\_x\\_ \\[link\\]\\(\u2060http\\:\\/\\/a\\) "
        "\\:red\\[alarm\\] \\$x\\$ \\<b\\>")


@pytest.mark.parametrize(("text", "escaped"), [
    ("![x](y)", "\\!\\[x\\]\\(y\\)"),  # an image
    ("{a} &amp;", "\\{a\\} \\&amp\\;"),  # braces, and an entity that would become "&"
    ("- a", "\\- a"), ("+ a", "\\+ a"), ("> a", "\\> a"), ("# a", "\\# a"),
    ("1. a", "1\\. a"), ("2) a", "2\\) a"),  # list, quote and heading markers
    ("a\nb\r\nc\rd", "a b c d"),  # one line: no paragraph, heading underline or list after
])
def test_md_escapes_what_starts_markdown_syntax(text: str, escaped: str) -> None:
    assert md(text) == escaped


@pytest.mark.parametrize(("text", "escaped"), [
    ("see http://h.io/x", f"see {WORD_JOINER}http\\:\\/\\/h\\.io\\/x"),
    ("HTTPS://h.io", f"{WORD_JOINER}HTTPS\\:\\/\\/h\\.io"),
    ("www.h.io", f"{WORD_JOINER}www\\.h\\.io"),
    (":streamlit:", f"\\:{WORD_JOINER}streamlit\\:"),
    (":material_star:", f"\\:{WORD_JOINER}material\\_star\\:"),
    ("a -> b", f"a \\-{WORD_JOINER}\\> b"),
])
def test_md_breaks_what_is_found_after_escapes_are_undone(text: str, escaped: str) -> None:
    """The renderer made ``\\(http\\:\\/\\/host/t.png\\)`` a link: bare links, logos and
    arrows are found in the parsed text, where backslashes are gone."""
    assert md(text) == escaped


@given(st.text())
def test_md_reads_back_as_the_text_on_one_line(text: str) -> None:
    escaped = md(text)

    assert plain(escaped) == re.sub(r"\r\n?|\n", " ", text).replace(WORD_JOINER, "")
    unescaped = re.sub(r"\\.", "", escaped)
    assert not re.search(r"[!-/:-@\[-`{-~\r\n]", unescaped), "every ASCII punctuation escaped"


def job(steps: Generator[ollama.PullProgress, None, None]) -> PullJob:
    return PullJob("id", "http://localhost:11434", "phi3").follow(steps)


def progress(completed: int) -> ollama.PullProgress:
    return ollama.PullProgress("pulling 74701a8c35f6", "sha256:74701a8c35f6", 1000, completed)


def test_advance_to_the_end_is_success() -> None:
    pull = job(step for step in [ollama.PullProgress("pulling manifest"),
                                 *map(progress, range(0, 1001, 100)),
                                 ollama.PullProgress("success")])
    pull.advance(10)

    assert pull.outcome == "succeeded"
    assert pull.phases == ["pulling manifest", "pulling 74701a8c35f6", "success"]
    assert pull.layer == progress(1000)


def test_advance_never_waits_longer_than_it_is_given() -> None:
    """Reading in the script thread once froze the page while Ollama was silent."""
    silence = threading.Event()

    def silent() -> Generator[ollama.PullProgress, None, None]:
        yield ollama.PullProgress("verifying sha256 digest")
        silence.wait(10)  # Ollama says nothing while it verifies a layer
        yield ollama.PullProgress("success")

    pull = job(silent())
    pull.advance(0.2)
    assert pull.running and pull.phases == ["verifying sha256 digest"]
    silence.set()
    pull.advance(10)
    assert pull.outcome == "succeeded"


def test_an_error_from_the_server_fails_the_pull_with_its_message() -> None:
    def failing() -> Generator[ollama.PullProgress, None, None]:
        yield ollama.PullProgress("pulling manifest")
        raise OllamaError('could not pull "phi3": file does not exist', kind="server_error")

    pull = job(failing())
    pull.advance(10)

    assert (pull.outcome, pull.error) == ("failed", 'could not pull "phi3": file does not exist')


def test_cancel_closes_the_progress_stream() -> None:
    closed = threading.Event()

    def endless() -> Generator[ollama.PullProgress, None, None]:
        try:
            while True:
                yield progress(500)
        finally:
            closed.set()

    pull = job(endless())
    pull.advance(0.1)
    pull.cancel()

    assert closed.wait(5) and pull.outcome == "cancelled"
    pull.advance(0.1)
    assert pull.outcome == "cancelled", "nothing is taken after a cancel"
