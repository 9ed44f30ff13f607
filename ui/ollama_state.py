"""What the Ollama screen keeps between reruns: a server's models, and a pull in progress.

A pull can't run inside one script run: any click on the page would interrupt
it.  So :class:`PullJob` holds the core's progress iterator in session state,
and a fragment that reruns twice a second takes what has arrived
(:meth:`PullJob.advance`) and draws it, in the script thread.  Cancel closes
the iterator, which closes the connection, which makes Ollama stop the pull.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Literal

import streamlit as st

from connections_core import Connection, ConnectionsError, ConnectionService, ollama

Outcome = Literal["running", "succeeded", "failed", "cancelled"]
Steps = Generator[ollama.PullProgress, None, None]

#: Seconds a pull may be silent.  Ollama says nothing while it verifies a
#: downloaded layer, which takes minutes for a large model.
PULL_SILENCE_LIMIT = 600.0


@dataclass(frozen=True)
class ServerSnapshot:
    """An Ollama server as last read: its version and its models."""

    version: str
    models: list[ollama.OllamaModel]


def read_server(service: ConnectionService, connection: Connection) -> ServerSnapshot:
    """List the models (storing their names on the connection) and read the version.

    :raises ProviderError: the server can't be reached or is not Ollama.
    """
    models = service.refresh_ollama_models(connection.id)
    return ServerSnapshot(ollama.version(connection.base_url, timeout=service.timeout), models)


@st.cache_data(ttl=300, show_spinner=False, max_entries=256)
def model_details(base_url: str, name: str, timeout: float) -> ollama.ModelInfo:
    """``show_model``, kept for a few minutes: a model's details change only when it is
    pulled again (``forget_details`` then drops them), and every click reruns the page.

    :raises NotFoundError: the model is not on the server.
    """
    return ollama.show_model(base_url, name, timeout=timeout)


def forget_details() -> None:
    model_details.clear()


@dataclass
class PullJob:
    """A pull being followed: the core's progress iterator and what it said so far."""

    connection_id: str
    server: str
    name: str
    steps: Steps = field(repr=False)
    phases: list[str] = field(default_factory=list)
    layer: ollama.PullProgress | None = None
    outcome: Outcome = "running"
    error: str = ""

    @classmethod
    def start(cls, connection: Connection, name: str) -> PullJob:
        """:raises ValidationError: ``name`` is not a model name (nothing is sent)."""
        steps = ollama.pull_model(connection.base_url, name, timeout=PULL_SILENCE_LIMIT)
        return cls(connection.id, connection.base_url, name.strip(), steps)

    @property
    def running(self) -> bool:
        return self.outcome == "running"

    def advance(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Take the progress that arrives within about ``seconds``.

        A line already on its way is waited for, so a silent server holds this
        up to :data:`PULL_SILENCE_LIMIT`.
        """
        deadline = clock() + seconds
        try:
            for step in self.steps:
                self._note(step)
                if clock() >= deadline:
                    return
        except ConnectionsError as error:
            self.outcome, self.error = "failed", str(error)
            return
        self.outcome = "succeeded"

    def cancel(self) -> None:
        self.steps.close()
        self.outcome = "cancelled"

    def _note(self, step: ollama.PullProgress) -> None:
        if step.total:
            self.layer = step
        if not self.phases or self.phases[-1] != step.status:
            self.phases.append(step.status)
