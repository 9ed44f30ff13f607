"""What the demo's stand-ins answer: enough of the OpenAI, Anthropic and Ollama APIs
for everything the product sends, and what the official clients read.

Each API is one request handler (:class:`OpenAIHandler`, :class:`AnthropicHandler`,
:class:`OllamaHandler`) on a :class:`StandInServer` of its own, which holds the key it
accepts; :mod:`connections_core.standins` runs them.  An Ollama stand-in's models are
an :class:`OllamaShelf`: a pull puts one there after streaming its progress for
about :data:`PULL_SECONDS`, a delete takes one away, a reset puts back the
starting ones.

A wrong or missing key is answered as the real provider answers it (the status,
and the body in its words), but no answer ever quotes the key it was sent.  Every
connection carries one request and is closed after it, so no thread waits on an
idle client.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import select
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["ANTHROPIC_MODELS", "OLLAMA_LIBRARY", "OPENAI_MODELS", "PULL_SECONDS",
           "AnthropicHandler", "OllamaHandler", "OllamaShelf", "OpenAIHandler", "StandInServer"]

log = logging.getLogger(__name__)

#: Seconds a pull's progress takes to reach 100% (then it is verified and written).
PULL_SECONDS = 3.0
_BODY_LIMIT = 1024 * 1024
_LOOK_EVERY = 0.1  # seconds between two looks at whether the stand-ins are stopping
_HUNG_UP = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
_OPENAI_KEYS_PAGE = "https://platform.openai.com/account/api-keys"

#: ``(id, created)`` of the OpenAI stand-in's models.
OPENAI_MODELS = (("gpt-4.1", 1744316542), ("gpt-4.1-mini", 1744318173),
                 ("gpt-4o", 1715367049), ("gpt-4o-mini", 1721172741),
                 ("o3-mini", 1737146383), ("text-embedding-3-small", 1705948997))
#: ``(id, display name, created_at)`` of the Anthropic stand-in's models, newest first.
ANTHROPIC_MODELS = (
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-opus-4-20250514", "Claude Opus 4", "2025-05-22T00:00:00Z"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-22T00:00:00Z"),
    ("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "2025-02-24T00:00:00Z"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
)


class StandInServer(ThreadingHTTPServer):
    """One stand-in's listening socket on 127.0.0.1 (a free port), and what it serves.

    :param handler: the API it speaks.
    :param key: the one API key it accepts ("" for Ollama, which takes none).
    :param stopping: set when the stand-ins stop: streams under way end.
    :param shelf: the Ollama stand-in's models.
    """

    daemon_threads = True
    # The default backlog of 5 drops connections when a Test all starts many checks
    # at once, and a dropped SYN costs the client a second.
    request_queue_size = 128

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, key: str = "",
                 stopping: threading.Event, shelf: OllamaShelf | None = None) -> None:
        self.key, self.stopping, self.shelf = key, stopping, shelf
        super().__init__(("127.0.0.1", 0), handler)

    def server_bind(self) -> None:
        # HTTPServer's own asks DNS for this address's name: nothing here leaves the machine.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer (a cancelled pull) is no error; anything
        else is logged, without the request (its headers hold keys)."""
        if not isinstance(sys.exc_info()[1], _HUNG_UP):
            log.exception("A demo stand-in failed to answer a request")


