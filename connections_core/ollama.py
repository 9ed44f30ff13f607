"""Ollama model management: list, pull, inspect and delete the models on a server.

Every function takes the server's base URL (``http://localhost:11434``), a
``timeout`` in seconds and optionally a ``requests.Session``; all HTTP goes
through :mod:`connections_core.http`.  Answers are parsed into frozen
dataclasses, and anything that is not what Ollama sends raises
:class:`~connections_core.errors.OllamaError` with ``kind="invalid_response"``::

    >>> for model in list_models("http://localhost:11434"):
    ...     print(model.name, format_bytes(model.size))
    llama3.2:1b 1.2 GB
    >>> for step in pull_model("http://localhost:11434", "llama3.2:1b"):
    ...     print(step.status, step.fraction)
    pulling manifest None
    pulling 74701a8c35f6 0.5
    success None

Stopping the iteration of :func:`pull_model` (``break``, or ``close()``) closes
the connection, which is how a pull is cancelled; another thread cancels it
with :meth:`Pull.cancel`, at once, even while the server is silent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import requests

from . import http
from .addresses import url_problem
from .errors import ConnectionsError, NotFoundError, OllamaError, ProviderError, ValidationError
from .http import DEFAULT_TIMEOUT
from .text import server_text, well_formed

__all__ = [
    "ModelDetails", "ModelInfo", "OllamaModel", "Pull", "PullProgress", "RunningModel",
    "checked_name", "delete_model", "format_bytes", "list_models", "list_running", "pull_model",
    "show_model", "version",
]

MAX_LINE_BYTES = 1024 * 1024
MAX_NAME_LENGTH = 500
_MESSAGE_LIMIT = 300
_SHORT_TEXT = 200  # a digest, a family, a status: what is shown on one line
_UNITS = ("KB", "MB", "GB", "TB", "PB")

T = TypeVar("T")


@dataclass(frozen=True)
class ModelDetails:
    """What a model is built from, as Ollama describes it."""

    family: str = ""
    families: tuple[str, ...] = ()
    parameter_size: str = ""
    quantization_level: str = ""
    format: str = ""
    parent_model: str = ""


@dataclass(frozen=True)
class OllamaModel:
    """A model pulled on the server (one entry of ``/api/tags``)."""

    name: str
    model: str
    modified_at: datetime | None
    size: int
    digest: str
    details: ModelDetails


@dataclass(frozen=True)
class RunningModel:
    """A model loaded in memory (one entry of ``/api/ps``)."""

    name: str
    model: str
    size: int
    size_vram: int
    digest: str
    details: ModelDetails
    expires_at: datetime | None


@dataclass(frozen=True)
class ModelInfo:
    """What ``/api/show`` says about one model."""

    name: str
    details: ModelDetails
    parameters: str = ""
    template: str = ""
    license: str = ""
    modelfile: str = ""
    capabilities: tuple[str, ...] = ()
    model_info: Mapping[str, Any] = field(default_factory=dict, hash=False)
    modified_at: datetime | None = None


@dataclass(frozen=True)
class PullProgress:
    """One line of a pull's progress; ``total`` and ``completed`` are bytes."""

    status: str
    digest: str = ""
    total: int | None = None
    completed: int | None = None

    @property
    def fraction(self) -> float | None:
        """How much of the current layer has arrived, 0.0 to 1.0, if known."""
        if not self.total or self.completed is None:
            return None
        return min(max(self.completed / self.total, 0.0), 1.0)


class Pull:
    """A pull under way: iterate it for its :class:`PullProgress`.

    It ends after the ``success`` line, or raises what went wrong.  The thread
    that iterates stops it with :meth:`close` (or by leaving the loop); any
    other thread with :meth:`cancel`.  Either closes the connection, which
    makes Ollama stop the pull.
    """

    def __init__(self, steps: Iterator[PullProgress], cancel: Callable[[], None]) -> None:
        self._steps = steps
        self._cancel = cancel

    def __iter__(self) -> Pull:
        return self

    def __next__(self) -> PullProgress:
        return next(self._steps)

    def close(self) -> None:
        """Stop iterating (in the thread that iterates): the connection is closed."""
        close = getattr(self._steps, "close", None)
        if close is not None:
            close()

    def cancel(self) -> None:
        """Close the connection now, from any thread, even while the server is silent
        or the request is still being sent; returns once it is closed.  The
        iteration then raises :class:`OllamaError` with ``kind="cancelled"``."""
        self._cancel()


