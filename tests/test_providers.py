"""Provider checks: what each status means, and that credentials stay where they belong."""

from __future__ import annotations

import json
import logging
import re
import string
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
import requests
import responses
from hypothesis import example, given, settings
from hypothesis import strategies as st
from responses import matchers

from connections_core import PROVIDERS, ProviderError, ValidationError, http, test_connection
from connections_core.providers import (
    MAX_MODEL_NAME,
    MAX_MODELS,
    raise_for_status,
    validate_config,
)
from tests.fakes import (
    API_KEY,
    FakeServer,
    TrickleServer,
    trickle_body,
)
from tests.support import ANTHROPIC_KEY, OPENAI_KEY

Trickle = Callable[..., TrickleServer]

OPENAI = "https://api.openai.com/v1"
ANTHROPIC = "https://api.anthropic.com/v1"
OLLAMA = "http://127.0.0.1:11434"


def openai(**config: str):
    return test_connection("openai", {"apiKey": OPENAI_KEY, **config}, timeout=2)


def anthropic(**config: str):
    return test_connection("anthropic", {"apiKey": ANTHROPIC_KEY, **config}, timeout=2)


def test_registry_describes_every_provider() -> None:
    assert set(PROVIDERS) == {"openai", "anthropic", "ollama", "gemini", "mistral", "groq",
                              "openrouter", "deepseek", "together", "xai", "azure_openai",
                              "bedrock", "openai_compatible"}
    assert PROVIDERS["openai"].secret_fields == ("apiKey",)
    assert PROVIDERS["bedrock"].secret_fields == ("secretAccessKey", "sessionToken")
    assert PROVIDERS["anthropic"].secret_fields == ("apiKey",)
    assert PROVIDERS["ollama"].secret_fields == ()
    for provider in PROVIDERS.values():
        assert all(provider.field(name) for name in provider.destination)
        assert provider.display_name and provider.description and provider.key_url


@responses.activate
def test_openai_ok_lists_models_and_sends_the_headers() -> None:
    responses.get(f"{OPENAI}/models", json={"object": "list", "data": [{"id": "gpt-4o"},
                                                                         {"id": "o3"}]},
                  match=[matchers.header_matcher({"Authorization": f"Bearer {OPENAI_KEY}",
                                                  "OpenAI-Organization": "org-7"})])
    result = openai(organization="org-7")
    assert result.success and result.kind == "ok" and result.status_code == 200
    assert result.models == ("gpt-4o", "o3")
    assert result.message == "Connected to OpenAI at https://api.openai.com: 2 models available."


@responses.activate
def test_openai_compatible_base_url_is_used() -> None:
    responses.get("http://127.0.0.1:8000/v1/models", json={"object": "list", "data": []})
    assert openai(baseUrl="http://127.0.0.1:8000/v1/").success


@pytest.mark.parametrize(("status", "body", "kind", "says"), [
    (401, {"error": {"message": f"Incorrect API key provided: {OPENAI_KEY[:8]}***WXYZ",
                     "code": "invalid_api_key"}}, "auth", "rejected the API key"),
    (403, {"error": {"message": "Project does not have access"}}, "forbidden", "refused access"),
    (404, {"error": {"message": "Unknown url"}}, "not_found", "base URL looks wrong"),
    (429, {"error": {"message": "You exceeded your current quota",
                     "code": "insufficient_quota"}}, "rate_limited", "quota is used up"),
    (429, {"error": {"message": "Rate limit reached"}}, "rate_limited", "rate-limiting"),
    (500, {"error": {"message": "oops"}}, "server_error", "server error"),
    (400, {"error": {"message": "bad"}}, "invalid_response", "refused the request"),
])
@responses.activate
def test_openai_error_statuses(status: int, body: dict[str, object], kind: str, says: str) -> None:
    responses.get(f"{OPENAI}/models", json=body, status=status)
    result = openai()
    assert not result.success
    assert (result.kind, result.status_code) == (kind, status)
    assert says in result.message
    assert OPENAI_KEY[:8] not in result.message