class _Handler(BaseHTTPRequestHandler):
    """One request to a stand-in: read, answered by :meth:`answer`, then the
    connection is closed."""

    protocol_version = "HTTP/1.1"
    server_version = "stand-in"
    sys_version = ""
    server: StandInServer
    body = b""

    def do_GET(self) -> None:
        self.close_connection = True
        try:
            self.body = self._read_body()
            self.answer(urlsplit(self.path).path)
        except _HUNG_UP:
            pass

    do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_GET

    def answer(self, route: str) -> None:
        raise NotImplementedError

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing is logged: a request line is no one's business, and headers hold keys."""

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def sent_key(self, header: str) -> str:
        return self.headers.get(header, "").strip()

    def holds_key(self, sent: str) -> bool:
        return hmac.compare_digest(sent.encode("utf-8", "replace"),
                                   self.server.key.encode())

    def reply(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self.reply(status, json.dumps(data).encode(), "application/json", headers)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length", "0").strip()
        size = int(length) if length.isdigit() else 0
        return self.rfile.read(min(size, _BODY_LIMIT)) if size else b""


# -- OpenAI -----------------------------------------------------------------------------

class OpenAIHandler(_Handler):
    """``GET /v1/models`` and ``GET /v1/models/{id}``, with Bearer auth."""

    ORGANIZATION: ClassVar[str] = "org-demo"

    def answer(self, route: str) -> None:
        if self.command != "GET" or not route.startswith("/v1/models"):
            self._error(404, f"Invalid URL ({self.command} {route})", None)
            return
        if not self._authorized():
            return
        models = [{"id": id, "object": "model", "created": created, "owned_by": "system"}
                  for id, created in OPENAI_MODELS]
        if route in ("/v1/models", "/v1/models/"):
            self.reply_json(200, {"object": "list", "data": models}, self._request_id())
            return
        wanted = unquote(route.removeprefix("/v1/models/"))
        found = next((m for m in models if m["id"] == wanted), None)
        if found is None:
            self._error(404, f"The model '{wanted}' does not exist or you do not have "
                             "access to it.", "model_not_found")
        else:
            self.reply_json(200, found, self._request_id())

    def _authorized(self) -> bool:
        sent = self.sent_key("Authorization")
        if not sent.startswith("Bearer ") or not sent.removeprefix("Bearer ").strip():
            self._error(401, "You didn't provide an API key. You need to provide your API key "
                             "in an Authorization header using Bearer auth (i.e. "
                             "Authorization: Bearer YOUR_KEY), or as the password field (i.e. "
                             "Bearer YOUR_KEY). You can obtain an API key from "
                             f"{_OPENAI_KEYS_PAGE}.", None)
            return False
        if not self.holds_key(sent.removeprefix("Bearer ").strip()):
            # OpenAI quotes the key's ends here; a stand-in quotes nothing of it.
            self._error(401, "Incorrect API key provided. You can find your API key at "
                             f"{_OPENAI_KEYS_PAGE}.", "invalid_api_key")
            return False
        organization = self.sent_key("OpenAI-Organization")
        if organization and organization != self.ORGANIZATION:
            self._error(401, "OpenAI-Organization header should match organization for API "
                             "key", "mismatched_organization")
            return False
        return True

    def _error(self, status: int, message: str, code: str | None) -> None:
        self.reply_json(status, {"error": {"message": message, "type": "invalid_request_error",
                                           "param": None, "code": code}}, self._request_id())

    def _request_id(self) -> dict[str, str]:
        return {"x-request-id": f"req_{secrets.token_hex(16)}"}


# -- Anthropic ----------------------------------------------------------------------------

class AnthropicHandler(_Handler):
    """``GET /v1/models`` (paged by ``limit``, ``after_id`` and ``before_id``) and
    ``GET /v1/models/{id}``, with ``anthropic-version`` and the key in ``x-api-key``
    (as the product sends it) or as a Bearer token (as Anthropic's own client does)."""

    def answer(self, route: str) -> None:
        if self.command != "GET" or not route.startswith("/v1/models"):
            self._error(404, "not_found_error", "Not found")
            return
        sent = self.sent_key("x-api-key")
        bearer = self.sent_key("Authorization").removeprefix("Bearer ").strip()
        if not sent and not bearer:
            self._error(401, "authentication_error", "x-api-key header is required")
        elif not self.holds_key(sent or bearer):
            self._error(401, "authentication_error",
                        "invalid x-api-key" if sent else "Invalid bearer token")
        elif not self.sent_key("anthropic-version"):
            self._error(400, "invalid_request_error", "anthropic-version: header is required")
        elif route in ("/v1/models", "/v1/models/"):
            self._page()
        else:
            wanted = unquote(route.removeprefix("/v1/models/"))
            found = [m for m in _anthropic_models() if m["id"] == wanted]
            if found:
                self.reply_json(200, found[0], self._request_id())
            else:
                self._error(404, "not_found_error", f"model: {wanted}")

    def _page(self) -> None:
        models = _anthropic_models()
        ids = [m["id"] for m in models]
        limit = self.query.get("limit", "20")
        after, before = self.query.get("after_id"), self.query.get("before_id")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            self._error(400, "invalid_request_error", "limit: Input should be a whole number "
                                                      "from 1 to 1000")
            return
        for given in (after, before):
            if given is not None and given not in ids:
                self._error(400, "invalid_request_error", f"Model {given} not found")
                return
        size = int(limit)
        if before is not None:
            end = ids.index(before)
            start = max(0, end - size)
            has_more = start > 0
        else:
            start = ids.index(after) + 1 if after is not None else 0
            end = start + size
            has_more = end < len(ids)
        page = models[start:end]
        self.reply_json(200, {"data": page, "has_more": has_more,
                              "first_id": page[0]["id"] if page else None,
                              "last_id": page[-1]["id"] if page else None},
                        self._request_id())

    def _error(self, status: int, kind: str, message: str) -> None:
        request_id = self._request_id()
        self.reply_json(status, {"type": "error", "error": {"type": kind, "message": message},
                                 "request_id": request_id["request-id"]}, request_id)

    def _request_id(self) -> dict[str, str]:
        return {"request-id": f"req_{secrets.token_hex(12)}"}


def _anthropic_models() -> list[dict[str, str]]:
    return [{"type": "model", "id": id, "display_name": name, "created_at": created}
            for id, name, created in ANTHROPIC_MODELS]


# -- Ollama -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LibraryModel:
    """A model the Ollama stand-in can hold: what its tags, show and ps say of it."""

    name: str
    family: str
    parameter_size: str
    quantization_level: str
    size: int
    parameter_count: int
    context_length: int
    capabilities: tuple[str, ...] = ("completion",)
    license: str = ""

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        return {"parent_model": "", "format": "gguf", "family": self.family,
                "families": [self.family], "parameter_size": self.parameter_size,
                "quantization_level": self.quantization_level}


#: What the Ollama stand-in can pull, by full name (``name:tag``).
OLLAMA_LIBRARY = {model.name: model for model in (
    LibraryModel("llama3.2:1b", "llama", "1.2B", "Q8_0", 1_321_098_329, 1_235_814_432,
                 131_072, ("completion", "tools"), "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT"),
    LibraryModel("qwen2.5:0.5b", "qwen2", "494.03M", "Q4_K_M", 397_821_319, 494_032_768,
                 32_768, ("completion", "tools"), "Apache License Version 2.0"),
    LibraryModel("nomic-embed-text:latest", "nomic-bert", "137M", "F16", 274_302_450,
                 136_727_040, 2_048, ("embedding",), "Apache License Version 2.0"),
    LibraryModel("gemma3:1b", "gemma3", "999.89M", "Q4_K_M", 815_319_791, 999_885_952,
                 32_768, ("completion",), "Gemma Terms of Use"),
    LibraryModel("smollm2:135m", "llama", "134.52M", "F16", 270_898_672, 134_515_008,
                 8_192, ("completion", "tools"), "Apache License Version 2.0"),
)}
#: What the Ollama stand-in holds at the start, with when each was pulled.
OLLAMA_STARTING = {"llama3.2:1b": "2025-06-02T09:14:07.412093+02:00",
                   "qwen2.5:0.5b": "2025-05-28T16:40:52.908124+02:00",
                   "nomic-embed-text:latest": "2025-05-12T11:03:29.150477+02:00"}
#: The models loaded in memory (when present).
OLLAMA_LOADED = ("llama3.2:1b",)
OLLAMA_VERSION = "0.9.6"


def full_name(name: str) -> str:
    """``name`` with its tag: Ollama reads ``gemma3`` as ``gemma3:latest``."""
    return name if ":" in name else f"{name}:latest"


class OllamaShelf:
    """The models an Ollama stand-in holds, safe to share between its request threads.

    :param pull_seconds: how long a pull's progress takes to reach 100%.
    """

    def __init__(self, pull_seconds: float = PULL_SECONDS) -> None:
        self.pull_seconds = pull_seconds
        self._lock = threading.Condition()
        self._pulling = 0
        self._generation = 0
        self._models: dict[str, str] = {}
        self.reset()

    def reset(self) -> None:
        """Hold the starting models again; a pull under way no longer adds its model."""
        with self._lock:
            self._models = dict(OLLAMA_STARTING)
            self._generation += 1

    def names(self) -> list[str]:
        """The models held, most recently pulled first (as Ollama lists them)."""
        with self._lock:
            return sorted(self._models, key=lambda n: datetime.fromisoformat(self._models[n]),
                          reverse=True)

    def modified_at(self, name: str) -> str | None:
        with self._lock:
            return self._models.get(full_name(name))

    def delete(self, name: str) -> bool:
        with self._lock:
            return self._models.pop(full_name(name), None) is not None

    @property
    def pulls_under_way(self) -> int:
        """How many pulls are streaming right now."""
        with self._lock:
            return self._pulling

    def wait_for_pulls(self, timeout: float) -> bool:
        """Wait until no pull is streaming; False if one still is after ``timeout`` s."""
        with self._lock:
            return self._lock.wait_for(lambda: self._pulling == 0, timeout)

    @contextmanager
    def pulling(self) -> Iterator[int]:
        """Count a pull while it streams; the block gets the shelf's generation, which
        :meth:`pulled` needs to put the model there."""
        with self._lock:
            self._pulling += 1
            generation = self._generation
        try:
            yield generation
        finally:
            with self._lock:
                self._pulling -= 1
                self._lock.notify_all()

    def pulled(self, name: str, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._models[full_name(name)] = datetime.now(UTC).astimezone().isoformat()


class OllamaHandler(_Handler):
    """``/``, ``/api/version``, ``/api/tags``, ``/api/ps``, ``/api/show``,
    ``DELETE /api/delete`` and ``POST /api/pull``, as Ollama answers them."""

    def answer(self, route: str) -> None:
        action = _OLLAMA_ROUTES.get((self.command, route))
        if action is not None:
            action(self)
        elif route in {path for _, path in _OLLAMA_ROUTES}:
            self.reply(405, b"405 method not allowed", "text/plain")
        else:
            self.reply(404, b"404 page not found", "text/plain")

    @property
    def shelf(self) -> OllamaShelf:
        assert self.server.shelf is not None
        return self.server.shelf

    def _running(self) -> None:
        self.reply(200, b"Ollama is running", "text/plain; charset=utf-8")

    def _version(self) -> None:
        self.reply_json(200, {"version": OLLAMA_VERSION})

    def _tags(self) -> None:
        self.reply_json(200, {"models": [self._entry(name) for name in self.shelf.names()]})

    def _ps(self) -> None:
        expires = (datetime.now(UTC) + timedelta(minutes=4)).astimezone().isoformat()
        loaded = [n for n in OLLAMA_LOADED if n in self.shelf.names()]
        entries = [self._entry(name) for name in loaded]
        for entry in entries:
            del entry["modified_at"]
            entry.update(expires_at=expires, size_vram=entry["size"],
                         context_length=4096)
        self.reply_json(200, {"models": entries})

    def _show(self) -> None:
        name = self._model_named()
        if name is None:
            return
        model = OLLAMA_LIBRARY[name]
        self.reply_json(200, {
            "license": model.license,
            "modelfile": f"# Modelfile generated by \"ollama show\"\n# To build a new Modelfile "
                         f"based on this, replace FROM with:\n# FROM {name}\n\nFROM "
                         f"/root/.ollama/models/blobs/sha256-{model.digest}\n",
            "parameters": 'stop                           "<|end|>"',
            "template": "{{ if .System }}{{ .System }}\n{{ end }}{{ .Prompt }}",
            "details": model.details(),
            "model_info": {"general.architecture": model.family,
                           "general.parameter_count": model.parameter_count,
                           f"{model.family}.context_length": model.context_length},
            "capabilities": list(model.capabilities),
            "modified_at": self.shelf.modified_at(name),
        })

    def _delete(self) -> None:
        name = self._model_named()
        if name is not None:
            self.shelf.delete(name)
            self.reply(200, b"", "text/plain")

    def _pull(self) -> None:
        request = self._json()
        if request is None:
            return
        name = full_name(str(request.get("model") or request.get("name") or ""))
        streaming = request.get("stream", True) is not False
        steps = _pull_steps(name)
        with self.shelf.pulling() as generation:
            def done() -> None:  # as Ollama: the model is listed before "success" is sent
                if steps[-1] == {"status": "success"}:
                    self.shelf.pulled(name, generation)

            if streaming:
                self._stream(steps, done)
            else:
                self._pace(steps, done)

    def _stream(self, steps: list[dict[str, Any]], done: Callable[[], None]) -> None:
        """Send the steps as NDJSON, ``pull_seconds`` in all, stopping as soon as the
        client hangs up (or the stand-ins stop); ``done`` is called before the last."""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        for index, step in enumerate(steps):
            if index:
                self._wait(self.shelf.pull_seconds / len(steps))
            if index == len(steps) - 1:
                done()
            line = json.dumps(step).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _pace(self, steps: list[dict[str, Any]], done: Callable[[], None]) -> None:
        """``"stream": false``: the same pull, answered once it is over."""
        for _ in steps[1:]:
            self._wait(self.shelf.pull_seconds / len(steps))
        done()
        last = steps[-1]
        self.reply_json(500 if "error" in last else 200, last)

    def _wait(self, seconds: float) -> None:
        """Say nothing for ``seconds``, but raise ``ConnectionResetError`` as soon as the
        client hangs up or the stand-ins stop (a silent server learns of a hang-up
        only by looking)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.server.stopping.is_set():
                raise ConnectionResetError
            readable, _, _ = select.select([self.connection], [], [], min(left, _LOOK_EVERY))
            if readable and not self.connection.recv(1, socket.MSG_PEEK):
                raise ConnectionResetError
            if readable:  # the client sent more than its request: no hang-up, no clock
                self.server.stopping.wait(min(left, _LOOK_EVERY))

    def _entry(self, name: str) -> dict[str, Any]:
        model = OLLAMA_LIBRARY[name]
        return {"name": name, "model": name, "modified_at": self.shelf.modified_at(name),
                "size": model.size, "digest": model.digest, "details": model.details()}

    def _json(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.reply_json(400, {"error": "invalid request body"})
            return None
        return data

    def _model_named(self) -> str | None:
        """The model the request names, if held; else the error is answered."""
        request = self._json()
        if request is None:
            return None
        given = str(request.get("model") or request.get("name") or "")
        if not given:
            self.reply_json(400, {"error": "model is required"})
            return None
        if self.shelf.modified_at(given) is None:
            self.reply_json(404, {"error": f"model '{given}' not found"})
            return None
        return full_name(given)


def _pull_steps(name: str) -> list[dict[str, Any]]:
    """A pull's progress lines, as Ollama sends them: the manifest, each layer
    growing to its size, the check and "success" (or the error for a name the
    library doesn't know)."""
    model = OLLAMA_LIBRARY.get(name)
    if model is None:
        return [{"status": "pulling manifest"},
                {"error": "pull model manifest: file does not exist"}]
    layers = [(model.digest, model.size, 24)] + [
        (hashlib.sha256(f"{name}/{part}".encode()).hexdigest(), size, 1)
        for part, size in (("license", 12_320), ("template", 1_429), ("params", 96))]
    steps: list[dict[str, Any]] = [{"status": "pulling manifest"}]
    for digest, total, count in layers:
        steps += [{"status": f"pulling {digest[:12]}", "digest": f"sha256:{digest}",
                   "total": total, "completed": total * done // count}
                  for done in range(0 if count > 1 else 1, count + 1)]
    return [*steps, {"status": "verifying sha256 digest"}, {"status": "writing manifest"},
            {"status": "success"}]


_OLLAMA_ROUTES: dict[tuple[str, str], Callable[[OllamaHandler], None]] = {
    ("GET", "/"): OllamaHandler._running,
    ("HEAD", "/"): OllamaHandler._running,
    ("GET", "/api/version"): OllamaHandler._version,
    ("GET", "/api/tags"): OllamaHandler._tags,
    ("GET", "/api/ps"): OllamaHandler._ps,
    ("POST", "/api/show"): OllamaHandler._show,
    ("DELETE", "/api/delete"): OllamaHandler._delete,
    ("POST", "/api/pull"): OllamaHandler._pull,
}
