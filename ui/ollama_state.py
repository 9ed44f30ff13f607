"""What the Ollama screen keeps between reruns: a server's models, the details of the
models looked at, and a pull in progress.

Everything is read through the service, so every read passes the access rule,
and reads record nothing: only a Test (or Test all) on the Connections screen
records a check and changes a connection's status.  What is kept is kept in the
person's session, never in a cache shared by everyone.

A pull can't run inside one script run: any click on the page would interrupt
it.  So :class:`PullJob`, kept in session state (it outlives the screen while
the person looks at another), reads the service's progress iterator (the
service checks the role, and records a pull that succeeds) on a thread of its
own, and a fragment that reruns twice a second takes what has arrived
(:meth:`PullJob.advance`) and draws it, in the script thread.  Cancel closes
the pull's connection at once, which makes Ollama stop the pull, and the job
says "cancelled" only once the reading thread has seen it closed.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import streamlit as st

from connections_core import (
    Connection,
    ConnectionsError,
    ConnectionService,
    ModelInfo,
    OllamaModel,
    ProviderError,
    Pull,
    PullProgress,
)

Outcome = Literal["running", "succeeded", "failed", "cancelled"]
#: Seconds Cancel waits for the reading thread to see the connection closed.
CANCEL_WAIT = 5.0
#: (store, workspace, person, connection id, base URL, model) -> (when read, its details)
DETAILS = "ollama_details"
#: Seconds a model's details are kept: they change only when it is pulled again.
DETAILS_SECONDS = 300.0


@dataclass(frozen=True)
class ServerSnapshot:
    """An Ollama server as last read: its version and its models."""

    version: str
    models: list[OllamaModel]


def read_server(service: ConnectionService, connection: Connection) -> ServerSnapshot:
    """Read the server's models and version (a read: nothing is recorded or stored).

    :raises ProviderError: the server can't be reached or is not Ollama.
    """
    models = service.ollama_models(connection.id)
    return ServerSnapshot(service.ollama_version(connection.id), models)


def model_details(service: ConnectionService, connection: Connection, name: str,
                  clock: Callable[[], float] = time.monotonic) -> ModelInfo:
    """What the server says about model ``name``, kept in the session for a few
    minutes: every click reruns the page, and the details change only when the model
    is pulled again (:func:`forget_details` then drops them).

    Kept per store, workspace and person as well as per server, in the session: what
    one person read is never handed to another, nor the demo's to a real workspace
    of the same name.  Whoever may open a workspace may read
    its models' details, and whoever may no longer open it gets no screen at all
    (``current_service`` stops the run), so a kept answer never skips the rule.

    :raises NotFoundError: the model is not on the server.
    """
    key = (service.store.location, service.workspace_id, service.actor, connection.id,
           connection.base_url, name)
    now = clock()
    kept = {k: v for k, v in st.session_state.get(DETAILS, {}).items()
            if now - v[0] < DETAILS_SECONDS}
    if key not in kept:
        kept[key] = (now, service.model_details(connection.id, name))
    st.session_state[DETAILS] = kept
    details: ModelInfo = kept[key][1]
    return details


def forget_details() -> None:
    """Drop the details kept: after a pull, a delete or a Refresh, they are read again."""
    st.session_state.pop(DETAILS, None)


class _Finished:
    """What the reading thread puts last when the stream ended with success."""


class _Cancelled:
    """What the reading thread puts last when the stream ended because it was cancelled."""


Event = PullProgress | ConnectionsError | _Finished | _Cancelled


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
    connection_name: str = ""
    phases: list[str] = field(default_factory=list)
    layer: PullProgress | None = None
    latest: PullProgress | None = None
    outcome: Outcome = "running"
    error: str = ""
    cancelling: bool = False
    _events: queue.Queue[Event] = field(default_factory=queue.Queue, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _pull: Pull | None = field(default=None, repr=False)
    _reader: threading.Thread | None = field(default=None, repr=False)

    @classmethod
    def start(cls, service: ConnectionService, connection: Connection, name: str) -> PullJob:
        """Pull ``name`` onto ``connection``'s server through ``service``.

        :raises ValidationError: ``name`` is not a model name (nothing is sent).
        :raises PermissionDeniedError: the signed-in person's role doesn't allow pulling.
        """
        pull = service.pull_model(connection.id, name)
        return cls(connection.id, connection.base_url, name.strip(),
                   connection.name).follow(pull)

    def follow(self, steps: Pull | Iterator[PullProgress]) -> PullJob:
        """Read ``steps`` on a daemon thread; returns the job.  A :class:`Pull` is
        cancelled at once; another iterator at its next step."""
        self._pull = steps if isinstance(steps, Pull) else None
        self._reader = threading.Thread(target=self._read, args=(steps,), daemon=True,
                                        name=f"ollama-pull-{self.name}")
        self._reader.start()
        return self

    @property
    def where(self) -> tuple[str, str]:
        """The server pulled onto: its connection's id and base URL."""
        return self.connection_id, self.server

    @property
    def running(self) -> bool:
        return self.outcome == "running"

    @property
    def doing(self) -> str:
        """What the pull is doing, in a few words: "downloading 45%", "verifying sha256 digest"."""
        if self.cancelling:
            return "cancelling"
        if self.latest is None:
            return "starting"
        if self.latest.fraction is not None:
            return f"downloading {int(self.latest.fraction * 100)}%"
        return self.latest.status

    def advance(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Take the progress that arrives within ``seconds`` (less if the pull ends)."""
        deadline = clock() + seconds
        while self.running:
            try:
                event = self._events.get(timeout=max(deadline - clock(), 0.0))
            except queue.Empty:
                return
            self._take(event)

    def cancel(self, wait: float = CANCEL_WAIT) -> None:
        """Close the pull's connection (Ollama then stops the pull) and wait, at most
        ``wait`` seconds, for the reading thread to see it closed.

        The outcome becomes "cancelled" only then; a pull that ended first keeps
        its own outcome, and one not yet confirmed stays running, ``cancelling``.
        """
        if not self.running:
            return
        self.cancelling = True
        self._stop.set()
        if self._pull is not None:
            self._pull.cancel()
        if self._reader is not None:
            self._reader.join(wait)
        self.advance(0)

    def _read(self, steps: Iterator[PullProgress]) -> None:
        """The reading thread: no Streamlit calls here."""
        try:
            for step in steps:
                self._events.put(step)
                if self._stop.is_set():  # an iterator that can't be cancelled at once
                    self._events.put(_Cancelled())
                    return
            self._events.put(_Finished())
        except ProviderError as error:
            self._events.put(_Cancelled() if error.kind == "cancelled" else error)
        except ConnectionsError as error:
            self._events.put(error)
        finally:
            close = getattr(steps, "close", None)
            if close is not None:
                close()  # closing it closes the connection

    def _take(self, event: Event) -> None:
        if isinstance(event, _Finished):
            self.outcome = "succeeded"
        elif isinstance(event, _Cancelled):
            self.outcome = "cancelled"
        elif isinstance(event, ConnectionsError):
            self.outcome, self.error = "failed", str(event)
        else:
            self.latest = event
            if event.total:
                self.layer = event
            if not self.phases or self.phases[-1] != event.status:
                self.phases.append(event.status)
