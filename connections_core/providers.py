"""The provider registry and each provider's check.

A provider is one :class:`Provider` entry in :data:`PROVIDERS`: its metadata,
its config fields (the screens render their forms from these) and one
``check(config, session, timeout)`` function that returns the model ids the
server offers or raises :class:`ProviderError`.  Adding a provider is adding
an entry, nothing else.

:func:`test_connection` runs a check and turns whatever happened into a
:class:`TestResult` with a sentence a person can act on::

    >>> result = test_connection("ollama", {"baseUrl": "http://localhost:11434"})
    >>> result.success, result.kind, result.message
    (False, 'unreachable', "Can't reach the server at http://localhost:11434: ...")
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit

import requests

from . import http, ollama
from .addresses import standin_problem, url_problem
from .errors import ProviderError, ValidationError
from .text import server_text, well_formed

__all__ = ["MAX_MODELS", "PROVIDERS", "ConfigField", "Provider", "TestResult",
           "bounded_models", "test_connection", "validate_config"]

ResultKind = Literal["ok", "auth", "forbidden", "not_found", "rate_limited", "server_error",
                     "timeout", "unreachable", "tls", "invalid_response"]
Check = Callable[[Mapping[str, str], requests.Session, float], list[str]]


@dataclass(frozen=True)
class ConfigField:
    """One field of a provider's config, as a form shows it and as it is validated."""

    name: str
    label: str
    kind: Literal["text", "password", "url"] = "text"
    required: bool = False
    placeholder: str = ""
    default: str | None = None
    help: str = ""
    min_length: int = 0
    max_length: int = 2048
    #: Sent as an HTTP header value, so it must be printable ASCII.
    in_header: bool = False

    @property
    def secret(self) -> bool:
        """Secret fields are encrypted at rest and never shown again."""
        return self.kind == "password"


@dataclass(frozen=True)
class Provider:
    """A registry entry: what a provider is, how it is configured and checked."""

    type: str
    display_name: str
    description: str
    fields: tuple[ConfigField, ...]
    check: Check = field(repr=False)
    key_url: str = ""

    @property
    def default_base_url(self) -> str:
        base_url = self.field("baseUrl")
        return base_url.default or "" if base_url else ""

    @property
    def secret_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.secret)

    def field(self, name: str) -> ConfigField | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class TestResult:
    """What a check found: ``kind`` is ``ok`` or names the failure."""

    __test__ = False  # not a pytest test class, despite its name

    success: bool
    message: str
    kind: ResultKind
    latency_ms: int
    models: tuple[str, ...] = ()
    status_code: int | None = None


# -- validation ------------------------------------------------------------------

