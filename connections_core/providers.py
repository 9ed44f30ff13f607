"""The provider registry and each provider's check.

A provider is one :class:`Provider` entry in :data:`PROVIDERS`: its metadata,
its group (hosted, cloud, local), its config fields (the screens render their
forms from these, secrets as many as it has), the fields that say where its keys
go (``destination``: a stored key is sent only there) and one
``check(config, session, timeout)`` function that returns the model ids the
server offers or raises :class:`ProviderError`.  Adding a provider is adding
an entry, nothing else: forms, cards, filters, encryption, rotation, backups,
the CLI and ``doctor`` all read the registry.

:func:`test_connection` runs a check and turns whatever happened into a
:class:`TestResult` with a sentence a person can act on::

    >>> result = test_connection("ollama", {"baseUrl": "http://localhost:11434"})
    >>> result.success, result.kind, result.message
    (False, 'unreachable', "Can't reach the server at http://localhost:11434: ...")
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import requests

from . import http, ollama
from .addresses import standin_problem, url_problem
from .answers import ResultKind, model_list, next_page, raise_for_status
from .azure import AZURE_API_VERSION, check_azure_openai
from .bedrock import bedrock_address, check_bedrock
from .errors import ProviderError, ValidationError
from .gemini import check_gemini
from .openai_api import check_openai, check_openrouter, openai_check
from .text import server_text, well_formed

__all__ = ["GROUPS", "MAX_MODELS", "PROVIDERS", "SECRET_FIELDS", "ConfigField", "EnvVar", "Group",
           "Provider", "TestResult", "bounded_models", "raise_for_status", "test_connection",
           "validate_config"]

Check = Callable[[Mapping[str, str], requests.Session, float], list[str]]
Group = Literal["hosted", "cloud", "local"]
#: The groups the Add dialog offers providers in, in order, with their headings.
GROUPS: dict[Group, str] = {"hosted": "Hosted APIs", "cloud": "Cloud platforms",
                            "local": "Local or self-hosted"}


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
    #: A regular expression the whole value must match, and how to say what it looks
    #: like when it doesn't ("like us-east-1").
    pattern: str = ""
    pattern_hint: str = ""

    @property
    def secret(self) -> bool:
        """Secret fields are encrypted at rest and never shown again."""
        return self.kind == "password"


@dataclass(frozen=True)
class EnvVar:
    """An environment variable set from a config field: ``OPENAI_API_KEY`` from
    ``apiKey``.  ``drop_suffix`` is cut from the value's end where the provider's SDK
    adds it itself (Anthropic's SDK takes its base URL without ``/v1``)."""

    name: str
    field: str
    drop_suffix: str = ""

    def value(self, config: Mapping[str, str]) -> str | None:
        value = config.get(self.field)
        if not value:
            return None
        return value.removesuffix(self.drop_suffix) if self.drop_suffix else value


@dataclass(frozen=True)
class Provider:
    """A registry entry: what a provider is, how it is configured and checked."""

    type: str
    display_name: str
    description: str
    fields: tuple[ConfigField, ...]
    check: Check = field(repr=False)
    key_url: str = ""
    group: Group = "hosted"
    #: The fields that say where a key is sent: a stored key is bound to their values
    #: (it decrypts only with them), and changing one needs the key typed again.
    destination: tuple[str, ...] = ("baseUrl",)
    #: The address a check of a config reaches, when it is not the first destination
    #: field's value (Bedrock's: its region's endpoint).
    address: Callable[[Mapping[str, str]], str] | None = field(default=None, repr=False)
    #: The environment variables the provider's own SDKs and tools read, and the field
    #: each is set from (``exec`` and ``env`` on the command line set them).
    env: tuple[EnvVar, ...] = ()

    @property
    def default_base_url(self) -> str:
        base_url = self.field("baseUrl")
        return base_url.default or "" if base_url else ""

    def where(self, config: Mapping[str, Any]) -> str:
        """The address a check of ``config`` reaches: what a card shows, and whose
        origin a check's message names."""
        if self.address is not None:
            return self.address(config)
        value = config.get(self.destination[0])
        return value if isinstance(value, str) else ""

    def environment(self, config: Mapping[str, str]) -> dict[str, str]:
        """The environment variables of :attr:`env` that ``config`` sets."""
        return {var.name: value for var in self.env if (value := var.value(config))}

    def destination_of(self, config: Mapping[str, Any]) -> dict[str, str | None]:
        """The values of the destination fields in ``config`` (None where unset)."""
        return {name: value if isinstance(value := config.get(name), str) else None
                for name in self.destination}

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
    if spec.pattern and not re.fullmatch(spec.pattern, text):
        return f"{spec.label} must look like {spec.pattern_hint}."
    return None


def _url_problem(spec: ConfigField, text: str) -> str | None:
    problem = url_problem(text)
    if problem == "must be an http:// or https:// URL":
        return f"{spec.label} {problem}, like {spec.placeholder}."
    return f"{spec.label} {problem}." if problem else None


def _normalise(spec: ConfigField, value: str) -> str:
    text = value.strip()
    return text.rstrip("/") if spec.kind == "url" else text


# -- checks ------------------------------------------------------------------------------

#: A check keeps at most this many model names, each at most MAX_MODEL_NAME characters:
#: they are stored with the connection on every check.
MAX_MODELS = 2000
MAX_MODEL_NAME = 200


def bounded_models(names: Sequence[str]) -> tuple[str, ...]:
    """The model names a check keeps: the first :data:`MAX_MODELS`, each made safe
    to store and cut at :data:`MAX_MODEL_NAME` characters."""
    return tuple(server_text(name, MAX_MODEL_NAME) for name in names[:MAX_MODELS])


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
        response, body = next_page("Anthropic", url, session, headers, deadline, timeout,
                                   first=not after)
        raise_for_status("Anthropic", response, body, config)
        page, data = model_list("Anthropic", response, body)
        models += page
        last = data.get("last_id")
        if not data.get("has_more") or not isinstance(last, str) or last == after:
            break
        after = last
    return models


def check_ollama(config: Mapping[str, str], session: requests.Session,
                 timeout: float) -> list[str]:
    """``GET {baseUrl}/api/tags``: the models pulled on that server."""
    return [m.name for m in ollama.list_models(config["baseUrl"], timeout=timeout,
                                               session=session)]


def _api_key(placeholder: str, *, required: bool = True, min_length: int = 10,
             help: str = "") -> ConfigField:
    return ConfigField("apiKey", "API key", "password", required=required,
                       placeholder=placeholder, min_length=min_length, max_length=500,
                       in_header=True, help=help)


def _base_url(default: str, help: str = "") -> ConfigField:
    return ConfigField("baseUrl", "Base URL", "url", required=True, placeholder=default,
                       default=default, help=help)


def _openai_compatible(type: str, name: str, description: str, base_url: str, key_url: str,
                       key_placeholder: str, check: Check | None = None,
                       base_url_suffix: str = "") -> Provider:
    """A hosted provider that speaks the OpenAI API: a key and a base URL, set as
    ``{TYPE}_API_KEY`` and ``{TYPE}_BASE_URL`` (as its own SDK reads them)."""
    prefix = type.upper()
    return Provider(type=type, display_name=name, description=description, key_url=key_url,
                    fields=(_api_key(key_placeholder), _base_url(base_url)),
                    check=check or openai_check(name),
                    env=(EnvVar(f"{prefix}_API_KEY", "apiKey"),
                         EnvVar(f"{prefix}_BASE_URL", "baseUrl", base_url_suffix)))


PROVIDERS: dict[str, Provider] = {
    provider.type: provider
    for provider in (
        Provider(
            type="openai",
            display_name="OpenAI",
            description="GPT models from OpenAI.",
            key_url="https://platform.openai.com/api-keys",
            fields=(
                _api_key("sk-..."),
                _base_url("https://api.openai.com/v1",
                          "Change it only for a proxy in front of OpenAI; another server "
                          "that speaks the OpenAI API is an OpenAI-compatible server."),
                ConfigField("organization", "Organization ID", placeholder="org-...",
                            max_length=255, help="Only for keys in several organizations.",
                            in_header=True),
            ),
            check=check_openai,
            env=(EnvVar("OPENAI_API_KEY", "apiKey"), EnvVar("OPENAI_BASE_URL", "baseUrl"),
                 EnvVar("OPENAI_ORG_ID", "organization")),
        ),
        Provider(
            type="anthropic",
            display_name="Anthropic",
            description="Claude models from Anthropic.",
            key_url="https://console.anthropic.com/settings/keys",
            fields=(_api_key("sk-ant-..."), _base_url("https://api.anthropic.com/v1")),
            check=check_anthropic,
            env=(EnvVar("ANTHROPIC_API_KEY", "apiKey"),
                 EnvVar("ANTHROPIC_BASE_URL", "baseUrl", "/v1")),
        ),
        Provider(
            type="gemini",
            display_name="Google Gemini",
            description="Gemini models through the Gemini API (Google AI Studio).",
            key_url="https://aistudio.google.com/apikey",
            fields=(_api_key("AIza..."),
                    _base_url("https://generativelanguage.googleapis.com/v1beta")),
            check=check_gemini,
            env=(EnvVar("GEMINI_API_KEY", "apiKey"),),
        ),
        _openai_compatible("mistral", "Mistral AI", "Mistral and Codestral models.",
                           "https://api.mistral.ai/v1", "https://console.mistral.ai/api-keys",
                           "your Mistral API key"),
        _openai_compatible("groq", "Groq", "Open models on Groq's LPU inference.",
                           "https://api.groq.com/openai/v1", "https://console.groq.com/keys",
                           "gsk_...", base_url_suffix="/openai/v1"),
        _openai_compatible("openrouter", "OpenRouter",
                           "Hundreds of models from many providers behind one key.",
                           "https://openrouter.ai/api/v1", "https://openrouter.ai/settings/keys",
                           "sk-or-v1-...", check=check_openrouter),
        _openai_compatible("deepseek", "DeepSeek", "DeepSeek's chat and reasoning models.",
                           "https://api.deepseek.com", "https://platform.deepseek.com/api_keys",
                           "sk-..."),
        _openai_compatible("together", "Together AI", "Open models hosted by Together AI.",
                           "https://api.together.xyz/v1",
                           "https://api.together.ai/settings/api-keys", "your Together API key"),
        _openai_compatible("xai", "xAI", "Grok models from xAI.", "https://api.x.ai/v1",
                           "https://console.x.ai", "xai-..."),
        Provider(
            type="azure_openai",
            display_name="Azure OpenAI",
            description="OpenAI models deployed in an Azure OpenAI resource.",
            key_url="https://portal.azure.com/#view/Microsoft_Azure_ProjectOxford/"
                    "CognitiveServicesHub/~/OpenAI",
            group="cloud",
            destination=("endpoint",),
            fields=(
                ConfigField("endpoint", "Endpoint", "url", required=True,
                            placeholder="https://my-resource.openai.azure.com",
                            help="The resource's endpoint (Keys and Endpoint in the Azure "
                                 "portal), or your API gateway's URL."),
                _api_key("one of the resource's two keys", min_length=16),
                ConfigField("apiVersion", "API version", default=AZURE_API_VERSION,
                            placeholder=AZURE_API_VERSION, max_length=40,
                            pattern=r"\d{4}-\d{2}-\d{2}(?:-preview)?",
                            pattern_hint=f"{AZURE_API_VERSION} (a date, maybe with -preview)"),
            ),
            check=check_azure_openai,
            env=(EnvVar("AZURE_OPENAI_API_KEY", "apiKey"),
                 EnvVar("AZURE_OPENAI_ENDPOINT", "endpoint"),
                 EnvVar("OPENAI_API_VERSION", "apiVersion")),
        ),
        Provider(
            type="bedrock",
            display_name="Amazon Bedrock",
            description="Claude, Llama, Mistral, Nova and more on AWS, in your account.",
            key_url="https://console.aws.amazon.com/iam/home#/security_credentials",
            group="cloud",
            destination=("region", "endpoint"),
            address=bedrock_address,
            fields=(
                ConfigField("region", "Region", required=True, placeholder="us-east-1",
                            max_length=30, pattern=r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}",
                            pattern_hint="us-east-1 (an AWS region code)",
                            help="Where the models are enabled for your account."),
                ConfigField("accessKeyId", "Access key ID", required=True,
                            placeholder="AKIA...", min_length=16, max_length=128,
                            in_header=True, pattern=r"[A-Z0-9]{16,128}",
                            pattern_hint="AKIAIOSFODNN7EXAMPLE (capital letters and digits)"),
                ConfigField("secretAccessKey", "Secret access key", "password", required=True,
                            min_length=16, max_length=128, in_header=True),
                ConfigField("sessionToken", "Session token", "password", max_length=4096,
                            in_header=True,
                            help="Only for temporary credentials (from AWS STS or SSO)."),
                ConfigField("endpoint", "Endpoint", "url",
                            placeholder="https://bedrock.us-east-1.amazonaws.com",
                            help="Only for a VPC endpoint or a proxy: by default, the "
                                 "region's own."),
            ),
            check=check_bedrock,
            env=(EnvVar("AWS_REGION", "region"), EnvVar("AWS_DEFAULT_REGION", "region"),
                 EnvVar("AWS_ACCESS_KEY_ID", "accessKeyId"),
                 EnvVar("AWS_SECRET_ACCESS_KEY", "secretAccessKey"),
                 EnvVar("AWS_SESSION_TOKEN", "sessionToken"),
                 EnvVar("AWS_ENDPOINT_URL_BEDROCK", "endpoint")),
        ),
        Provider(
            type="ollama",
            display_name="Ollama",
            description="Models running locally with Ollama.",
            key_url="https://ollama.com/download",
            group="local",
            fields=(_base_url("http://localhost:11434"),),
            check=check_ollama,
            env=(EnvVar("OLLAMA_HOST", "baseUrl"),),
        ),
        Provider(
            type="openai_compatible",
            display_name="OpenAI-compatible server",
            description="Any server that speaks the OpenAI API: vLLM, LM Studio, llama.cpp's "
                        "llama-server, LocalAI, a LiteLLM proxy.",
            key_url="https://platform.openai.com/docs/api-reference/models/list",
            group="local",
            fields=(
                ConfigField("baseUrl", "Base URL", "url", required=True,
                            placeholder="http://localhost:8000/v1",
                            help="Where the server answers the OpenAI API, usually ending "
                                 "in /v1."),
                _api_key("only if the server asks for one", required=False, min_length=1,
                         help="Leave it empty for a server that needs none."),
            ),
            check=openai_check("The OpenAI-compatible server"),
            env=(EnvVar("OPENAI_BASE_URL", "baseUrl"), EnvVar("OPENAI_API_KEY", "apiKey")),
        ),
    )
}

#: Every field name that some provider declares secret.
SECRET_FIELDS = frozenset(name for p in PROVIDERS.values() for name in p.secret_fields)


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
    where = http.origin(provider.where(clean))
    count = f"{len(models)} model{'s' if len(models) != 1 else ''} available"
    if len(models) > MAX_MODELS:
        count += f" (the first {MAX_MODELS} are listed)"
    return TestResult(True, f"Connected to {provider.display_name} at {where}: {count}.", "ok",
                      _elapsed_ms(clock, started), bounded_models(models), 200)


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _elapsed_ms(clock: Callable[[], float], started: float) -> int:
    return max(0, round((clock() - started) * 1000))
