"""The screens' helpers that need no page: relative times, Markdown escaping, a followed pull."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime, timedelta

import pytest

from connections_core import OllamaError, ollama
from ui.format import md, relative_time
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
        "\\*\\*bold\\*\\* \\_x\\_ \\[link\\](http\\://a) \\:red\\[alarm\\] \\$x\\$ \\<b\\>")


class Clock:
    """Each reading is a tenth of a second after the last."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.1
        return self.now


def job(steps: Generator[ollama.PullProgress, None, None]) -> PullJob:
    return PullJob("id", "http://localhost:11434", "phi3", steps)


def progress(completed: int) -> ollama.PullProgress:
    return ollama.PullProgress("pulling 74701a8c35f6", "sha256:74701a8c35f6", 1000, completed)


def test_advance_takes_what_arrives_within_its_time() -> None:
    pull = job(step for step in [ollama.PullProgress("pulling manifest"),
                                 *map(progress, range(0, 1001, 100))])
    pull.advance(0.35, clock=Clock())

    assert pull.running
    assert pull.phases == ["pulling manifest", "pulling 74701a8c35f6"]
    assert pull.layer == progress(200)


def test_advance_to_the_end_is_success() -> None:
    pull = job(step for step in [progress(1000), ollama.PullProgress("success")])
    pull.advance(60, clock=Clock())

    assert pull.outcome == "succeeded"
    assert pull.phases[-1] == "success"


def test_an_error_from_the_server_fails_the_pull_with_its_message() -> None:
    def failing() -> Generator[ollama.PullProgress, None, None]:
        yield ollama.PullProgress("pulling manifest")
        raise OllamaError('could not pull "phi3": file does not exist', kind="server_error")

    pull = job(failing())
    pull.advance(60, clock=Clock())

    assert (pull.outcome, pull.error) == ("failed", 'could not pull "phi3": file does not exist')


def test_cancel_closes_the_progress_stream() -> None:
    closed = []

    def endless() -> Generator[ollama.PullProgress, None, None]:
        try:
            while True:
                yield progress(500)
        finally:
            closed.append(True)

    pull = job(endless())
    pull.advance(0.2, clock=Clock())
    pull.cancel()

    assert closed == [True] and pull.outcome == "cancelled"