class _ShapeError(Exception):
    """The JSON is not shaped as Ollama's; the message says which part."""


# -- public operations -------------------------------------------------------------

def list_models(base_url: str, *, timeout: float = DEFAULT_TIMEOUT,
                session: requests.Session | None = None) -> list[OllamaModel]:
    """The models pulled on the server (``GET /api/tags``).

    :raises ProviderError: the server can't be reached or timed out.
    :raises OllamaError: the server answered with an error or not like Ollama.
    """
    return _fetch("GET", base_url, "/api/tags", _parse_tags, timeout=timeout, session=session)


def pull_model(base_url: str, name: str, *, timeout: float = DEFAULT_TIMEOUT,
               session: requests.Session | None = None) -> Pull:
    """Pull ``name`` onto the server; the :class:`Pull` yields its progress as it arrives.

    The request is sent when iteration starts; the iteration ends after the
    ``success`` line.  Closing the iterator early, or :meth:`Pull.cancel` from
    another thread, closes the connection, which makes Ollama cancel the
    pull.  ``timeout`` bounds the wait for each progress line, not the whole
    pull: Ollama is silent while it verifies a downloaded layer, so pass a
    larger one for big models.

    :raises ValidationError: ``name`` is not a model name (raised at once).
    :raises NotFoundError: the server answered 404 for this model.
    :raises OllamaError: the server reported an error, e.g. an unknown model,
        or the pull was cancelled (``kind="cancelled"``).
    :raises ProviderError: the server can't be reached or went silent.
    """
    clean = checked_name(name)
    url = _url(base_url, "/api/pull")
    cancellation = http.Cancellation()
    return Pull(_pull_stream(url, clean, timeout=timeout, session=session,
                             cancellation=cancellation), cancellation.cancel)


def delete_model(base_url: str, name: str, *, timeout: float = DEFAULT_TIMEOUT,
                 session: requests.Session | None = None) -> None:
    """Delete ``name`` from the server (``DELETE /api/delete``).

    :raises ValidationError: ``name`` is not a model name.
    :raises NotFoundError: the model is not on the server.
    :raises OllamaError: the server refused or failed.
    """
    clean = checked_name(name)
    _send("DELETE", base_url, "/api/delete", body={"model": clean}, name=clean,
          timeout=timeout, session=session)


def show_model(base_url: str, name: str, *, timeout: float = DEFAULT_TIMEOUT,
               session: requests.Session | None = None) -> ModelInfo:
    """Details, parameters, template and license of ``name`` (``POST /api/show``).

    :raises ValidationError: ``name`` is not a model name.
    :raises NotFoundError: the model is not on the server.
    :raises OllamaError: the server refused, failed or did not answer like Ollama.
    """
    clean = checked_name(name)
    return _fetch("POST", base_url, "/api/show", lambda data: _parse_show(clean, data),
                  body={"model": clean}, name=clean, timeout=timeout, session=session)


def list_running(base_url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 session: requests.Session | None = None) -> list[RunningModel]:
    """The models loaded in memory right now (``GET /api/ps``).

    :raises OllamaError: the server answered with an error or not like Ollama.
    """
    return _fetch("GET", base_url, "/api/ps", _parse_ps, timeout=timeout, session=session)


def version(base_url: str, *, timeout: float = DEFAULT_TIMEOUT,
            session: requests.Session | None = None) -> str:
    """The server's Ollama version, e.g. ``"0.5.7"`` (``GET /api/version``).

    :raises OllamaError: the server answered with an error or not like Ollama.
    """
    return _fetch("GET", base_url, "/api/version",
                  lambda data: _text(data, "version", "", _SHORT_TEXT),
                  timeout=timeout, session=session)


def format_bytes(n: int | None) -> str:
    """A size as Ollama's CLI shows it, in 1000-based units: ``"4.1 GB"``.

    ``None`` or a negative number (no size known) gives ``"unknown"``.
    """
    if n is None or n < 0:
        return "unknown"
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1000
        text = f"{value:.0f}" if value >= 100 else f"{value:.1f}".removesuffix(".0")
        # 999.96 KB rounds to "1000": show it as "1 MB" instead.
        if float(text) < 1000 or unit == _UNITS[-1]:
            break
    return f"{text} {unit}"


# -- requests and errors -------------------------------------------------------------

