"""The one place where this package talks HTTP.

Every request made to a provider goes through :func:`send` (or
:func:`open_exchange`, for a body read as a stream), which

* holds a deadline over the whole exchange (connecting, the headers and the
  body): a watchdog shuts the connection when it passes, however slowly the
  server sends, because a read timeout alone restarts with every byte;
* refuses link-local and cloud metadata addresses (see :mod:`connections_core.addresses`),
  judged on the address actually connected to, so that no notation of a host
  and no DNS answer gets past; ``CONNECTIONS_ALLOW_LINK_LOCAL=1`` allows them;
* never follows a redirect, so credentials can't be carried to another host
  (``requests`` drops ``Authorization`` on a cross-host redirect, but not
  ``x-api-key``); a redirect is reported with where it pointed;
* reads at most :data:`MAX_BODY_BYTES` of a body, so a hostile server can't
  exhaust memory;
* turns every ``requests`` and ``urllib3`` exception, and any URL they can't
  parse, into a :class:`ProviderError` whose message a person can act on and
  which never contains a header value;
* lets another thread cancel an exchange at once (a :class:`Cancellation`),
  even while the server is silent: the same watchdog shuts its connection.

Text that a server sends reaches a message, a result or the data file only
through :func:`connections_core.text.server_text` or ``well_formed``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.hooks import dispatch_hook
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, ProxyManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NameResolutionError, ReadTimeoutError

from .addresses import blocked_message, is_blocked, link_local_allowed
from .errors import ProviderError, ValidationError
from .text import server_text

DEFAULT_TIMEOUT = 15.0
MAX_BODY_BYTES = 4 * 1024 * 1024
_CHUNK = 64 * 1024
USER_AGENT = "connections/1.0"

# -- the seam ----------------------------------------------------------------------------

def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what messages show of an address.
    Never raises; a URL that can't be parsed shows as "an invalid address"."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an invalid address"
    if ":" in host:
        host = f"[{host}]"
    return server_text(f"{parts.scheme}://{host}{port}", 200)


def new_session() -> requests.Session:
    """A session that sends our user agent and keeps the deadline and the address
    check on every connection (proxy and CA settings from the environment still
    apply, as a deployment behind a proxy needs)."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.mount("http://", GuardedAdapter())
    session.mount("https://", GuardedAdapter())
    return session


class Cancellation:
    """A switch that cancels the exchanges it is given to, from any thread.

    Pass it to :func:`open_exchange`; :meth:`cancel` shuts the connection at
    once (the server sees it closed), whether the request is being sent, the
    headers awaited or the body read, and the reading thread gets a
    :class:`ProviderError` of kind ``"cancelled"``.  Cancelled before the
    request, it stops the request from being sent.
    """

    def __init__(self) -> None:
        self._cancelled = False
        self._watchdogs: list[_Watchdog] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Shut the connection of every exchange under way; returns once it is shut."""
        with self._lock:
            self._cancelled = True
            watchdogs, self._watchdogs = self._watchdogs, []
        for watchdog in watchdogs:
            watchdog.abort()

    def _attach(self, watchdog: _Watchdog) -> None:
        with self._lock:
            if not self._cancelled:
                self._watchdogs.append(watchdog)
                return
        watchdog.abort()


class Exchange:
    """A response whose body is still to be read, and the deadline that bounds it.

    Close it (or use it in a ``with`` block): that releases the connection and
    stops the watchdog.
    """

    def __init__(self, response: requests.Response, watchdog: _Watchdog, timeout: float) -> None:
        self.response = response
        self._watchdog = watchdog
        self._timeout = timeout
        self._silence: float | None = None

    def read(self, limit: int | None = None) -> bytes:
        """The whole body, at most ``limit`` bytes (default :data:`MAX_BODY_BYTES`),
        within the deadline; the exchange is closed afterwards."""
        limit = MAX_BODY_BYTES if limit is None else limit
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in self.chunks():
                size += len(chunk)
                if size > limit:
                    raise ProviderError(
                        f"The server at {origin(self.response.url)} sent more than "
                        f"{_size(limit)}; that is not an answer this check expects.",
                        kind="invalid_response", status_code=self.response.status_code)
                chunks.append(chunk)
        finally:
            self.close()
        return b"".join(chunks)

    def chunks(self) -> Iterator[bytes]:
        """The body's chunks as they arrive, with transport errors translated."""
        try:
            yield from self.response.iter_content(chunk_size=_CHUNK)
        except (requests.RequestException, Urllib3Error, OSError) as error:
            raise self._failure(error) from None
        # A body without a length ends when the connection does, as when the
        # watchdog shut it: what arrived may be cut short.
        if self._watchdog.expired or self._watchdog.aborted:
            raise self._failure(None)

    def arm(self, seconds: float) -> None:
        """From now on, allow ``seconds`` of silence before giving up (a stream's
        limit between two pieces, instead of the deadline of the whole exchange)."""
        self._silence = seconds
        self._watchdog.arm(seconds)

    def pause(self) -> None:
        """Stop the clock while the reader is away (it counts the server's time only)."""
        self._watchdog.pause()

    def close(self) -> None:
        self.response.close()
        self._watchdog.close()

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def _failure(self, error: BaseException | None) -> ProviderError:
        where, status = origin(self.response.url), self.response.status_code
        if self._watchdog.aborted:
            return _cancelled(self.response.url, status)
        if self._silence is not None and (self._watchdog.expired or _timed_out(error)):
            return ProviderError(f"{where} stopped sending its answer: nothing arrived for "
                                 f"{self._silence:g} s.", kind="timeout", status_code=status)
        if self._watchdog.expired or _timed_out(error):
            return ProviderError(f"The server at {where} took longer than {self._timeout:g} s "
                                 "to send its answer.", kind="timeout", status_code=status)
        if isinstance(error, OSError):
            return _translate(error, self.response.url, None)
        return ProviderError(f"{where} broke off its answer. Try again; if it keeps "
                             "happening, check the server.", kind="unreachable",
                             status_code=status)