@responses.activate
def test_retry_after_is_reported() -> None:
    responses.get(f"{OPENAI}/models", status=429, headers={"Retry-After": "30"},
                  json={"error": {"message": "slow down"}})
    assert "Retry after 30 s" in openai().message


@responses.activate
def test_server_message_is_quoted_without_keys() -> None:
    responses.get(f"{OPENAI}/models", status=403, json={"error": {
        "message": f"key {OPENAI_KEY} and sk-proj-abcdef123456 lack scope"}})
    message = openai().message
    assert "lack scope" in message
    assert OPENAI_KEY not in message and "sk-proj-abcdef123456" not in message


@responses.activate
def test_html_page_is_an_invalid_response() -> None:
    responses.get(f"{OPENAI}/models", body="<html><body>Welcome</body></html>",
                  content_type="text/html")
    result = openai()
    assert result.kind == "invalid_response" and "text/html" in result.message


@responses.activate
def test_json_of_the_wrong_shape_is_an_invalid_response() -> None:
    responses.get(f"{OPENAI}/models", json={"models": ["a"]})
    assert openai().kind == "invalid_response"


@responses.activate
def test_oversized_body_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "MAX_BODY_BYTES", 1024)
    responses.get(f"{OPENAI}/models", body=b"x" * 10_000)
    result = openai()
    assert result.kind == "invalid_response" and "more than" in result.message


@responses.activate
def test_redirect_is_never_followed_with_credentials() -> None:
    responses.get(f"{ANTHROPIC}/models", status=302,
                  headers={"Location": "https://collector.example/steal"})
    result = anthropic()
    assert result.kind == "invalid_response"
    assert "redirected to https://collector.example" in result.message
    assert len(responses.calls) == 1, "the redirect target was never requested"


@responses.activate
def test_anthropic_follows_pages_and_sends_its_headers() -> None:
    headers = matchers.header_matcher({"x-api-key": ANTHROPIC_KEY,
                                       "anthropic-version": "2023-06-01"})
    responses.get(f"{ANTHROPIC}/models", match=[headers, matchers.query_param_matcher(
        {"limit": "1000"})], json={"data": [{"id": "claude-a"}], "has_more": True,
                                   "last_id": "claude-a"})
    responses.get(f"{ANTHROPIC}/models", match=[headers, matchers.query_param_matcher(
        {"limit": "1000", "after_id": "claude-a"})],
        json={"data": [{"id": "claude-b"}], "has_more": False, "last_id": "claude-b"})
    result = anthropic()
    assert result.success and result.models == ("claude-a", "claude-b")