def _url(base_url: str, path: str) -> str:
    """``path`` on the server, once the base URL passed the same rules as a
    connection's (a stored one may predate them)."""
    if not isinstance(base_url, str) or not base_url.strip().startswith(("http://", "https://")):
        raise ValidationError({"baseUrl": "The Ollama base URL must start with http:// or "
                                          "https://, e.g. http://localhost:11434."})
    base = base_url.strip().rstrip("/")
    problem = url_problem(base)
    if problem:
        raise ValidationError({"baseUrl": f"The Ollama base URL {problem}."})
    return base + path


def checked_name(name: str) -> str:
    """The name without surrounding spaces, or a ValidationError saying what is wrong."""
    if not isinstance(name, str) or not name.strip():
        problem = "Enter a model name, e.g. llama3.2 or llama3.2:1b."
    elif any(ch.isspace() or not ch.isprintable() for ch in name.strip()):
        problem = "A model name can't contain spaces or control characters (e.g. llama3.2:1b)."
    elif len(name.strip()) > MAX_NAME_LENGTH:
        problem = f"A model name is at most {MAX_NAME_LENGTH} characters."
    else:
        return name.strip()
    raise ValidationError({"name": problem})


def _send(method: str, base_url: str, path: str, *, timeout: float,
          session: requests.Session | None, body: Any = None,
          name: str | None = None) -> tuple[requests.Response, bytes]:
    """Send a request and read its body; an error status raises what it means."""
    response, raw = http.send(method, _url(base_url, path), session=session,
                              json_body=body, timeout=timeout)
    if not 200 <= response.status_code < 300:
        raise _status_error(response, raw, name)
    return response, raw


def _fetch(method: str, base_url: str, path: str, parse: Callable[[dict[str, Any]], T], *,
           timeout: float, session: requests.Session | None, body: Any = None,
           name: str | None = None) -> T:
    """:func:`_send`, then decode the JSON object and ``parse`` it."""
    response, raw = _send(method, base_url, path, body=body, name=name,
                          timeout=timeout, session=session)
    try:
        data = http.parse_json(response, raw)
        if not isinstance(data, dict):
            raise _ShapeError("it is not a JSON object")
        return parse(data)
    except ProviderError as error:
        raise OllamaError(str(error), kind=error.kind, status_code=error.status_code) from None
    except _ShapeError as error:
        raise _shape_error(response.url, path, str(error), response.status_code) from None
    except RecursionError:
        raise _shape_error(response.url, path, "it is nested too deeply",
                           response.status_code) from None


def _shape_error(url: str, path: str, detail: str, status: int | None) -> OllamaError:
    return OllamaError(
        f"The server at {http.origin(url)} answered {path} with JSON that is not what "
        f"Ollama sends ({detail}). Check that the base URL points at an Ollama server, "
        "e.g. http://localhost:11434.", kind="invalid_response", status_code=status)


_STATUS_KINDS = {401: "auth", 403: "forbidden", 404: "not_found", 429: "rate_limited"}


def _status_error(response: requests.Response, raw: bytes, name: str | None, *,
                  pulling: bool = False) -> ConnectionsError:
    """The error an Ollama error status means; Ollama's own text is quoted."""
    status, where = response.status_code, http.origin(response.url)
    said = _server_message(raw)
    # Ollama says why in JSON; a 404 without it comes from something else at that address.
    if status == 404 and name and said:
        message = (f'The Ollama server at {where} could not find "{name}" to pull. Check the '
                   "name and tag at https://ollama.com/library." if pulling else
                   f'The model "{name}" is not on the Ollama server at {where}. Check the '
                   "name and tag, or pull the model first.")
        return NotFoundError(message, record_id=name)
    if status == 404:
        return OllamaError(f"{where} answered 404 Not Found: the base URL does not look like an "
                           "Ollama server (it is usually http://localhost:11434).",
                           kind="not_found", status_code=status)
    quoted = f' Ollama said: "{said}".' if said else ""
    if status >= 500:
        return OllamaError(f"The Ollama server at {where} failed ({status}).{quoted} Check the "
                           "server's log, then try again.",
                           kind="server_error", status_code=status)
    return OllamaError(f"The Ollama server at {where} refused the request ({status}).{quoted}",
                       kind=_STATUS_KINDS.get(status, "invalid_response"), status_code=status)