def validate_config(provider: Provider, config: Mapping[str, Any], *,
                    kept: Collection[str] = (), standins: bool = False) -> dict[str, str]:
    """Return a clean copy of ``config`` (strings stripped, defaults filled in,
    base URL without a trailing slash, empty optional fields dropped).

    Fields named in ``kept`` may be missing: an update keeps their stored values.
    A base URL of one of the demo's running stand-ins is refused unless
    ``standins`` (the demo's own connections): a stand-in never receives a real key.

    :raises ValidationError: with one message per bad field, whatever ``config``
        holds (nothing else is raised).
    """
    if not isinstance(config, Mapping):
        raise ValidationError({"config": f"The {provider.display_name} config must be a mapping "
                                         "of field names to text, e.g. {\"baseUrl\": ...}."})
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    for name in config:
        if not isinstance(name, str) or provider.field(name) is None:
            shown = server_text(name, 40) if isinstance(name, str) else type(name).__name__
            errors[shown] = f"{provider.display_name} has no field '{shown}'."
    for spec in provider.fields:
        value = config.get(spec.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.name in kept:
                continue
            if spec.default is not None:
                clean[spec.name] = spec.default
            elif spec.required:
                errors[spec.name] = f"{spec.label} is required."
            continue
        problem = _field_problem(spec, value) or (
            None if standins or spec.kind != "url" else standin_problem(value))
        if problem:
            errors[spec.name] = problem
        else:
            clean[spec.name] = _normalise(spec, value)
    if errors:
        raise ValidationError(errors)
    return clean


def _field_problem(spec: ConfigField, value: Any) -> str | None:
    if not isinstance(value, str):
        return f"{spec.label} must be text."
    text = value.strip()
    if len(text) < spec.min_length:
        return f"{spec.label} must be at least {spec.min_length} characters."
    if len(text) > spec.max_length:
        return f"{spec.label} must be at most {spec.max_length} characters."
    # Nothing quotes the value: it may be a secret.
    if well_formed(text) != text:
        return (f"{spec.label} contains a character that is not valid text (a lone "
                "surrogate); type or paste it again.")
    if spec.secret and any(ch.isspace() or not ch.isprintable() for ch in text):
        return f"{spec.label} must not contain spaces or line breaks."
    if any(not ch.isprintable() for ch in text):
        return f"{spec.label} must not contain line breaks or control characters."
    if (spec.secret or spec.in_header) and not text.isascii():
        return (f"{spec.label} may contain only ASCII letters, digits and symbols: check for "
                "a typographic quote, dash or ellipsis pasted with it.")
    if spec.kind == "url":
        return _url_problem(spec, text)
    return None


def _url_problem(spec: ConfigField, text: str) -> str | None:
    problem = url_problem(text)
    if problem == "must be an http:// or https:// URL":
        return f"{spec.label} {problem}, like {spec.placeholder}."
    return f"{spec.label} {problem}." if problem else None


def _normalise(spec: ConfigField, value: str) -> str:
    text = value.strip()
    return text.rstrip("/") if spec.kind == "url" else text


# -- reading error responses --------------------------------------------------------

_KEY_LIKE = re.compile(r"\b(?:sk|key)-[A-Za-z0-9_*.\-]{4,}")
_MASKS = "*•.…"  # what servers put between the ends of a key they half show
_DETAIL_LIMIT = 300


def _redact(text: str, config: Mapping[str, str]) -> str:
    """Remove anything that could be (part of) a key from a server's message.

    Besides the whole key: any run of 4 or more characters it starts or ends
    with, and any 8 in a row from it, whatever their case, also percent-encoded
    ("sk-proj-****1234", "SK-PROJ-ABCD...", "sk%2Dproj%2Dabcd"); the stars or
    dots between such runs go too.  Then anything shaped like a key.
    """
    for _ in range(3):  # a key may be percent-encoded more than once
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    folded = _fold(text)
    covered = [False] * len(text)
    secret_fields = {f.name for p in PROVIDERS.values() for f in p.fields if f.secret}
    for secret in (config.get(name) for name in sorted(secret_fields)):
        for piece in _key_pieces(_fold(secret)) if secret else ():
            start = folded.find(piece)
            while start >= 0:
                covered[start:start + len(piece)] = [True] * len(piece)
                start = folded.find(piece, start + 1)
    _cover_masks(text, covered)
    kept = "".join("[redacted]" if hidden else "".join(ch for ch, _ in run)
                   for hidden, run in groupby(zip(text, covered, strict=True), key=itemgetter(1)))
    return _KEY_LIKE.sub("[redacted]", kept)


def _fold(text: str) -> str:
    """Lower-case ASCII letters only, so that positions in the text stay put."""
    return "".join(ch.lower() if ch.isascii() else ch for ch in text)


def _key_pieces(key: str) -> set[str]:
    """The runs of ``key`` that give it away: starts and ends of 4 to 7
    characters, and every 8 in a row (longer runs are made of these)."""
    ends = {key[:n] for n in range(4, min(len(key), 8))} | {
        key[-n:] for n in range(4, min(len(key), 8))}
    return ends | ({key[i:i + 8] for i in range(len(key) - 7)} or {key})


def _cover_masks(text: str, covered: list[bool]) -> None:
    """Also cover runs of mask characters between two covered runs, or of two or
    more beside one: "[redacted]" rather than "[redacted]****[redacted]"."""
    i = 0
    while i < len(text):
        if text[i] not in _MASKS or covered[i]:
            i += 1
            continue
        end = i
        while end < len(text) and text[end] in _MASKS:
            end += 1
        before, after = i > 0 and covered[i - 1], end < len(text) and covered[end]
        if (before and after) or ((before or after) and end - i >= 2):
            covered[i:end] = [True] * (end - i)
        i = end


def _error_detail(body: bytes) -> tuple[str, str]:
    """``(code or type, message)`` from an OpenAI, Anthropic or Ollama error body."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    error = data.get("error")
    if isinstance(error, str):
        return "", error
    if isinstance(error, dict):
        code = error.get("code") or error.get("type") or ""
        message = error.get("message")
        return (code if isinstance(code, str) else "",
                message if isinstance(message, str) else "")
    return "", ""


def raise_for_status(name: str, response: requests.Response, body: bytes,
                     config: Mapping[str, str]) -> None:
    """Turn an error status into a :class:`ProviderError` that says what to do."""
    status = response.status_code
    if status < 400:
        return
    code, detail = _error_detail(body)
    # Redacted whole, before it is cut, so that no cut hides part of a key.
    detail = server_text(detail, 10 * _DETAIL_LIMIT)
    detail = server_text(_redact(detail, config), _DETAIL_LIMIT)
    said = f' {name} said: "{detail}"' if detail and status != 401 else ""
    kind, message = _explain(name, status, code, response)
    raise ProviderError(message + said, kind=kind, status_code=status)


def _explain(name: str, status: int, code: str,
             response: requests.Response) -> tuple[ResultKind, str]:
    if status == 401:
        return "auth", (f"{name} rejected the API key (401). Check that it is correct and "
                        "not revoked.")
    if status == 403:
        return "forbidden", (f"{name} accepted the key but refused access (403): the key "
                             "may lack permission, or the organization is wrong.")
    if status == 404:
        path = urlsplit(response.url).path
        return "not_found", (f"{http.origin(response.url)}{path} answered 404 Not Found: "
                             f"the base URL looks wrong for {name}.")
    if status == 429:
        if code == "insufficient_quota":
            return "rate_limited", (f"{name} says the quota is used up (429 insufficient_quota): "
                                    "check the account's plan and billing.")
        retry = response.headers.get("Retry-After", "").strip()
        seconds = retry.isascii() and retry.isdigit() and len(retry) <= 6
        after = f" Retry after {retry} s." if seconds else " Try again later."
        return "rate_limited", f"{name} is rate-limiting this key (429).{after}"
    if status == 529 or code == "overloaded_error":
        return "server_error", f"{name} is overloaded ({status}). Try again in a few minutes."
    if status >= 500:
        return "server_error", f"{name} had a server error ({status}). Try again later."
    return "invalid_response", f"{name} refused the request ({status})."


# -- checks ------------------------------------------------------------------------------

#: A check keeps at most this many model names, each at most MAX_MODEL_NAME characters:
#: they are stored with the connection on every check.
MAX_MODELS = 2000
MAX_MODEL_NAME = 200


def bounded_models(names: Sequence[str]) -> tuple[str, ...]:
    """The model names a check keeps: the first :data:`MAX_MODELS`, each made safe
    to store and cut at :data:`MAX_MODEL_NAME` characters."""
    return tuple(server_text(name, MAX_MODEL_NAME) for name in names[:MAX_MODELS])


def _model_page(name: str, response: requests.Response, body: bytes
                ) -> tuple[list[str], dict[str, Any]]:
    """The model ids of an OpenAI or Anthropic model list, and the list itself."""
    data = http.parse_json(response, body)
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(
            isinstance(item, dict) and isinstance(item.get("id"), str) for item in items):
        raise ProviderError(
            f"{http.origin(response.url)} answered with JSON that is not a {name} model "
            "list. Check that the base URL points at the API itself.",
            kind="invalid_response", status_code=response.status_code)
    return [item["id"] for item in items], data


def check_openai(config: Mapping[str, str], session: requests.Session,
                 timeout: float) -> list[str]:
    """``GET {baseUrl}/models``: free, and proves the key and the base URL."""
    headers = {"Authorization": f"Bearer {config.get('apiKey', '')}"}
    if config.get("organization"):
        headers["OpenAI-Organization"] = config["organization"]
    response, body = http.send("GET", f"{config['baseUrl']}/models", session=session,
                               headers=headers, timeout=timeout)
    raise_for_status("OpenAI", response, body, config)
    return _model_page("OpenAI", response, body)[0]


ANTHROPIC_VERSION = "2023-06-01"
_MAX_PAGES = 50


def check_anthropic(config: Mapping[str, str], session: requests.Session,
                    timeout: float) -> list[str]:
    """``GET {baseUrl}/models``, following pages: free, unlike sending a message,
    and independent of any one model being retired.  ``timeout`` bounds all the
    pages together."""
    headers = {"x-api-key": config.get("apiKey", ""), "anthropic-version": ANTHROPIC_VERSION}
    deadline = time.monotonic() + timeout
    models: list[str] = []
    after: str | None = None
    for _ in range(_MAX_PAGES):
        url = f"{config['baseUrl']}/models?limit=1000"
        if after:
            url += f"&after_id={quote(well_formed(after), safe='')}"
        response, body = _next_page(url, session, headers, deadline, timeout, first=not after)
        raise_for_status("Anthropic", response, body, config)
        page, data = _model_page("Anthropic", response, body)
        models += page
        last = data.get("last_id")
        if not data.get("has_more") or not isinstance(last, str) or last == after:
            break
        after = last
    return models


def _next_page(url: str, session: requests.Session, headers: Mapping[str, str],
               deadline: float, timeout: float, *, first: bool
               ) -> tuple[requests.Response, bytes]:
    left = deadline - time.monotonic()
    if left > 0:
        try:
            return http.send("GET", url, session=session, headers=headers, timeout=left)
        except ProviderError as error:
            if error.kind != "timeout" or first:
                raise
    raise ProviderError(f"{http.origin(url)} did not send all of Anthropic's model list "
                        f"within {timeout:g} s.", kind="timeout")


def check_ollama(config: Mapping[str, str], session: requests.Session,
                 timeout: float) -> list[str]:
    """``GET {baseUrl}/api/tags``: the models pulled on that server."""
    return [m.name for m in ollama.list_models(config["baseUrl"], timeout=timeout,
                                               session=session)]


def _api_key(placeholder: str) -> ConfigField:
    return ConfigField("apiKey", "API key", "password", required=True, placeholder=placeholder,
                       min_length=10, max_length=500, in_header=True)


def _base_url(default: str, help: str = "") -> ConfigField:
    return ConfigField("baseUrl", "Base URL", "url", required=True, placeholder=default,
                       default=default, help=help)


PROVIDERS: dict[str, Provider] = {
    provider.type: provider
    for provider in (
        Provider(
            type="openai",
            display_name="OpenAI",
            description="GPT models from OpenAI, or any OpenAI-compatible server.",
            key_url="https://platform.openai.com/api-keys",
            fields=(
                _api_key("sk-..."),
                _base_url("https://api.openai.com/v1", "Any OpenAI-compatible server works."),
                ConfigField("organization", "Organization ID", placeholder="org-...",
                            max_length=255, help="Only for keys in several organizations.",
                            in_header=True),
            ),
            check=check_openai,
        ),
        Provider(
            type="anthropic",
            display_name="Anthropic",
            description="Claude models from Anthropic.",
            key_url="https://console.anthropic.com/settings/keys",
            fields=(_api_key("sk-ant-..."), _base_url("https://api.anthropic.com/v1")),
            check=check_anthropic,
        ),
        Provider(
            type="ollama",
            display_name="Ollama",
            description="Models running locally with Ollama.",
            key_url="https://ollama.com/download",
            fields=(_base_url("http://localhost:11434"),),
            check=check_ollama,
        ),
    )
}


def get_provider(type: str) -> Provider:
    """The registry entry for ``type``, or a :class:`ValidationError` naming the known ones."""
    try:
        return PROVIDERS[type]
    except (KeyError, TypeError):
        known = ", ".join(PROVIDERS)
        raise ValidationError({"type": f"Unknown provider type; choose one of: {known}."}) from None


def test_connection(type: str, config: Mapping[str, Any], timeout: float = http.DEFAULT_TIMEOUT,
                    *, session: requests.Session | None = None,
                    clock: Callable[[], float] = time.perf_counter,
                    standins: bool = False) -> TestResult:
    """Check that a provider config works, at no cost (it only lists models).

    ``standins``: the config may point at one of the demo's stand-ins (only the
    demo's own checks pass it).

    :raises ValidationError: the type is unknown or the config is invalid;
        everything that happens on the network is reported in the result.
    """
    provider = get_provider(type)
    clean = validate_config(provider, config, standins=standins)
    owner = session or http.new_session()
    started = clock()
    try:
        models = provider.check(clean, owner, timeout)
    except ProviderError as error:
        return TestResult(False, str(error), error.kind,  # type: ignore[arg-type]
                          _elapsed_ms(clock, started), status_code=error.status_code)
    finally:
        if session is None:
            owner.close()
    where = http.origin(clean["baseUrl"])
    count = f"{len(models)} model{'s' if len(models) != 1 else ''} available"
    if len(models) > MAX_MODELS:
        count += f" (the first {MAX_MODELS} are listed)"
    return TestResult(True, f"Connected to {provider.display_name} at {where}: {count}.", "ok",
                      _elapsed_ms(clock, started), bounded_models(models), 200)


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _elapsed_ms(clock: Callable[[], float], started: float) -> int:
    return max(0, round((clock() - started) * 1000))
