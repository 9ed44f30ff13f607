"""The dashboard server's own routes, beside the screens: ``GET /metrics`` for
Prometheus and ``GET /healthz`` for a load balancer or an orchestrator.

``/metrics`` gives, for every undeleted connection of every workspace, whether it is
up, how long its last check took and when that check ran (:class:`ConnectionsCollector`),
in the Prometheus text format that ``prometheus-client`` writes.  Connection names are
the team's business, so it answers only ``Authorization: Bearer <token>`` with the token
in ``CONNECTIONS_METRICS_TOKEN`` (compared in constant time), and 401 otherwise; while
that variable is unset it is a 404, as if it did not exist.

``/healthz`` says ``ok`` (200) when the store answers a cheap read within
:data:`HEALTH_TIMEOUT`, and 503 otherwise, with no detail: the reason goes to the log
(a store's error names where it is, never its password), not to whoever asks.

Both read through one service, opened from the environment on the first request and
kept for the process (its store is the one every screen of the process shares), and
closed when the process exits.  Each read runs in a thread of its own, waited for at
most a bound, and at most :data:`MAX_READS` at once: a database that hangs holds a
few threads, never the server.
"""

from __future__ import annotations

import asyncio
import atexit
import hmac
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from typing import TypeVar

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from connections_core import Connection, ConnectionsError, ConnectionService
from server.api import api_routes

__all__ = ["HEALTH_TIMEOUT", "LABELS", "MAX_READS", "ROUTES", "SCRAPE_TIMEOUT", "TOKEN_VARIABLE",
           "ConnectionsCollector", "routes"]

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "CONNECTIONS_METRICS_TOKEN"  # noqa: S105  (a name, not a token)
SCRAPE_TIMEOUT = 5.0  # seconds a scrape waits for the store (Prometheus waits 10 by default)
HEALTH_TIMEOUT = 2.0  # seconds /healthz waits for the store
MAX_READS = 4  # store reads the routes may have under way at once (a hung one counts)
LABELS = ("workspace", "connection", "type", "id")
#: Never kept by a proxy or a browser: each answer is about this moment.
_NOT_CACHED = {"Cache-Control": "no-store"}

T = TypeVar("T")


class ConnectionsCollector(Collector):
    """The connections' last checks as three gauges, read anew on every collection
    (every scrape), labelled ``workspace``, ``connection`` (the name), ``type`` and
    ``id`` (names may repeat):

    * ``connections_up``: 1 while the status is Connected, 0 while it is Error (the
      status every screen shows); absent while it is Not checked (nothing is known);
    * ``connections_check_latency_seconds``: how long its last check took;
    * ``connections_last_check_timestamp_seconds``: when that check ran (Unix time).

    :param read: the connections to report (every workspace's, without deleted ones).
    """

    def __init__(self, read: Callable[[], Iterable[Connection]]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        """The families without samples, so that registering reads nothing."""
        return _families()

    def collect(self) -> Iterator[Metric]:
        up, latency, checked = _families()
        for connection in self._read():
            labels = [_label(connection.workspace_id), _label(connection.name),
                      _label(connection.type), _label(connection.id)]
            if connection.status != "unconfigured":
                up.add_metric(labels, 1.0 if connection.status == "connected" else 0.0)
            if connection.last_result is not None:
                latency.add_metric(labels, connection.last_result.latency_ms / 1000)
            if connection.last_checked_at is not None:
                checked.add_metric(labels, connection.last_checked_at.timestamp())
        yield from (up, latency, checked)


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily("connections_up", "1 while the connection's status is Connected, 0 "
                          "while it is Error; absent while it is Not checked.", labels=LABELS),
        GaugeMetricFamily("connections_check_latency_seconds",
                          "How long the connection's last check took.", labels=LABELS),
        GaugeMetricFamily("connections_last_check_timestamp_seconds",
                          "When the connection was last checked, in seconds since the epoch.",
                          labels=LABELS),
    )


def _label(text: str) -> str:
    """``text`` as a label value: encodable in UTF-8 (a lone surrogate, which a record
    edited by hand may hold, becomes ``?``); prometheus-client escapes the rest."""
    return text.encode("utf-8", "replace").decode("utf-8")


def screens_service() -> ConnectionService:
    """The trusted service over the store the screens read (the key from
    ``.streamlit/secrets.toml`` when the environment names none)."""
    from ui.service import screens_environment

    return ConnectionService.from_env(environ=screens_environment()[0])


