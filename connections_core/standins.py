"""The demo's stand-in providers: OpenAI, Anthropic and Ollama, served by this process.

Three small HTTP servers on 127.0.0.1, each on a free port, answer as much of
each provider's API as the product sends (see :mod:`connections_core.standin_apis`):
model lists, a wrong key refused in the provider's own words, and Ollama's tags,
show, ps, delete and a pull that streams its progress for a few seconds.  Each
accepts only its own demo key, made afresh for each process.  A fourth port of
127.0.0.1 is held but never listened on: a connection there is refused at once,
which is how a server that is down looks.

They start once per process, when first asked for, on one thread; they stop at
exit, or with :func:`stop`::

    stand_ins = standins.start()       # the running ones, or started now
    stand_ins.openai_url               # "http://127.0.0.1:41234/v1"
    standins.stop()

While they run, their ports are the stand-ins' (:func:`connections_core.addresses.standin_ports`):
no connection but the demo's may point at them.
"""

from __future__ import annotations

import atexit
import logging
import secrets
import selectors
import socket
import threading

from .addresses import standin_ports
from .errors import ConnectionsError
from .standin_apis import (
    PULL_SECONDS,
    AnthropicHandler,
    OllamaHandler,
    OllamaShelf,
    OpenAIHandler,
    StandInServer,
)

__all__ = ["StandIns", "running", "start", "stop"]

log = logging.getLogger(__name__)

_LOOPBACK = "127.0.0.1"
_STOP_LIMIT = 5.0  # seconds stopping may wait for the serving thread


class StandIns:
    """The stand-ins of this process: where each one is, and the key each accepts.

    Made by :func:`start`; :meth:`close` stops them (as :func:`stop` does).  The
    keys are never in its ``repr``.

    :param pull_seconds: how long an Ollama pull's progress takes to reach 100%.
    :raises ConnectionsError: a port of 127.0.0.1 can't be had.
    """

    def __init__(self, *, pull_seconds: float = PULL_SECONDS) -> None:
        self.openai_key = f"sk-demo-{secrets.token_hex(16)}"
        self.anthropic_key = f"sk-ant-demo-{secrets.token_hex(16)}"
        #: The Ollama stand-in's models (its ``pull_seconds`` may be changed).
        self.ollama_models = OllamaShelf(pull_seconds)
        self._stopping = threading.Event()
        self._closed = False
        self._servers: list[StandInServer] = []
        self._sockets: list[socket.socket] = []
        try:
            self._open()
        except OSError as error:
            self.close()
            raise ConnectionsError(
                "The demo's stand-in providers could not start on 127.0.0.1 "
                f"({error.strerror or error.__class__.__name__}): this machine must allow "
                "local connections.") from None
        self._thread = threading.Thread(target=self._serve, name="connections-demo-standins",
                                        daemon=True)
        self._thread.start()
        standin_ports(self.ports)

    def _open(self) -> None:
        for handler, key, shelf in ((OpenAIHandler, self.openai_key, None),
                                    (AnthropicHandler, self.anthropic_key, None),
                                    (OllamaHandler, "", self.ollama_models)):
            server = StandInServer(handler, key=key, stopping=self._stopping, shelf=shelf)
            server.timeout = 0.0  # handle_request() is called only once a client waits
            self._servers.append(server)
        # Bound but never listening: a connection is refused, as by a server that is down.
        refused = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sockets.append(refused)
        refused.bind((_LOOPBACK, 0))
        self._wake, self._woken = socket.socketpair()
        self._sockets += [self._wake, self._woken]
        self._refused = refused

    # -- where they are ------------------------------------------------------------------

    @property
    def openai_url(self) -> str:
        """The OpenAI stand-in's base URL (``.../v1``)."""
        return f"http://{_LOOPBACK}:{self._servers[0].port}/v1"

    @property
    def anthropic_url(self) -> str:
        """The Anthropic stand-in's base URL (``.../v1``)."""
        return f"http://{_LOOPBACK}:{self._servers[1].port}/v1"

    @property
    def ollama_url(self) -> str:
        """The Ollama stand-in's base URL."""
        return f"http://{_LOOPBACK}:{self._servers[2].port}"

    @property
    def unreachable_url(self) -> str:
        """An address of this machine where every connection is refused."""
        return f"http://{_LOOPBACK}:{self._refused.getsockname()[1]}"

    @property
    def ports(self) -> frozenset[int]:
        """The ports the three stand-ins listen on."""
        return frozenset(server.port for server in self._servers)

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return (f"<StandIns {state} openai={self.openai_url} anthropic={self.anthropic_url} "
                f"ollama={self.ollama_url} unreachable={self.unreachable_url}>")

    # -- running -------------------------------------------------------------------------

    def reset(self) -> None:
        """Put the Ollama stand-in's starting models back (a pull under way then adds
        nothing)."""
        self.ollama_models.reset()

    def close(self) -> None:
        """Stop serving (streams under way end at their next line), free every port and
        join the serving thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        thread = getattr(self, "_thread", None)
        if thread is not None:
            self._woken.send(b"x")
            thread.join(_STOP_LIMIT)
        for server in self._servers:
            server.server_close()
        for sock in self._sockets:
            sock.close()
        if self._servers and standin_ports() == self.ports:
            standin_ports(())

    def _serve(self) -> None:
        """Accept on all three ports at once, each request on a thread of its own,
        until :meth:`close` wakes this loop."""
        with selectors.DefaultSelector() as selector:
            for server in self._servers:
                selector.register(server, selectors.EVENT_READ, server)
            selector.register(self._wake, selectors.EVENT_READ, None)
            while not self._stopping.is_set():
                for ready, _ in selector.select():
                    if isinstance(ready.data, StandInServer) and not self._stopping.is_set():
                        ready.data.handle_request()


_running: StandIns | None = None
_guard = threading.Lock()
_exit_hooked = False


def start() -> StandIns:
    """The stand-ins of this process, started now if they are not running (thread-safe:
    however many ask at once, one set runs).

    :raises ConnectionsError: they can't start (no port of 127.0.0.1 to be had).
    """
    global _running, _exit_hooked
    with _guard:
        if _running is None:
            _running = StandIns()
            log.info("Started the demo's stand-in providers: %r", _running)
            if not _exit_hooked:
                atexit.register(stop)
                _exit_hooked = True
        return _running


def running() -> StandIns | None:
    """The stand-ins of this process if they run, else None (nothing is started)."""
    return _running


def stop() -> None:
    """Stop the stand-ins of this process, if they run (the next :func:`start` starts
    new ones, on new ports, with new keys)."""
    global _running
    with _guard:
        stand_ins, _running = _running, None
    if stand_ins is not None:
        stand_ins.close()