@responses.activate
def test_anthropic_overloaded_is_a_server_error() -> None:
    responses.get(f"{ANTHROPIC}/models", status=529, json={
        "type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    result = anthropic()
    assert result.kind == "server_error" and "overloaded" in result.message


@responses.activate
def test_anthropic_401_says_the_key_was_rejected() -> None:
    responses.get(f"{ANTHROPIC}/models", status=401, json={
        "type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
    result = anthropic()
    assert result.kind == "auth" and "Anthropic rejected the API key" in result.message


@responses.activate
def test_ollama_check_lists_local_models() -> None:
    responses.get(f"{OLLAMA}/api/tags", json={"models": [
        {"name": "llama3.2:latest", "model": "llama3.2:latest", "size": 2019393189}]})
    result = test_connection("ollama", {"baseUrl": OLLAMA})
    assert result.success and result.models == ("llama3.2:latest",)


def test_refused_connection_is_unreachable() -> None:
    result = test_connection("ollama", {"baseUrl": "http://127.0.0.1:9"}, timeout=2)
    assert result.kind == "unreachable" and "Can't reach the server" in result.message


def test_unknown_host_says_dns() -> None:
    result = test_connection("ollama", {"baseUrl": "http://no-such-host.invalid"}, timeout=2)
    assert result.kind == "unreachable" and "could not be resolved" in result.message


@responses.activate
def test_tls_failure_is_reported_as_tls() -> None:
    responses.get(f"{OPENAI}/models",
                  body=requests.exceptions.SSLError("certificate verify failed"))
    assert openai().kind == "tls"


def test_invalid_config_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        test_connection("openai", {"baseUrl": "nope"})
    assert set(caught.value.field_errors) == {"apiKey", "baseUrl"}


@responses.activate
def test_nothing_logged_contains_the_key(caplog: pytest.LogCaptureFixture) -> None:
    responses.get(f"{OPENAI}/models", status=401, json={"error": {"message": OPENAI_KEY}})
    with caplog.at_level(logging.DEBUG):
        result = openai()
    assert OPENAI_KEY not in caplog.text and OPENAI_KEY not in repr(result)


# -- deadlines -----------------------------------------------------------------------------

def test_a_check_is_cut_off_when_the_answer_trickles(trickle_server: Trickle) -> None:
    """A server that sent headers, then one byte every half second, kept a check with
    a 2 s timeout running for over 40 s."""
    server = trickle_server(trickle_body())
    started = time.monotonic()

    result = test_connection("openai", {"apiKey": OPENAI_KEY, "baseUrl": server.url}, timeout=2)

    assert time.monotonic() - started < 6
    assert result.kind == "timeout" and "longer than 2 s" in result.message


def test_the_anthropic_check_holds_its_time_limit_over_all_pages(
        fake_server: FakeServer) -> None:
    """Each page had the whole time limit, so a server of many slow pages took 50 times it."""
    fake_server.anthropic_models = [f"claude-{n}" for n in range(40)]
    fake_server.anthropic_page_size = 1
    fake_server.delay = 0.1
    started = time.monotonic()

    result = test_connection("anthropic", {"apiKey": API_KEY,
                                           "baseUrl": fake_server.anthropic_url}, timeout=1)

    assert time.monotonic() - started < 3
    assert result.kind == "timeout"
    assert "did not send all of Anthropic's model list within 1 s" in result.message


# -- validation ----------------------------------------------------------------------------

@pytest.mark.parametrize("key", [
    "sk-proj-abc…def0123456",  # an ellipsis (outside Latin-1) pasted with the key
    "sk-proj-“abcdef0123456”",
    "sk-proj-café0123456789",  # Latin-1, but no API key has it
])
def test_an_api_key_outside_ascii_is_refused(key: str) -> None:
    """Such a key was accepted, then failed every check building its header."""
    with pytest.raises(ValidationError, match="only ASCII letters, digits and symbols") as caught:
        validate_config(PROVIDERS["openai"], {"apiKey": key})
    assert set(caught.value.field_errors) == {"apiKey"}
    assert "abc" not in str(caught.value), "nothing of the key is quoted"


def test_an_organization_outside_ascii_is_refused() -> None:
    with pytest.raises(ValidationError, match="Organization ID may contain only ASCII"):
        validate_config(PROVIDERS["openai"], {"apiKey": OPENAI_KEY, "organization": "org-Ω"})


@pytest.mark.parametrize("field, value", [
    ("organization", "org-1\x00"), ("organization", "org\u202e1"), ("baseUrl", "http://h/\x7f"),
])
def test_control_characters_are_refused_in_any_field(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_config(PROVIDERS["openai"], {"apiKey": OPENAI_KEY, field: value})
    assert set(caught.value.field_errors) == {field}


@pytest.mark.parametrize("field", ["apiKey", "organization", "baseUrl"])
def test_a_lone_surrogate_is_refused_in_any_field(field: str) -> None:
    config = {"apiKey": OPENAI_KEY, field: "sk-proj-0123456789\ud800"}
    with pytest.raises(ValidationError, match="not valid text") as caught:
        validate_config(PROVIDERS["openai"], config)
    assert set(caught.value.field_errors) == {field}


@pytest.mark.parametrize("config", [None, "apiKey=sk-1", ["apiKey"], 42])
def test_a_config_that_is_not_a_mapping_is_a_validation_error(config: object) -> None:
    with pytest.raises(ValidationError, match="must be a mapping") as caught:
        validate_config(PROVIDERS["openai"], config)  # type: ignore[arg-type]
    assert set(caught.value.field_errors) == {"config"}


def test_a_field_name_that_is_not_text_is_named_by_its_type() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_config(PROVIDERS["ollama"], {1: "x", b"baseUrl": "y", "\ud800": "z"})
    assert set(caught.value.field_errors) == {"int", "bytes", "\ufffd"}


_ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=5)


@settings(max_examples=300, deadline=None)
@given(provider=st.sampled_from(sorted(PROVIDERS)),
       config=st.dictionaries(
           st.sampled_from(["apiKey", "baseUrl", "organization"]) | st.text() | st.integers(),
           _ANY_VALUE | st.text(st.characters(codec="utf-8") | st.just("\ud800"), max_size=60)
           | st.sampled_from(["http://h/?", "http://[::1", "http://h:99999", "http://2852039166",
                              "sk-proj-\u2026", "http://h/#", "http://" + "a" * 64]),
           max_size=4) | _ANY_VALUE)
def test_validation_raises_only_validation_errors(provider: str, config: Any) -> None:
    refused: ValidationError | None = None
    try:
        clean = validate_config(PROVIDERS[provider], config)
    except ValidationError as error:
        refused = error
    if refused is None:
        json.dumps(clean).encode("utf-8")  # what is stored can be stored
    else:
        assert all(isinstance(field, str) for field in refused.field_errors)
        str(refused).encode("utf-8")


@pytest.mark.parametrize("base_url, problem", [
    ("http://host/admin/users?", "must not contain a query"),
    ("http://host/v1?", "must not contain a query"),
    ("http://host/v1#", "or a fragment"),
    ("http://169.254.169.254/latest", "link-local or cloud metadata"),
    ("http://2852039166", "points at 169.254.169.254"),
    ("http://0xa9fea9fe", "points at 169.254.169.254"),
    ("http://169.254.43518", "points at 169.254.169.254"),
    ("http://[fd00:ec2::254]", "points at fd00:ec2::254"),
])
def test_base_urls_that_reach_elsewhere_are_refused(base_url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(problem)) as caught:
        test_connection("ollama", {"baseUrl": base_url})
    assert set(caught.value.field_errors) == {"baseUrl"}


def test_the_environment_variable_allows_a_metadata_base_url(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTIONS_ALLOW_LINK_LOCAL", "1")
    clean = validate_config(PROVIDERS["ollama"], {"baseUrl": "http://169.254.169.254/"})
    assert clean == {"baseUrl": "http://169.254.169.254"}
    monkeypatch.setenv("CONNECTIONS_ALLOW_LINK_LOCAL", "0")
    with pytest.raises(ValidationError):
        validate_config(PROVIDERS["ollama"], {"baseUrl": "http://169.254.169.254/"})


# -- text from servers ---------------------------------------------------------------------

@responses.activate
def test_a_lone_surrogate_in_a_servers_message_is_replaced() -> None:
    """A lone surrogate ("\\ud800") in an error message failed when the result was stored."""
    responses.get(f"{OPENAI}/models", status=403,
                  body=b'{"error": {"message": "no \\ud800 access\\u0007"}}')
    result = openai()
    assert 'said: "no \ufffd access"' in result.message
    result.message.encode("utf-8")


@responses.activate
def test_model_ids_are_made_encodable() -> None:
    responses.get(f"{OPENAI}/models", body=b'{"data": [{"id": "gpt\\ud800"}, {"id": "o3"}]}')
    assert openai().models == ("gpt\ufffd", "o3")


@responses.activate
def test_a_huge_model_list_is_bounded() -> None:
    """An Ollama server with a huge model list grew the data file by about 1 MB per check."""
    responses.get(f"{OLLAMA}/api/tags", json={"models": [
        {"name": f"model-{n}-" + "x" * 300} for n in range(MAX_MODELS + 500)]})

    result = test_connection("ollama", {"baseUrl": OLLAMA})

    assert len(result.models) == MAX_MODELS
    assert all(len(name) <= MAX_MODEL_NAME for name in result.models)
    assert result.models[0].startswith("model-0-xxx") and result.models[0].endswith("…")
    assert f"{MAX_MODELS + 500} models available (the first {MAX_MODELS} are listed)" in (
        result.message)


# -- redaction -----------------------------------------------------------------------------

KEY = "sk-proj-abcdefghijklmnop1234"


def leaks(text: str, key: str) -> list[str]:
    """The runs of ``key`` that give it away and are found in ``text``, in any case
    (not counting the word "[redacted]" itself: a key ending in "ACTE" is not in it)."""
    folded, key = text.lower().replace("[redacted]", "\0"), key.lower()
    runs = [key[:n] for n in range(4, len(key) + 1)] + [key[-n:] for n in range(4, len(key))]
    runs += [key[i:i + 8] for i in range(len(key) - 7)]
    return [run for run in runs if run in folded]


def quoted(said: str, key: str = KEY) -> str:
    """What the error raised for ``said`` quotes of it."""
    response = requests.Response()
    response.status_code, response.url = 403, f"{OPENAI}/models"
    response._content = json.dumps({"error": {"message": said}}).encode()
    with pytest.raises(ProviderError) as caught:
        raise_for_status("OpenAI", response, response.content, {"apiKey": key})
    return str(caught.value).split(' said: "', 1)[1]


@pytest.mark.parametrize("said", [
    "Incorrect API key provided: sk-proj-****1234.",
    "Incorrect API key provided: sk-pro...1234.",
    "Key SK-PROJ-ABCD... is not valid",
    "key sk%2Dproj%2Dabcdefgh is not valid",
    "key sk%252Dproj%252Dabcdefgh is not valid",
    "key ending in p1234 has no access",
    "key ending in 1234 has no access",
    "key with ijklmnop in it",
    "key ****MNOP1234",
    f"key {KEY} and {KEY.upper()}",
])
def test_partial_echoes_of_the_key_are_redacted(said: str) -> None:
    text = quoted(said)
    assert leaks(text, KEY) == []
    assert "[redacted]" in text


def test_a_key_shown_with_its_ends_becomes_one_redaction() -> None:
    text = quoted("Incorrect API key provided: sk-proj-****1234. See the docs.")
    assert text == 'Incorrect API key provided: [redacted]. See the docs."'


_ECHOES: dict[str, Callable[[str, int], str]] = {
    "prefix": lambda key, n: key[:n],
    "suffix": lambda key, n: key[-n:],
    "ends": lambda key, n: f"{key[:n]}{'*' * n}{key[-4:]}",
    "dots": lambda key, n: f"{key[:n]}...{key[-n:]}",
}


@settings(max_examples=300, deadline=None)
@given(key=st.text(string.ascii_letters + string.digits + "-_", min_size=10, max_size=60),
       echo=st.sampled_from(sorted(_ECHOES)), n=st.integers(4, 60),
       shape=st.sampled_from(["as is", "upper", "lower", "percent", "percent twice"]),
       before=st.sampled_from(["", "Incorrect API key provided: ", "key=", "(", "«"]),
       after=st.sampled_from(["", ". You can find your API key at the console.", ")", " »"]))
@example(key="000000ACTE", echo="dots", n=4, shape="as is", before="", after="")
def test_no_echo_of_a_key_survives(key: str, echo: str, n: int, shape: str, before: str,
                                   after: str) -> None:
    key = "sk-" + key
    text = _ECHOES[echo](key, min(n, len(key)))
    text = {"as is": text, "upper": text.upper(), "lower": text.lower(),
            "percent": quote(text, safe=""), "percent twice": quote(quote(text, safe=""),
                                                                    safe="")}[shape]
    assert leaks(quoted(before + text + after, key), key) == []