def routes(open_service: Callable[[], ConnectionService] = screens_service,
           environ: Mapping[str, str] = os.environ) -> list[BaseRoute]:
    """``/metrics`` and ``/healthz``, reading through the service ``open_service`` gives
    (opened on first use, once), with the token in ``environ``."""
    service = _Service(open_service)
    reads = _Reads(MAX_READS)
    registry = CollectorRegistry()
    registry.register(ConnectionsCollector(lambda: service.get().list_every_workspace()))

    async def metrics(request: Request) -> Response:
        refused = _refusal(request, environ)
        if refused is not None:
            return refused
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        try:
            body = await reads.run(lambda: encode(registry), SCRAPE_TIMEOUT, "GET /metrics")
        except _Unavailable:
            return _unavailable()
        return Response(body, headers={**_NOT_CACHED, "Content-Type": content_type})

    async def healthz(request: Request) -> Response:
        try:
            await reads.run(lambda: service.get().store.revision(), HEALTH_TIMEOUT,
                            "GET /healthz")
        except _Unavailable:
            return _unavailable()
        return PlainTextResponse("ok", headers=_NOT_CACHED)

    return [Route("/metrics", metrics, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"])]


def _refusal(request: Request, environ: Mapping[str, str]) -> Response | None:
    """404 while no token is set, 401 unless the request bears it; None to answer."""
    token = environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        return PlainTextResponse("Not Found", 404, headers=_NOT_CACHED)
    scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
    # Starlette decodes a header as Latin-1: encoded back, these are the bytes sent.
    if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("latin-1", "replace"), token.encode("utf-8")):
        return None
    return PlainTextResponse("Unauthorized", 401,
                             headers={**_NOT_CACHED, "WWW-Authenticate": "Bearer"})


def _unavailable() -> Response:
    return PlainTextResponse("Service Unavailable", 503, headers=_NOT_CACHED)


class _Service:
    """The service the routes read through: opened on first use, once per process
    (again after a failed attempt), and closed when the process exits."""

    def __init__(self, open_service: Callable[[], ConnectionService]) -> None:
        self._open = open_service
        self._opened: ConnectionService | None = None
        self._lock = threading.Lock()

    def get(self) -> ConnectionService:
        """:raises ConnectionsError: the store or the key can't be opened."""
        with self._lock:
            if self._opened is None:
                self._opened = self._open()
                atexit.register(self.close)
            return self._opened

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, None
        if opened is not None:
            opened.store.close()


class _Unavailable(Exception):
    """The store did not answer (why is logged): the route says 503."""


class _Reads:
    """Store reads off the event loop: each in a thread of its own, waited for at most
    a bound; past ``limit`` under way at once (a read that outlived its bound counts
    until it ends), a new one is refused at once."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._under_way = 0
        self._lock = threading.Lock()

    async def run(self, read: Callable[[], T], timeout: float, what: str) -> T:
        """``read()``'s value.

        :raises _Unavailable: it raised a ConnectionsError, took longer than
            ``timeout`` seconds, or too many reads are under way (each logged).
        """
        with self._lock:
            busy = self._under_way >= self._limit
            if not busy:
                self._under_way += 1
        if busy:
            log.warning("%s: %d reads of the store are still under way; not starting "
                        "another", what, self._limit)
            raise _Unavailable
        done: Future[T] = Future()
        threading.Thread(target=self._read, args=(read, done), daemon=True,
                         name="connections-routes-read").start()
        try:
            return await asyncio.wait_for(asyncio.wrap_future(done), timeout)
        except TimeoutError:
            log.warning("%s: the store did not answer within %g s", what, timeout)
        except ConnectionsError as error:
            log.warning("%s: %s", what, error)
        raise _Unavailable

    def _read(self, read: Callable[[], T], done: Future[T]) -> None:
        try:
            if done.set_running_or_notify_cancel():  # False: the request gave up already
                try:
                    done.set_result(read())
                except BaseException as error:  # handed to the request, which decides
                    done.set_exception(error)
        finally:
            with self._lock:
                self._under_way -= 1


#: What ``st.App(..., routes=ROUTES)`` serves, reading the store the environment names:
#: these two and the applications' API (:mod:`server.api`).
ROUTES = [*routes(), *api_routes(screens_service)]