def open_exchange(
    method: str,
    url: str,
    *,
    session: requests.Session | None = None,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    timeout: float = DEFAULT_TIMEOUT,
    cancellation: Cancellation | None = None,
) -> Exchange:
    """Send a request and return the :class:`Exchange` with its body still unread.

    ``timeout`` bounds the whole exchange, the body included.  A session from
    :func:`new_session` holds it, and the address check, from the first byte;
    with a session of your own whose adapters are not a :class:`GuardedAdapter`,
    the address is checked by resolving the host before sending, and the
    deadline holds from the headers on (and so does ``cancellation``).

    :raises ValidationError: ``timeout`` is not a positive number of seconds.
    :raises ProviderError: the server can't be reached or is a refused address,
        timed out, failed TLS, or answered with a redirect.
    """
    _check_timeout(timeout)
    owner = session or new_session()
    guarded = _is_guarded(owner, url)
    watchdog = _Watchdog(timeout)
    if cancellation is not None:
        cancellation._attach(watchdog)
        if watchdog.aborted:  # cancelled before anything was sent
            watchdog.close()
            raise _cancelled(url, None)
    watching = _WATCHDOG.set(watchdog)
    try:
        if not guarded:
            _refuse_blocked_host(url)
        response = _transmit(owner, method, url, headers, json_body, timeout)
    except ProviderError:
        watchdog.close()
        raise
    except OSError as error:  # requests' own exceptions are OSErrors too
        watchdog.close()
        if watchdog.aborted:
            raise _cancelled(url, None) from None
        if watchdog.expired and not isinstance(error, requests.exceptions.ConnectTimeout):
            raise _no_answer(url, timeout) from None
        raise _translate(error, url, timeout) from None
    except (Urllib3Error, ValueError) as error:
        # urllib3's LocationParseError for a host it can't encode, or a
        # UnicodeEncodeError for a header http.client can't send.
        watchdog.close()
        if watchdog.aborted:
            raise _cancelled(url, None) from None
        raise _unsendable(url, error) from None
    finally:
        _WATCHDOG.reset(watching)
        if session is None:
            owner.close()
    if not guarded:
        _watch_connection(watchdog, response)
    exchange = Exchange(response, watchdog, timeout)
    if watchdog.aborted:
        exchange.close()
        raise _cancelled(url, response.status_code)
    if watchdog.expired:  # the headers were cut short, so they may have seemed to end
        exchange.close()
        raise _no_answer(url, timeout)
    if response.is_redirect:
        exchange.close()
        raise _redirected(url, response)
    return exchange


def _transmit(session: requests.Session, method: str, url: str,
              headers: Mapping[str, str] | None, json_body: Any,
              timeout: float) -> requests.Response:
    """What ``session.request(..., stream=True, allow_redirects=False)`` does, less
    its look at a redirect: even when told not to follow one, requests reads the
    redirect's whole body and parses its Location, which a server controls."""
    prepared = session.prepare_request(requests.Request(
        method, url, headers=dict(headers or {}), json=json_body))
    target = str(prepared.url)
    settings = session.merge_environment_settings(target, {}, True, None, None)
    adapter = session.get_adapter(target)
    response = adapter.send(prepared, timeout=timeout, **settings)
    hooked: requests.Response = dispatch_hook("response", prepared.hooks, response)
    return hooked


