"""Google Gemini's check, against a stand-in of the Gemini API on 127.0.0.1: what each
of Google's answers means, that the key travels only in its header, and that what
the service hands application code works with Google's own SDK."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from connections_core import ConnectionService, ProviderError, test_connection
from connections_core.gemini import check_gemini
from tests.fake_gemini import (
    GEMINI_KEY,
    WRONG_KEY,
    GeminiServer,
    gemini_model,
    google_error,
)
from tests.fakes import unused_url


@pytest.fixture
def gemini_server() -> Iterator[GeminiServer]:
    """A running stand-in of the Gemini API, shut down after the test."""
    server = GeminiServer()
    try:
        yield server
    finally:
        server.close()


def check(server: GeminiServer, key: str = GEMINI_KEY, *, base_url: str | None = None,
          timeout: float = 2):
    return test_connection("gemini", {"apiKey": key, "baseUrl": base_url or server.base_url},
                           timeout=timeout)


# -- a key that works ----------------------------------------------------------------------

def test_lists_the_models_across_pages(gemini_server: GeminiServer) -> None:
    gemini_server.page_size = 2

    result = check(gemini_server)

    assert result.success and result.kind == "ok"
    assert result.models == ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite",
                             "gemini-2.0-flash", "text-embedding-004")
    assert "5 models available" in result.message
    pages = gemini_server.requests_to("/v1beta/models")
    assert len(pages) == 3
    assert [page.query.get("pageSize") for page in pages] == ["1000"] * 3
    assert "pageToken" not in pages[0].query
    assert all("+" in page.query["pageToken"] for page in pages[1:]), \
        "the tokens' + and / arrived quoted, not as spaces"


def test_the_key_travels_only_in_its_header(gemini_server: GeminiServer) -> None:
    gemini_server.page_size = 2

    assert check(gemini_server).success

    sent = gemini_server.requests_to("/v1beta/models")
    assert sent and all(r.headers["x-goog-api-key"] == GEMINI_KEY for r in sent)
    assert all(GEMINI_KEY not in r.path and "key" not in r.query for r in sent)
    assert all("authorization" not in r.headers for r in sent)


def test_the_stand_in_would_take_the_key_in_the_url(gemini_server: GeminiServer) -> None:
    """As Google does: so the test above shows the check's choice, not the stand-in's."""
    answer = requests.get(f"{gemini_server.base_url}/models", params={"key": GEMINI_KEY},
                          timeout=5)
    assert answer.status_code == 200 and len(answer.json()["models"]) == 5


def test_no_models_is_an_empty_object(gemini_server: GeminiServer) -> None:
    gemini_server.models = []
    result = check(gemini_server)
    assert result.success and result.models == ()
    assert "0 models available" in result.message


def test_a_model_id_is_its_name_without_the_prefix(gemini_server: GeminiServer) -> None:
    gemini_server.models = [gemini_model("gemini-2.5-flash"),
                            {**gemini_model("x"), "name": "tunedModels/my-tune"}]
    assert check(gemini_server).models == ("gemini-2.5-flash", "tunedModels/my-tune")


def test_a_page_token_sent_again_ends_the_list(gemini_server: GeminiServer) -> None:
    gemini_server.respond("/v1beta/models", 200, {
        "models": [gemini_model("gemini-2.5-flash")], "nextPageToken": "again"})

    result = check(gemini_server)

    assert result.success and result.models == ("gemini-2.5-flash",) * 2
    assert len(gemini_server.requests_to("/v1beta/models")) == 2


def test_pages_are_followed_a_bounded_number_of_times(gemini_server: GeminiServer) -> None:
    gemini_server.models = [gemini_model(f"gemini-{n}") for n in range(60)]
    gemini_server.page_size = 1

    result = check(gemini_server, timeout=10)

    assert result.success and len(result.models) == 50
    assert len(gemini_server.requests_to("/v1beta/models")) == 50


# -- Google's refusals ---------------------------------------------------------------------

def test_a_wrong_key_is_rejected(gemini_server: GeminiServer) -> None:
    result = check(gemini_server, WRONG_KEY)

    assert result.kind == "auth" and result.status_code == 400
    assert result.message == (
        "Google rejected the API key (400 API_KEY_INVALID). Check that it is correct and "
        "not deleted (Google AI Studio, API keys).")


def test_api_key_not_valid_without_details_is_rejected(gemini_server: GeminiServer) -> None:
    gemini_server.respond("/v1beta/models", 400, google_error(
        400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."))
    result = check(gemini_server)
    assert result.kind == "auth" and "Google rejected the API key" in result.message


def test_an_expired_key_says_so(gemini_server: GeminiServer) -> None:
    gemini_server.respond("/v1beta/models", 400, google_error(
        400, "INVALID_ARGUMENT", "API key expired. Please renew the API key.",
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
         "domain": "googleapis.com"}))
    result = check(gemini_server)
    assert result.kind == "auth" and "has expired (400 API_KEY_INVALID)" in result.message


def test_another_bad_request_is_not_about_the_key(gemini_server: GeminiServer) -> None:
    gemini_server.respond("/v1beta/models", 400, google_error(
        400, "INVALID_ARGUMENT", "Page token is invalid."))
    result = check(gemini_server)
    assert result.kind == "invalid_response"
    assert 'Google Gemini said: "Page token is invalid."' in result.message


@pytest.mark.parametrize(("failure", "says"), [
    ("service_disabled", "the Generative Language API is not enabled in its Google Cloud "
                         "project (403 SERVICE_DISABLED)"),
    ("key_blocked", "(403 API_KEY_SERVICE_BLOCKED): its API restrictions leave out the "
                    "Generative Language API"),
    ("ip_blocked", "(403 API_KEY_IP_ADDRESS_BLOCKED): its application restrictions"),
])
def test_a_refused_key_says_why(gemini_server: GeminiServer, failure: str, says: str) -> None:
    gemini_server.failure = failure

    result = check(gemini_server)

    assert result.kind == "forbidden" and result.status_code == 403
    assert says in result.message and ' Google said: "' in result.message


def test_a_refusal_without_a_reason_is_forbidden(gemini_server: GeminiServer) -> None:
    gemini_server.respond("/v1beta/models", 403, google_error(
        403, "PERMISSION_DENIED", "Your API key was reported as leaked. Please use another "
        "API key."))
    result = check(gemini_server)
    assert result.kind == "forbidden"
    assert result.message.startswith("Google refused access with this key (403 "
                                     "PERMISSION_DENIED)")
    assert "reported as leaked" in result.message


def test_a_refusal_that_quotes_the_key_is_redacted(gemini_server: GeminiServer) -> None:
    gemini_server.failure = "key_blocked"
    gemini_server.echo_key_in_errors = True

    result = check(gemini_server)

    assert result.kind == "forbidden" and "[redacted]" in result.message
    assert GEMINI_KEY not in result.message and GEMINI_KEY[-8:] not in result.message


def test_a_used_up_quota_is_rate_limited(gemini_server: GeminiServer) -> None:
    gemini_server.failure = "quota"
    result = check(gemini_server)
    assert result.kind == "rate_limited" and result.status_code == 429
    assert "exceeded your current quota" in result.message


def test_a_wrong_base_url_is_not_found(gemini_server: GeminiServer) -> None:
    result = check(gemini_server, base_url=f"{gemini_server.url}/v1beta/typo")
    assert result.kind == "not_found" and result.status_code == 404
    assert f"{gemini_server.url}/v1beta/typo/models answered 404" in result.message


@pytest.mark.parametrize(("failure", "status"), [("internal", 500), ("unavailable", 503)])
def test_google_failing_is_a_server_error(gemini_server: GeminiServer, failure: str,
                                          status: int) -> None:
    gemini_server.failure = failure
    result = check(gemini_server)
    assert result.kind == "server_error" and result.status_code == status


@pytest.mark.parametrize("body", [
    {"models": "gemini-2.5-flash"},
    {"models": [{"displayName": "Gemini 2.5 Flash"}]},
    {"models": [{"name": 25}]},
    {"data": [{"id": "gpt-4o"}]},  # an OpenAI-style list: the base URL is another API's
    {"status": "ok"},
    [gemini_model("gemini-2.5-flash")],
    "<html><body>Sign in</body></html>",
], ids=["models-not-a-list", "model-without-name", "name-not-text", "openai-list",
        "other-object", "bare-list", "html"])
def test_an_answer_that_is_not_a_model_list_is_invalid(gemini_server: GeminiServer,
                                                       body: Any) -> None:
    gemini_server.respond("/v1beta/models", 200, body)
    result = check(gemini_server)
    assert result.kind == "invalid_response" and not result.success
    assert "Check that the base URL points at the API itself" in result.message


def test_a_closed_port_is_unreachable() -> None:
    result = test_connection("gemini", {"apiKey": GEMINI_KEY, "baseUrl": unused_url()},
                             timeout=2)
    assert result.kind == "unreachable" and "Can't reach the server" in result.message


def test_a_silent_server_times_out(gemini_server: GeminiServer) -> None:
    gemini_server.delay = 3
    with pytest.raises(ProviderError) as caught:
        check_gemini({"apiKey": GEMINI_KEY, "baseUrl": gemini_server.base_url},
                     requests.Session(), 0.5)
    assert caught.value.kind == "timeout"


def test_the_time_limit_holds_over_all_pages(gemini_server: GeminiServer) -> None:
    gemini_server.models = [gemini_model(f"gemini-{n}") for n in range(40)]
    gemini_server.page_size = 1
    gemini_server.delay = 0.1
    started = time.monotonic()

    result = check(gemini_server, timeout=1)

    assert time.monotonic() - started < 3
    assert result.kind == "timeout"
    assert "did not send all of Google Gemini's model list within 1 s" in result.message


def test_the_key_is_in_no_message_and_no_log(gemini_server: GeminiServer,
                                             caplog: pytest.LogCaptureFixture) -> None:
    gemini_server.page_size = 2
    gemini_server.echo_key_in_errors = True
    with caplog.at_level(logging.DEBUG):
        passed = check(gemini_server)
        wrong = check(gemini_server, WRONG_KEY)
        gemini_server.failure = "service_disabled"
        refused = check(gemini_server)
    assert "/v1beta/models?pageSize=1000" in caplog.text, "urllib3 logged each request"
    for key in (GEMINI_KEY, WRONG_KEY):
        assert key not in caplog.text
        assert all(key not in repr(result) for result in (passed, wrong, refused))


# -- through the service, then Google's SDK --------------------------------------------------

def test_a_gemini_connection_is_checked_and_resolved(service: ConnectionService,
                                                     gemini_server: GeminiServer) -> None:
    created = service.create("gemini", "AI Studio", {"apiKey": GEMINI_KEY,
                                                     "baseUrl": gemini_server.base_url})
    service.set_default(created.id)

    result = service.test(created.id)

    assert result.success and result.models == tuple(gemini_server.model_ids)
    assert service.get(created.id).status == "connected"
    assert service.resolve_config("gemini") == {"apiKey": GEMINI_KEY,
                                                "baseUrl": gemini_server.base_url}


@contextmanager
def sdk_client(config: Mapping[str, str]) -> Iterator[Any]:
    """Google's client, configured from a resolved config: the base URL's last part is
    the API version, as the SDK takes it apart."""
    genai = pytest.importorskip("google.genai")
    origin, _, version = config["baseUrl"].rpartition("/")
    client = genai.Client(api_key=config["apiKey"], http_options=genai.types.HttpOptions(
        base_url=f"{origin}/", api_version=version))
    try:
        yield client
    finally:
        getattr(client, "close", lambda: None)()  # google-genai < 1.4x has no close()


def test_the_sdk_lists_the_models_the_check_found(service: ConnectionService,
                                                  gemini_server: GeminiServer) -> None:
    gemini_server.page_size = 2
    created = service.create("gemini", "AI Studio", {"apiKey": GEMINI_KEY,
                                                     "baseUrl": gemini_server.base_url})
    service.set_default(created.id)
    checked = service.test(created.id)

    with sdk_client(service.resolve_config("gemini")) as client:
        listed = [model.name for model in client.models.list()]

    assert listed == [f"models/{name}" for name in checked.models]
    sent = gemini_server.requests_to("/v1beta/models")
    assert all(r.headers["x-goog-api-key"] == GEMINI_KEY for r in sent)


def test_the_sdk_fails_where_the_check_does(gemini_server: GeminiServer) -> None:
    config = {"apiKey": WRONG_KEY, "baseUrl": gemini_server.base_url}
    genai_errors = pytest.importorskip("google.genai.errors")

    result = test_connection("gemini", config, timeout=2)
    with sdk_client(config) as client, pytest.raises(genai_errors.ClientError) as caught:
        list(client.models.list())

    assert result.kind == "auth"
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    assert "API key not valid" in str(caught.value)
