"""What the Ollama screen keeps between reruns: a server's models, and a pull in progress.

A pull can't run inside one script run: any click on the page would interrupt
it.  So :class:`PullJob`, kept in session state, reads the service's progress
iterator (the service checks the role, and records a pull that succeeds) on a
thread of its own, and a fragment that reruns twice a second takes what has
arrived (:meth:`PullJob.advance`) and draws it, in the script thread.  Cancel
makes the reading thread close the iterator, which closes the connection,
which makes Ollama stop the pull.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Literal

import streamlit as st

from connections_core import Connection, ConnectionsError, ConnectionService, ollama

Outcome = Literal["running", "succeeded", "failed", "cancelled"]
Steps = Generator[ollama.PullProgress, None, None]


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


class _Finished:
    """What the reading thread puts last when the stream ended with success."""


Event = ollama.PullProgress | ConnectionsError | _Finished


@dataclass
class PullJob:
    """A pull being followed.

    A thread of its own reads the core's progress iterator into a queue (it
    never calls Streamlit); the script thread takes from the queue in
    :meth:`advance`, waiting at most the time it is given, so a silent server
    never freezes the page.
    """

    connection_id: str
    server: str
    name: str
    phases: list[str] = field(default_factory=list)
    layer: ollama.PullProgress | None = None
    outcome: Outcome = "running"
    error: str = ""
    _events: queue.Queue[Event] = field(default_factory=queue.Queue, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    @classmethod
    def start(cls, service: ConnectionService, connection: Connection, name: str) -> PullJob:
        """Pull ``name`` onto ``connection``'s server through ``service``.

        :raises ValidationError: ``name`` is not a model name (nothing is sent).
        :raises PermissionDeniedError: the signed-in person's role doesn't allow pulling.
        """
        steps = service.pull_model(connection.id, name)
        return cls(connection.id, connection.base_url, name.strip()).follow(steps)

    def follow(self, steps: Steps) -> PullJob:
        """Read ``steps`` on a daemon thread; returns the job."""
        threading.Thread(target=self._read, args=(steps,), daemon=True,
                         name=f"ollama-pull-{self.name}").start()
        return self

    @property
    def running(self) -> bool:
        return self.outcome == "running"

    def advance(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Take the progress that arrives within ``seconds`` (less if the pull ends)."""
        deadline = clock() + seconds
        while self.running:
            try:
                event = self._events.get(timeout=max(deadline - clock(), 0.0))
            except queue.Empty:
                return
            self._take(event)

    def cancel(self) -> None:
        """Stop following; the reading thread closes the stream at its next line,
        which makes Ollama stop the pull."""
        self._stop.set()
        self.outcome = "cancelled"

    def _read(self, steps: Steps) -> None:
        """The reading thread: no Streamlit calls here."""
        try:
            for step in steps:
                if self._stop.is_set():
                    return
                self._events.put(step)
            self._events.put(_Finished())
        except ConnectionsError as error:
            self._events.put(error)
        finally:
            steps.close()  # closing it closes the connection

    def _take(self, event: Event) -> None:
        if isinstance(event, _Finished):
            self.outcome = "succeeded"
        elif isinstance(event, ConnectionsError):
            self.outcome, self.error = "failed", str(event)
        else:
            if event.total:
                self.layer = event
            if not self.phases or self.phases[-1] != event.status:
                self.phases.append(event.status)