def send(
    method: str,
    url: str,
    *,
    session: requests.Session | None = None,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[requests.Response, bytes]:
    """Send a request and read its whole (bounded) body within ``timeout``:
    ``(response, body)``."""
    with open_exchange(method, url, session=session, headers=headers, json_body=json_body,
                       timeout=timeout) as exchange:
        return exchange.response, exchange.read()


def parse_json(response: requests.Response, body: bytes) -> Any:
    """Decode a JSON body, or raise ``invalid_response`` saying what came instead."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        content_type = response.headers.get("Content-Type", "").split(";")[0]
        content_type = server_text(content_type, 60)
        what = f"a {content_type} page" if content_type else "something that is not JSON"
        raise ProviderError(
            f"The server at {origin(response.url)} answered with {what}, not the JSON "
            "this API returns. Check that the base URL points at the API itself.",
            kind="invalid_response", status_code=response.status_code,
        ) from None
    except RecursionError:
        raise ProviderError(
            f"The server at {origin(response.url)} answered with JSON nested too deeply "
            "to be an API's answer. Check that the base URL points at the API itself.",
            kind="invalid_response", status_code=response.status_code) from None


# -- errors ------------------------------------------------------------------------------

def _check_timeout(timeout: float) -> None:
    if (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
            or not 0 < timeout <= 24 * 3600):
        raise ValidationError({"timeout": "The time limit must be a number of seconds "
                                          "above 0 and at most a day."})


def _no_answer(url: str, timeout: float) -> ProviderError:
    return ProviderError(f"{origin(url)} did not answer within {timeout:g} s.", kind="timeout")


def _cancelled(url: str, status: int | None) -> ProviderError:
    return ProviderError(f"The request to {origin(url)} was cancelled; its connection "
                         "was closed.", kind="cancelled", status_code=status)


def _unsendable(url: str, error: BaseException) -> ProviderError:
    return ProviderError(
        f"The request to {origin(url)} could not be sent ({error.__class__.__name__}): the "
        "address, or a value sent in a header, has characters HTTP can't carry. Check the "
        "base URL.", kind="unreachable")


def _redirected(url: str, response: requests.Response) -> ProviderError:
    target = response.headers.get("Location", "")
    try:
        where = f" to {origin(urljoin(url, target))}" if target else ""
    except ValueError:  # a Location urljoin can't parse, e.g. a malformed IPv6 host
        where = " to an invalid address"
    return ProviderError(
        f"The server at {origin(url)} redirected{where}. Credentials are never sent "
        "through a redirect: set the base URL to the final address.",
        kind="invalid_response", status_code=response.status_code)


def _timed_out(error: BaseException | None) -> bool:
    """Whether a read timeout lies in ``error`` (requests reports one in the middle
    of a body as a ConnectionError wrapping urllib3's ReadTimeoutError)."""
    return isinstance(error, requests.Timeout) or (
        error is not None and bool(error.args) and isinstance(error.args[0], ReadTimeoutError))


def _translate(error: OSError, url: str, timeout: float | None) -> ProviderError:
    where = origin(url)
    if isinstance(error, requests.exceptions.SSLError):
        return ProviderError(
            f"The TLS handshake with {where} failed (an untrusted or invalid certificate?). "
            "Check the address, or the server's certificate.", kind="tls")
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return ProviderError(
            f"{where} did not accept a connection within {timeout:g} s. Check that the "
            "server is running and reachable from here.", kind="timeout")
    if isinstance(error, requests.Timeout):
        limit = f"{timeout:g} s" if timeout else "the time limit"
        return ProviderError(f"{where} did not answer within {limit}.", kind="timeout")
    if isinstance(error, requests.ConnectionError) and name_not_resolved(error):
        return ProviderError(
            f"Can't reach the server at {where}: the host name could not be resolved (DNS). "
            "Check the base URL for typos, and this machine's network.", kind="unreachable")
    if isinstance(error, requests.ConnectionError):
        return ProviderError(
            f"Can't reach the server at {where}: the connection was refused or dropped. "
            "Check the base URL and that the server is running.", kind="unreachable")
    if isinstance(error, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                          requests.exceptions.InvalidSchema)):
        return ProviderError(f"{where} is not a valid http(s) address.", kind="unreachable")
    return ProviderError(
        f"The request to {where} failed ({error.__class__.__name__}).", kind="unreachable")


def name_not_resolved(error: BaseException | None) -> bool:
    """Whether urllib3's NameResolutionError lies somewhere inside ``error``."""
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, NameResolutionError):
            return True
        inner = getattr(seen, "reason", None) or (seen.args[0] if seen.args else None)
        seen = inner if isinstance(inner, BaseException) else None
    return False


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n} bytes"