def _server_message(raw: bytes) -> str:
    """The ``error`` text of an Ollama error body, made safe to show; "" if none."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    return server_text(error, _MESSAGE_LIMIT) if isinstance(error, str) else ""


# -- the pull stream ---------------------------------------------------------------------

def _pull_stream(url: str, name: str, *, timeout: float, session: requests.Session | None,
                 cancellation: http.Cancellation) -> Generator[PullProgress, None, None]:
    try:
        exchange = http.open_exchange("POST", url, session=session, json_body={"model": name},
                                      timeout=timeout, cancellation=cancellation)
    except ProviderError as error:
        if error.kind == "cancelled":
            raise _pull_cancelled(url, name) from None
        raise
    with exchange:
        response = exchange.response
        if not 200 <= response.status_code < 300:
            raise _status_error(response, exchange.read(), name, pulling=True)
        last = ""
        try:
            for line in _lines(exchange, url, timeout):
                if cancellation.cancelled:  # a line that came in the same chunk as the last
                    break
                if line.strip():
                    step = _parse_progress(line, url, name)
                    last = step.status
                    yield step
        except ProviderError as error:
            if error.kind == "timeout":
                raise _pull_silent(url, name, timeout, error.status_code) from None
            if error.kind != "cancelled":
                raise
        # Cancelled after "success", the model is there all the same.
        if cancellation.cancelled and last != "success":
            raise _pull_cancelled(url, name)
        if last != "success":
            raise OllamaError(f"The Ollama server at {http.origin(url)} ended the pull of "
                              f'"{name}" before it finished. Try the pull again.',
                              kind="invalid_response", status_code=response.status_code)


def _pull_silent(url: str, name: str, timeout: float, status: int | None) -> ProviderError:
    return ProviderError(
        f'The Ollama server at {http.origin(url)} stopped sending progress for "{name}": '
        f"no progress line for {timeout:g} s. It may be verifying a large layer: try "
        "again with a longer limit.", kind="timeout", status_code=status)


def _pull_cancelled(url: str, name: str) -> OllamaError:
    return OllamaError(f'The pull of "{name}" was cancelled: the connection to the Ollama '
                       f"server at {http.origin(url)} was closed, which stops the download.",
                       kind="cancelled")


def _lines(exchange: http.Exchange, url: str, silence: float) -> Iterator[bytes]:
    """Split the body into lines, however they fall across chunks, allowing
    ``silence`` seconds for each line to arrive (not counting the time the
    reader spends between lines)."""
    buffer = bytearray()
    exchange.arm(silence)
    for chunk in exchange.chunks():
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            _check_line_length(end - start, url)
            line = bytes(buffer[start:end])
            start = end + 1
            exchange.pause()
            yield line
            exchange.arm(silence)
        del buffer[:start]
        _check_line_length(len(buffer), url)
    if buffer:
        yield bytes(buffer)


def _check_line_length(length: int, url: str) -> None:
    if length > MAX_LINE_BYTES:
        raise OllamaError(f"The server at {http.origin(url)} sent a progress line longer than "
                          f"{MAX_LINE_BYTES // 1024} KB; that is not Ollama. Check the base URL.",
                          kind="invalid_response")


def _parse_progress(line: bytes, url: str, name: str) -> PullProgress:
    try:
        data = json.loads(line)
        if not isinstance(data, dict):
            raise _ShapeError("a progress line is not a JSON object")
        if isinstance(data.get("error"), str):
            raise OllamaError(f'The Ollama server at {http.origin(url)} could not pull "{name}": '
                              f"{server_text(data['error'], _MESSAGE_LIMIT)}. Check the "
                              "name and tag at "
                              "https://ollama.com/library and that the server can reach it.",
                              kind="server_error", status_code=200)
        return PullProgress(_text(data, "status", "", _SHORT_TEXT),
                            _text(data, "digest", "", _SHORT_TEXT, ""),
                            _optional(data, "total", int, None),
                            _optional(data, "completed", int, None))
    except (ValueError, RecursionError):
        raise _shape_error(url, "/api/pull", "a progress line is not JSON", 200) from None
    except _ShapeError as error:
        raise _shape_error(url, "/api/pull", str(error), 200) from None


# -- parsing ---------------------------------------------------------------------------

def _parse_tags(data: dict[str, Any]) -> list[OllamaModel]:
    return [_parse_model(item, f"models[{i}].") for i, item in enumerate(_items(data))]


def _parse_ps(data: dict[str, Any]) -> list[RunningModel]:
    return [_parse_running(item, f"models[{i}].") for i, item in enumerate(_items(data))]


def _items(data: dict[str, Any]) -> list[dict[str, Any]]:
    items = _optional(data, "models", list, [])
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _ShapeError(f"models[{i}] is not an object")
    return items


def _parse_model(item: dict[str, Any], at: str) -> OllamaModel:
    name = _text(item, "name", at, MAX_NAME_LENGTH)
    return OllamaModel(
        name=name, model=_text(item, "model", at, MAX_NAME_LENGTH, name),
        modified_at=_time(item, "modified_at"), size=_optional(item, "size", int, 0, at),
        digest=_text(item, "digest", at, _SHORT_TEXT, ""), details=_details(item, at))


def _parse_running(item: dict[str, Any], at: str) -> RunningModel:
    name = _text(item, "name", at, MAX_NAME_LENGTH)
    return RunningModel(
        name=name, model=_text(item, "model", at, MAX_NAME_LENGTH, name),
        size=_optional(item, "size", int, 0, at),
        size_vram=_optional(item, "size_vram", int, 0, at),
        digest=_text(item, "digest", at, _SHORT_TEXT, ""), details=_details(item, at),
        expires_at=_time(item, "expires_at"))


def _parse_show(name: str, data: dict[str, Any]) -> ModelInfo:
    return ModelInfo(
        name=name, details=_details(data, ""),
        parameters=_optional(data, "parameters", str, ""),
        template=_optional(data, "template", str, ""),
        license=_optional(data, "license", str, ""),
        modelfile=_optional(data, "modelfile", str, ""),
        capabilities=_strings(data, "capabilities", ""),
        model_info=_well_formed_json(_optional(data, "model_info", dict, {})),
        modified_at=_time(data, "modified_at"))


def _details(item: dict[str, Any], at: str) -> ModelDetails:
    details = _optional(item, "details", dict, {}, at)
    at = f"{at}details."
    return ModelDetails(
        family=_text(details, "family", at, _SHORT_TEXT, ""),
        families=_strings(details, "families", at),
        parameter_size=_text(details, "parameter_size", at, _SHORT_TEXT, ""),
        quantization_level=_text(details, "quantization_level", at, _SHORT_TEXT, ""),
        format=_text(details, "format", at, _SHORT_TEXT, ""),
        parent_model=_text(details, "parent_model", at, MAX_NAME_LENGTH, ""))


_TYPE_NAMES = {str: "text", int: "a whole number", list: "a list", dict: "an object"}


def _optional(data: Mapping[str, Any], key: str, kind: type[T], default: T, at: str = "") -> T:
    """``data[key]`` if it has type ``kind``; ``default`` if missing or null.
    Text comes back encodable (see :func:`connections_core.text.well_formed`)."""
    value = data.get(key)
    if value is None:
        return default
    # bool is an int to isinstance, never to Ollama.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _ShapeError(f"{at}{key} is not {_TYPE_NAMES.get(kind, kind.__name__)}")
    if isinstance(value, str):
        return well_formed(value)  # type: ignore[return-value]  # a str is a T here
    return value


def _text(data: Mapping[str, Any], key: str, at: str, limit: int,
          default: str | None = None) -> str:
    """One line of text, made safe to show and store; required unless ``default``."""
    value = (_required(data, key, str, at) if default is None
             else _optional(data, key, str, default, at))
    return server_text(value, limit)


def _required(data: Mapping[str, Any], key: str, kind: type[T], at: str) -> T:
    value = _optional(data, key, kind, None, at)
    if value is None:
        raise _ShapeError(f"{at}{key} is missing")
    return value


def _strings(data: Mapping[str, Any], key: str, at: str) -> tuple[str, ...]:
    values = _optional(data, key, list, [], at)
    if not all(isinstance(value, str) for value in values):
        raise _ShapeError(f"{at}{key} is not a list of text")
    return tuple(server_text(value, _SHORT_TEXT) for value in values)


def _well_formed_json(value: Any) -> Any:
    """A decoded JSON value with every text in it encodable."""
    if isinstance(value, str):
        return well_formed(value)
    if isinstance(value, list):
        return [_well_formed_json(item) for item in value]
    if isinstance(value, dict):
        return {well_formed(key): _well_formed_json(item) for key, item in value.items()}
    return value


def _time(data: Mapping[str, Any], key: str) -> datetime | None:
    """An RFC 3339 time; None if missing or unreadable (it is only ever shown)."""
    value = data.get(key)
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
