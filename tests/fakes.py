"""A fake provider server on 127.0.0.1 for tests where streaming, timing or
concurrency matters (``responses`` covers plain request/response pairs).

One :class:`FakeServer` answers as Ollama (``/api/...``), as OpenAI and as
Anthropic (both ``GET /v1/models``: a request with an ``x-api-key`` or
``anthropic-version`` header is Anthropic's, any other OpenAI's).  Tests
configure it through its attributes and :meth:`FakeServer.respond`, and read
back what it received from :attr:`FakeServer.requests`::

    def test_lists_models(fake_server):
        fake_server.ollama_models = [ollama_model("llama3.2:1b")]
        assert [m.name for m in list_models(fake_server.url)] == ["llama3.2:1b"]

    def test_cancel_closes_the_connection(fake_server):
        fake_server.pull_endless = True
        pull = pull_model(fake_server.url, "llama3.2:1b")
        next(pull)
        pull.close()
        assert fake_server.stream_aborted.wait(5)

The fixture is :func:`fake_server`; import it into a test module (or a
``conftest.py``) to use it.  A test about how many requests arrive at once holds
them until it lets each go, rather than making the server slow::

    def test_requests_wait_until_released(fake_server):
        fake_server.hold()                        # from now on each request waits
        ...                                       # send some, from other threads
        assert fake_server.wait_for_in_flight(4)  # four are waiting at once
        fake_server.release()                     # one of them is answered

:class:`TrickleServer` is the slowest server a deadline must survive: it
sends the start of an answer, then one byte at a time, forever (its fixture
is :func:`trickle_server`)::

    def test_a_trickle_is_cut_off(trickle_server):
        server = trickle_server(trickle_body())
        with pytest.raises(ProviderError):
            http.send("GET", server.url, timeout=1)
        assert server.hung_up.wait(5)
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

API_KEY = "sk-fake-0123456789abcdefWXYZ"
_DISCONNECTED = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
_ENDLESS_LIMIT = 10.0  # seconds an endless pull runs at most, so no test can hang on it
_HOLD_LIMIT = 10.0  # seconds a held request waits at most, so no test can hang on it


def ollama_model(name: str, *, size: int = 1_321_098_329, family: str = "llama",
                 parameter_size: str = "1.2B", quantization_level: str = "Q8_0") -> dict[str, Any]:
    """One ``/api/tags`` entry, shaped as Ollama 0.5 sends it."""
    return {
        "name": name, "model": name, "modified_at": "2025-01-15T10:20:30.123456789+01:00",
        "size": size, "digest": "sha256:" + hashlib.sha256(name.encode()).hexdigest(),
        "details": {"parent_model": "", "format": "gguf", "family": family,
                    "families": [family], "parameter_size": parameter_size,
                    "quantization_level": quantization_level},
    }


def running_model(name: str, *, size: int = 2_000_000_000, size_vram: int = 1_500_000_000,
                  expires_at: str = "2025-01-15T10:25:30.5+01:00") -> dict[str, Any]:
    """One ``/api/ps`` entry."""
    entry = ollama_model(name, size=size)
    del entry["modified_at"]
    return entry | {"size_vram": size_vram, "expires_at": expires_at}


def ndjson(events: list[dict[str, Any]]) -> bytes:
    """Events as Ollama streams them: one JSON object per line."""
    return b"".join(json.dumps(event).encode() + b"\n" for event in events)


def unused_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


DEFAULT_PULL_EVENTS: list[dict[str, Any]] = [
    {"status": "pulling manifest"},
    *({"status": "pulling 74701a8c35f6", "digest": "sha256:74701a8c35f6", "total": 1000,
       "completed": done} for done in (0, 500, 1000)),
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it; header names are lower case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int = 0  # which connection it came on

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        return {key: values[-1] for key, values in parse_qs(urlsplit(self.path).query).items()}

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class _Canned:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeServer:
    """An HTTP server on a daemon thread: configure it, then point a client at :attr:`url`."""

    def __init__(self) -> None:
        # What it serves; tests change these before sending requests.
        self.api_key = API_KEY
        self.echo_key_in_errors = False  # a 401 quotes the key it was sent, to test redaction
        self.provider: str | None = None  # force "openai" or "anthropic" on /v1/models
        self.openai_keyless = False  # /v1/models answers without a key (a local server)
        self.openai_bare_list = False  # /v1/models is a bare JSON list (Together's)
        self.azure_api_versions = {"2024-10-21", "2024-06-01", "2025-04-01-preview"}
        self.openai_models = ["gpt-4o", "gpt-4o-mini", "o3-mini"]
        self.anthropic_models = ["claude-3-7-sonnet-20250219", "claude-3-5-haiku-20241022",
                                 "claude-3-opus-20240229"]
        self.anthropic_page_size = 2
        self.ollama_models = [ollama_model("llama3.2:1b"),
                              ollama_model("qwen2.5:0.5b", size=397_821_319, family="qwen2",
                                           parameter_size="494.03M", quantization_level="Q4_K_M")]
        self.running_models: list[dict[str, Any]] = []
        self.ollama_version = "0.5.7"
        self.show_extra: dict[str, dict[str, Any]] = {}  # model name -> fields to add to /api/show
        self.pull_events = list(DEFAULT_PULL_EVENTS)
        self.pull_chunks: list[bytes] | None = None  # raw body pieces, sent as they are
        self.pull_split = False  # send every line in two chunks, cut mid-JSON
        self.pull_delay = 0.0  # seconds of silence between events (or chunks)
        self.pull_endless = False  # after the events, send progress until the client leaves
        self.delay = 0.0  # seconds before answering any request
        self.keep_alive = False  # keep connections open for the next request
        # What it observed.
        self.requests: list[RecordedRequest] = []
        self.peak_in_flight = 0
        self.answered = 0  # requests whose answer was sent (or whose client left)
        self.stream_started = threading.Event()
        self.stream_aborted = threading.Event()  # a client disconnected mid-stream
        self.stream_finished = threading.Event()  # a stream was sent to its end
        self._canned: dict[tuple[str | None, str], _Canned] = {}
        self._in_flight = 0
        self._held: threading.Semaphore | None = None
        self._lock = threading.Condition()
        self._closing = threading.Event()
        self._httpd = _HTTPServer(self)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        name="fake-provider-server", daemon=True)
        self._thread.start()

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    anthropic_url = openai_url

    def respond(self, path: str, status: int = 200, body: bytes | str | Any = b"", *,
                method: str | None = None, content_type: str | None = None,
                headers: dict[str, str] | None = None, delay: float = 0.0) -> None:
        """Answer ``path`` (any method, or only ``method``) with this status and body.

        A ``str`` body is sent as text, ``bytes`` as they are, anything else as JSON.
        """
        if isinstance(body, bytes):
            raw, kind = body, "application/octet-stream"
        elif isinstance(body, str):
            raw, kind = body.encode(), "text/html; charset=utf-8"
        else:
            raw, kind = json.dumps(body).encode(), "application/json"
        self._canned[(method, path)] = _Canned(status, raw, content_type or kind,
                                               dict(headers or {}), delay)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """The requests received for ``path`` (without query), oldest first."""
        with self._lock:
            return [r for r in self.requests
                    if r.route == path and (method is None or r.method == method)]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``count`` requests have arrived; False if they did not in time."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.requests) >= count, timeout)

    def hold(self) -> None:
        """From now on, each request waits (at most 10 s) until :meth:`release` lets it go."""
        self._held = threading.Semaphore(0)

    def release(self, count: int = 1) -> None:
        """Let ``count`` held requests (or the next ones to arrive) be answered."""
        assert self._held is not None, "hold() first"
        self._held.release(count)

    @property
    def in_flight(self) -> int:
        """Requests received and not yet answered."""
        with self._lock:
            return self._in_flight

    def wait_for_in_flight(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` requests are in flight at once."""
        with self._lock:
            return self._lock.wait_for(lambda: self._in_flight >= count, timeout)

    def wait_for_answered(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``count`` requests have been answered."""
        with self._lock:
            return self._lock.wait_for(lambda: self.answered >= count, timeout)

    def close(self) -> None:
        self._closing.set()
        if self._held is not None:
            self._held.release(10_000)  # nothing waits for a server that is gone
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- serving (called on the server's threads) ------------------------------------

    def _handle(self, handler: _Handler) -> None:
        request = handler.record()
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
        with self._counted(handler):
            if self._held is not None:
                self._held.acquire(timeout=_HOLD_LIMIT)
            canned = self._canned.get((request.method, request.route)) or self._canned.get(
                (None, request.route))
            self._pause(self.delay + (canned.delay if canned else 0.0))
            if canned:
                handler.reply(canned.status, canned.body, canned.content_type, canned.headers)
            else:
                self._serve(handler, request)

    def _serve(self, handler: _Handler, request: RecordedRequest) -> None:
        """Answer a request nothing was canned for (a stand-in of another API overrides
        this alone): Ollama's and OpenAI's routes, else 404."""
        route = _ROUTES.get((request.method, request.route))
        if route is None:
            handler.reply(404, b"404 page not found", "text/plain")
            return
        route(self, handler, request)

    @contextmanager
    def _counted(self, handler: _Handler) -> Iterator[None]:
        """Count the request in flight until its answer is about to be written (or its
        handler ends): a client can only go on once it has read the answer, so the count
        has dropped before its next request can arrive."""
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            self._lock.notify_all()
        counted = True

        def answered() -> None:
            nonlocal counted
            with self._lock:
                if counted:
                    counted = False
                    self._in_flight -= 1
                    self.answered += 1
                    self._lock.notify_all()

        handler.answering = answered
        try:
            yield
        finally:
            answered()

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._closing.wait(seconds)

    # -- Ollama --------------------------------------------------------------------------

    def _tags(self, handler: _Handler, request: RecordedRequest) -> None:
        handler.reply_json(200, {"models": self.ollama_models})

    def _ps(self, handler: _Handler, request: RecordedRequest) -> None:
        handler.reply_json(200, {"models": self.running_models})

    def _version(self, handler: _Handler, request: RecordedRequest) -> None:
        handler.reply_json(200, {"version": self.ollama_version})

    def _find(self, request: RecordedRequest) -> tuple[str, dict[str, Any] | None]:
        body = request.json() or {}
        name = str(body.get("model") or body.get("name") or "")
        for model in self.ollama_models:
            if model["name"] in (name, f"{name}:latest"):
                return name, model
        return name, None

    def _show(self, handler: _Handler, request: RecordedRequest) -> None:
        name, model = self._find(request)
        if model is None:
            handler.reply_json(404, {"error": f"model '{name}' not found"})
            return
        handler.reply_json(200, {
            "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {name}\n",
            "parameters": 'stop "<|eot_id|>"', "template": "{{ .Prompt }}",
            "license": "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT", "details": model["details"],
            "model_info": {"general.architecture": model["details"]["family"],
                           "general.parameter_count": 1_235_814_432},
            "capabilities": ["completion"], "modified_at": model["modified_at"],
        } | self.show_extra.get(name, {}))

    def _delete(self, handler: _Handler, request: RecordedRequest) -> None:
        name, model = self._find(request)
        if model is None:
            handler.reply_json(404, {"error": f"model '{name}' not found"})
            return
        self.ollama_models = [m for m in self.ollama_models if m is not model]
        handler.reply(200, b"", "text/plain")

    def _pull(self, handler: _Handler, request: RecordedRequest) -> None:
        handler.start_chunked(200, "application/x-ndjson")
        self.stream_started.set()
        try:
            for index, piece in enumerate(self._pull_pieces()):
                if index:
                    handler.pause_unless_hung_up(self.pull_delay, self._closing)
                handler.write_chunk(piece)
            self._keep_streaming(handler)
            handler.end_chunked()
        except _DISCONNECTED:
            self.stream_aborted.set()
            return
        self.stream_finished.set()
        name, _ = self._find(request)
        if {"status": "success"} in self.pull_events and self.pull_chunks is None:
            self.ollama_models = [*self.ollama_models, ollama_model(name)]

    def _pull_pieces(self) -> list[bytes]:
        if self.pull_chunks is not None:
            return list(self.pull_chunks)
        lines = [ndjson([event]) for event in self.pull_events]
        if not self.pull_split:
            return lines
        return [part for line in lines for part in (line[:len(line) // 2], line[len(line) // 2:])]

    def _keep_streaming(self, handler: _Handler) -> None:
        """In endless mode, send progress until the client goes away (or a bound passes)."""
        deadline = time.monotonic() + _ENDLESS_LIMIT
        beat = ndjson([{"status": "pulling 74701a8c35f6", "digest": "sha256:74701a8c35f6",
                        "total": 1000, "completed": 500}])
        while self.pull_endless and time.monotonic() < deadline:
            if self._closing.wait(max(self.pull_delay, 0.01)):
                return
            handler.write_chunk(beat)

    # -- OpenAI and Anthropic ------------------------------------------------------------

    def _models(self, handler: _Handler, request: RecordedRequest) -> None:
        anthropic = "x-api-key" in request.headers or "anthropic-version" in request.headers
        if self.provider == "anthropic" or (self.provider is None and anthropic):
            self._anthropic_models(handler, request)
        else:
            self._openai_models(handler, request)

    def _openai_models(self, handler: _Handler, request: RecordedRequest) -> None:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ")
        if sent != self.api_key and not self.openai_keyless:
            shown = sent if self.echo_key_in_errors else f"{sent[:3]}***{sent[-4:]}"
            handler.reply_json(401, {"error": {
                "message": f"Incorrect API key provided: {shown}. You can find your API key "
                           "at https://platform.openai.com/account/api-keys.",
                "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}})
            return
        models = [{"id": model, "object": "model", "created": 1715367049, "owned_by": "system"}
                  for model in self.openai_models]
        handler.reply_json(200, models if self.openai_bare_list
                           else {"object": "list", "data": models})

    def _openrouter_key(self, handler: _Handler, request: RecordedRequest) -> None:
        """OpenRouter's ``GET /api/v1/key``: what it knows of the key sent."""
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            handler.reply_json(401, {"error": {"message": "No auth credentials found",
                                               "code": 401}})
            return
        handler.reply_json(200, {"data": {"label": "sk-or-v1-abc...xyz", "limit": None,
                                          "usage": 0.25, "is_free_tier": False}})

    def _azure_models(self, handler: _Handler, request: RecordedRequest) -> None:
        """Azure OpenAI's ``GET /openai/models?api-version=``, keyed by ``api-key``."""
        if request.headers.get("api-key") != self.api_key:
            handler.reply_json(401, {"error": {"code": "401", "message": (
                "Access denied due to invalid subscription key or wrong API endpoint. Make "
                "sure to provide a valid key for an active subscription and use a correct "
                "regional API endpoint for your resource.")}})
            return
        if request.query.get("api-version") not in self.azure_api_versions:
            handler.reply_json(404, {"error": {"code": "404", "message": "Resource not found"}})
            return
        handler.reply_json(200, {"object": "list", "data": [
            {"id": model, "object": "model", "created_at": 1715367049, "status": "succeeded",
             "capabilities": {"chat_completion": True, "completion": False,
                              "embeddings": False, "fine_tune": False, "inference": True},
             "lifecycle_status": "generally-available"} for model in self.openai_models]})

    def _anthropic_models(self, handler: _Handler, request: RecordedRequest) -> None:
        sent = request.headers.get("x-api-key", "")
        if sent != self.api_key:
            said = f"invalid x-api-key {sent}" if self.echo_key_in_errors else "invalid x-api-key"
            handler.reply_json(401, _anthropic_error("authentication_error", said))
            return
        if "anthropic-version" not in request.headers:
            handler.reply_json(400, _anthropic_error("invalid_request_error",
                                                     "anthropic-version: header is required"))
            return
        models, after = self.anthropic_models, request.query.get("after_id")
        if after is not None and after not in models:
            handler.reply_json(400, _anthropic_error("invalid_request_error",
                                                     f"after_id {after!r} not found"))
            return
        start = models.index(after) + 1 if after is not None else 0
        size = min(int(request.query.get("limit", "20")), self.anthropic_page_size)
        page = models[start:start + size]
        handler.reply_json(200, {
            "data": [{"type": "model", "id": model, "display_name": model,
                      "created_at": "2025-02-19T00:00:00Z"} for model in page],
            "has_more": start + size < len(models),
            "first_id": page[0] if page else None, "last_id": page[-1] if page else None})


def _anthropic_error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


_ROUTES = {
    ("GET", "/api/tags"): FakeServer._tags,
    ("GET", "/api/ps"): FakeServer._ps,
    ("GET", "/api/version"): FakeServer._version,
    ("POST", "/api/show"): FakeServer._show,
    ("DELETE", "/api/delete"): FakeServer._delete,
    ("POST", "/api/pull"): FakeServer._pull,
    ("GET", "/v1/models"): FakeServer._models,
    ("GET", "/v1/key"): FakeServer._openrouter_key,
    ("GET", "/openai/models"): FakeServer._azure_models,
}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections when many checks
    # start at once, and a dropped SYN costs the client a one-second retry.
    request_queue_size = 128

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (a timeout test, a cancelled pull) is expected here.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    answering: Callable[[], None] = staticmethod(lambda: None)  # set per request

    def do_GET(self) -> None:
        try:
            self.server.fake._handle(self)
        except _DISCONNECTED:
            pass
        self.close_connection = not self.server.fake.keep_alive

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def record(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        return RecordedRequest(self.command, self.path, headers, body, self.client_address[1])

    def reply(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if not self.server.fake.keep_alive:
            self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.answering()  # nothing is sent before end_headers()
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, status: int, data: Any) -> None:
        self.reply(status, json.dumps(data).encode(), "application/json; charset=utf-8")

    def start_chunked(self, status: int, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    def end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def pause_unless_hung_up(self, seconds: float, closing: threading.Event) -> None:
        """Say nothing for ``seconds``, but raise ``ConnectionResetError`` as soon as the
        client hangs up (a silent server learns of it only by looking)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not closing.is_set():
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable and not self.connection.recv(1, socket.MSG_PEEK):
                raise ConnectionResetError


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A running :class:`FakeServer`, shut down after the test."""
    server = FakeServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeServer]:
    """A :class:`FakeServer` shared by a module's tests: the one a module's app (a
    ``streamlit run`` started once per module) has its connections point at."""
    server = FakeServer()
    try:
        yield server
    finally:
        server.close()


class TrickleServer:
    """A bare TCP server on 127.0.0.1 that answers every request with ``head`` at
    once, then one ``drip`` every ``interval`` seconds until the client hangs up
    (or ``limit`` seconds pass, so that no test can hang on it).

    :attr:`hung_up` is set when a client closes its connection.
    """

    def __init__(self, head: bytes, drip: bytes, *, interval: float = 0.5,
                 limit: float = 15.0, tls: ssl.SSLContext | None = None) -> None:
        self.head, self.drip, self.interval, self.limit = head, drip, interval, limit
        self.tls = tls
        self.hung_up = threading.Event()
        self.requests = 0
        self._closing = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads = [threading.Thread(target=self._accept, name="trickle-server",
                                          daemon=True)]
        self._threads[0].start()

    def close(self) -> None:
        self._closing.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            try:
                if self.tls:
                    client.settimeout(5)
                    client = self.tls.wrap_socket(client, server_side=True)
                _read_request(client)
                self.requests += 1
                client.sendall(self.head)
                self._drip(client)
            except (*_DISCONNECTED, TimeoutError, ssl.SSLError):
                self.hung_up.set()

    def _drip(self, client: socket.socket) -> None:
        deadline = time.monotonic() + self.limit
        client.settimeout(self.interval)
        while not self._closing.is_set() and time.monotonic() < deadline:
            try:
                if client.recv(1) == b"":  # the client hung up
                    self.hung_up.set()
                    return
            except TimeoutError:  # the pause between two drips: the client is still there
                client.sendall(self.drip)


def _read_request(client: socket.socket) -> None:
    """Read one request's head and body, so that the answer follows a whole request."""
    client.settimeout(5)
    received = b""
    while b"\r\n\r\n" not in received:
        piece = client.recv(4096)
        if not piece:
            raise ConnectionResetError
        received += piece
    head, _, body = received.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        piece = client.recv(4096)
        if not piece:
            raise ConnectionResetError
        body += piece


def trickle_body(content_type: str = "application/json") -> tuple[bytes, bytes]:
    """Headers at once, then a JSON body of a megabyte, one space at a time."""
    return (b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type.encode()
            + b"\r\nContent-Length: 1000000\r\n\r\n{", b" ")


def trickle_headers() -> tuple[bytes, bytes]:
    """A status line at once, then a header that never ends, one byte at a time."""
    return b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a"


def trickle_progress() -> tuple[bytes, bytes]:
    """A pull's first progress line, then a second one that never ends, one space
    at a time (each space a chunk of its own)."""
    first = ndjson([{"status": "pulling manifest"}])
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            + f"{len(first):x}\r\n".encode() + first + b"\r\n"
            + b'10\r\n{"status": "pull\r\n', b"1\r\n \r\n")


def self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A TLS server context whose certificate is for 127.0.0.1, and that
    certificate's file, for a client to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


@pytest.fixture
def trickle_server() -> Iterator[Callable[..., TrickleServer]]:
    """Start :class:`TrickleServer` s: ``trickle_server(trickle_body())``, or
    ``trickle_server(trickle_body(), tls=context)``; all are shut down after the test."""
    servers: list[TrickleServer] = []

    def start(answer: tuple[bytes, bytes], tls: ssl.SSLContext | None = None) -> TrickleServer:
        servers.append(TrickleServer(*answer, tls=tls))
        return servers[-1]

    try:
        yield start
    finally:
        for server in servers:
            server.close()