# -- the deadline ------------------------------------------------------------------------

class _Watchdog:
    """Shuts a request's connection when its deadline passes.

    A read blocked in a socket can't be interrupted by its own thread; shutting
    the socket from another one ends it at once.  The watchdog shuts duplicates
    of the connection's socket that it owns, so it never touches a descriptor
    that was closed and reused meanwhile.  Its deadline can be moved (a stream's
    silence limit) or paused (while a stream's reader is away), and another
    thread can shut the connection at once (:meth:`abort`).
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self.aborted = False
        self._deadline: float | None = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._closed = False
        self._changed = threading.Condition()
        threading.Thread(target=self._watch, name="connections-deadline", daemon=True).start()

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` when the deadline passes (at once if it has)."""
        try:
            duplicate = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except OSError:  # already closed: nothing left to shut
            return
        with self._changed:
            if self._closed:
                duplicate.close()
                return
            self._sockets.append(duplicate)
            if self.expired or self.aborted:
                _shut(duplicate)

    def arm(self, seconds: float) -> None:
        with self._changed:
            self._deadline = time.monotonic() + seconds
            self._changed.notify()

    def pause(self) -> None:
        with self._changed:
            self._deadline = None
            self._changed.notify()

    def abort(self) -> None:
        """Shut the connection now (the exchange was cancelled)."""
        with self._changed:
            self.aborted = True
            for sock in self._sockets:
                _shut(sock)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()
            self._changed.notify()

    def _watch(self) -> None:
        with self._changed:
            while not self._closed and not self.expired:
                left = None if self._deadline is None else self._deadline - time.monotonic()
                if left is not None and left <= 0:
                    self.expired = True
                    for sock in self._sockets:
                        _shut(sock)
                else:
                    self._changed.wait(left)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # the server closed it first
        pass


# The watchdog of the request being sent on this thread, for the connection
# that carries it (urllib3 connects, sends and reads headers on the caller's thread).
_WATCHDOG: ContextVar[_Watchdog | None] = ContextVar("connections_watchdog", default=None)


def _watch_connection(watchdog: _Watchdog, response: requests.Response) -> None:
    """Watch the connection under ``response`` (for a session that isn't guarded)."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        watchdog.watch(sock)


# -- guarded connections -----------------------------------------------------------------

class _Guarded(HTTPConnection):
    """A connection that refuses a blocked peer and lets the request's watchdog shut it."""

    _watched_by: _Watchdog | None = None

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        try:
            _refuse_blocked_peer(sock, self.host)
        except BaseException:
            sock.close()
            raise
        self._watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection, used again
            self._watch(self.sock)
        super().request(*args, **kwargs)

    def _watch(self, sock: socket.socket) -> None:
        watchdog = _WATCHDOG.get()
        if watchdog is not None and watchdog is not self._watched_by:
            self._watched_by = watchdog
            watchdog.watch(sock)


class _GuardedHTTPConnection(_Guarded):
    pass


class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


_GUARDED_POOLS: dict[str, type[HTTPConnectionPool]] = {
    "http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """The transport of :func:`new_session`: each connection's peer address is
    checked against :data:`BLOCKED_NETWORKS` once connected (through a proxy,
    that is the proxy's address), and each request's deadline can shut it."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _GUARDED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, ProxyManager):  # not a SOCKS proxy
            manager.pool_classes_by_scheme = _GUARDED_POOLS
        return manager


def _is_guarded(session: requests.Session, url: str) -> bool:
    try:
        return isinstance(session.get_adapter(url), GuardedAdapter)
    except requests.RequestException:  # no adapter for this scheme: requests will say so
        return False


def _refuse_blocked_peer(sock: socket.socket, host: str) -> None:
    try:
        address = str(sock.getpeername()[0])
    except OSError:  # reset already; the request will fail on its own
        return
    if is_blocked(address) and not link_local_allowed():
        raise ProviderError(blocked_message(host, address.split("%")[0]), kind="unreachable")


def _refuse_blocked_host(url: str) -> None:
    """Resolve ``url``'s host and refuse it if any of its addresses is blocked
    (for sessions whose connections are not guarded)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname if parts.scheme in ("http", "https") else None
        infos = socket.getaddrinfo(host, None) if host else []
    except (OSError, UnicodeError, ValueError):
        return  # requests will report the bad address or the failed lookup
    for info in infos:
        address = str(info[4][0])
        if is_blocked(address) and not link_local_allowed():
            raise ProviderError(blocked_message(str(host), address.split("%")[0]),
                                kind="unreachable")
