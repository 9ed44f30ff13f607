"""Amazon Bedrock's check, against a stand-in that verifies every request's signature.

The stand-in (:mod:`tests.fake_bedrock`) recomputes each Signature Version 4 from
the request it received and the secret it holds, so a check passes only if it
signed with the right secret; a wrong one is refused as AWS refuses it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from connections_core import ConnectionService, test_connection
from tests.fake_bedrock import FakeBedrock
from tests.support import AWS_ACCESS_KEY_ID, AWS_SECRET_KEY

TEMPORARY_KEY_ID = "ASIATEMPORARYKEY4567"
TEMPORARY_SECRET = "tEmPsEcReT/9876543210zyxwvutsrqPONMLKJIH"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKEN/0123456789+abcdefghijKLMNOP=="


@pytest.fixture
def bedrock() -> Iterator[FakeBedrock]:
    """A running :class:`FakeBedrock` for us-east-1 that knows the test key, and a
    temporary key with its session token."""
    server = FakeBedrock()
    server.keys[TEMPORARY_KEY_ID] = TEMPORARY_SECRET
    server.tokens[TEMPORARY_KEY_ID] = SESSION_TOKEN
    try:
        yield server
    finally:
        server.close()


def config_for(bedrock: FakeBedrock, **changes: str) -> dict[str, str]:
    return {"region": "us-east-1", "accessKeyId": AWS_ACCESS_KEY_ID,
            "secretAccessKey": AWS_SECRET_KEY, "endpoint": bedrock.url, **changes}


def temporary(bedrock: FakeBedrock, **changes: str) -> dict[str, str]:
    return config_for(bedrock, **{"accessKeyId": TEMPORARY_KEY_ID,
                                  "secretAccessKey": TEMPORARY_SECRET,
                                  "sessionToken": SESSION_TOKEN, **changes})


def check(config: dict[str, str]) -> Any:
    return test_connection("bedrock", config, timeout=5)


# -- a check that passes ------------------------------------------------------------------

def test_a_signed_check_lists_the_regions_models(bedrock: FakeBedrock) -> None:
    result = check(config_for(bedrock))
    assert result.success and result.kind == "ok", result.message
    assert result.models == ("anthropic.claude-3-5-haiku-20241022-v1:0",
                             "amazon.nova-lite-v1:0", "meta.llama3-1-8b-instruct-v1:0")
    assert result.message == f"Connected to Amazon Bedrock at {bedrock.url}: 3 models available."
    assert bedrock.verified == 1 and bedrock.refused == []


def test_temporary_credentials_sign_their_session_token(bedrock: FakeBedrock) -> None:
    result = check(temporary(bedrock))
    assert result.success, result.message
    assert bedrock.verified == 1


def test_an_endpoint_with_a_trailing_slash_reaches_the_same_list(bedrock: FakeBedrock) -> None:
    assert check(config_for(bedrock, endpoint=bedrock.url + "/")).success


# -- credentials AWS rejects --------------------------------------------------------------

def test_a_wrong_secret_fails_the_signature(bedrock: FakeBedrock) -> None:
    result = check(config_for(bedrock, secretAccessKey="wRoNgSeCrEt/0123456789abcdefghijKLMNOPq"))
    assert result.kind == "auth" and result.status_code == 403
    assert "secret access key is wrong" in result.message
    assert "InvalidSignatureException" in result.message
    assert bedrock.refused == ["InvalidSignatureException"] and bedrock.verified == 0


def test_an_unknown_key_id_is_unrecognized(bedrock: FakeBedrock) -> None:
    result = check(config_for(bedrock, accessKeyId="AKIANOBODYKNOWSTHIS0"))
    assert result.kind == "auth" and result.status_code == 403
    assert result.message.startswith("AWS does not recognize the access key ID (403 "
                                     "UnrecognizedClientException)")


def test_a_temporary_key_without_its_token_asks_for_the_token(bedrock: FakeBedrock) -> None:
    config = temporary(bedrock)
    del config["sessionToken"]
    result = check(config)
    assert result.kind == "auth" and "UnrecognizedClientException" in result.message
    assert "temporary key (ASIA…)" in result.message and "session token" in result.message


def test_a_session_token_of_other_credentials_is_unrecognized(bedrock: FakeBedrock) -> None:
    result = check(temporary(bedrock, sessionToken="IQoJb3JpZ2luX2VjOTHERtoken0123456789=="))
    assert result.kind == "auth"
    assert "with this session token" in result.message


def test_an_expired_session_token_says_get_new_credentials(bedrock: FakeBedrock) -> None:
    bedrock.expired_tokens.add(SESSION_TOKEN)
    result = check(temporary(bedrock))
    assert result.kind == "auth" and result.status_code == 403
    assert result.message.startswith("The session token has expired (403 "
                                     "ExpiredTokenException)")


@pytest.mark.parametrize("offset", [timedelta(hours=1), -timedelta(hours=1)])
def test_a_clock_far_from_aws_says_set_the_clock(bedrock: FakeBedrock,
                                                 offset: timedelta) -> None:
    bedrock.clock_offset = offset
    result = check(config_for(bedrock))
    assert result.kind == "auth"
    assert "clock is off by more than 5 minutes" in result.message


def test_an_endpoint_of_another_region_names_the_mismatch(bedrock: FakeBedrock) -> None:
    result = check(config_for(bedrock, region="eu-west-1"))
    assert result.kind == "auth"
    assert result.message.startswith("The endpoint does not serve region eu-west-1")


def test_an_error_type_in_the_body_is_read_too(bedrock: FakeBedrock) -> None:
    bedrock.fail_with(403, "ExpiredTokenException",
                      "The security token included in the request is expired", in_body=True)
    result = check(config_for(bedrock))
    assert result.kind == "auth" and "session token has expired" in result.message


# -- other refusals ------------------------------------------------------------------------

def test_missing_permission_is_forbidden_and_names_the_action(bedrock: FakeBedrock) -> None:
    bedrock.denied.add(AWS_ACCESS_KEY_ID)
    result = check(config_for(bedrock))
    assert result.kind == "forbidden" and result.status_code == 403
    assert result.message.startswith(
        "The credentials are valid but lack bedrock:ListFoundationModels (403 "
        "AccessDeniedException); add it to the IAM policy")
    assert "arn:aws:iam::111122223333:user/checker is not authorized" in result.message


@pytest.mark.parametrize("status", [429, 400])
def test_throttling_is_rate_limited(bedrock: FakeBedrock, status: int) -> None:
    bedrock.fail_with(status, "ThrottlingException", "Too many requests, please wait before "
                                                     "trying again.")
    result = check(config_for(bedrock))
    assert result.kind == "rate_limited" and result.status_code == status
    assert "ThrottlingException" in result.message


def test_a_validation_error_is_an_invalid_request_quoting_aws(bedrock: FakeBedrock) -> None:
    bedrock.fail_with(400, "ValidationException", "1 validation error detected: Value 'X' "
                                                  "at 'byProvider' failed to satisfy constraint")
    result = check(config_for(bedrock))
    assert result.kind == "invalid_response" and result.status_code == 400
    assert "ValidationException" in result.message and "1 validation error" in result.message


@pytest.mark.parametrize(("status", "error_type"), [(500, "InternalServerException"),
                                                    (503, "ServiceUnavailableException")])
def test_a_server_error_says_try_later(bedrock: FakeBedrock, status: int,
                                       error_type: str) -> None:
    bedrock.fail_with(status, error_type, "Internal server error")
    result = check(config_for(bedrock))
    assert result.kind == "server_error" and result.status_code == status
    assert f"({status} {error_type})" in result.message


def test_a_wrong_path_is_not_found(bedrock: FakeBedrock) -> None:
    result = check(config_for(bedrock, endpoint=f"{bedrock.url}/model"))
    assert result.kind == "not_found" and result.status_code == 404
    assert "/model/foundation-models answered 404 UnknownOperationException" in result.message
    assert "not bedrock-runtime" in result.message


@pytest.mark.parametrize("body", [
    b"<html>Bedrock</html>",
    b'{"models": []}',
    b'{"modelSummaries": {"modelId": "x"}}',
    b'{"modelSummaries": [{"modelName": "Nova"}]}',
    b'[{"modelId": "x"}]',
])
def test_a_body_that_is_not_a_model_list_is_invalid(bedrock: FakeBedrock, body: bytes) -> None:
    bedrock.body = body
    result = check(config_for(bedrock))
    assert result.kind == "invalid_response" and not result.models
    assert bedrock.url in result.message


# -- a region without an endpoint ----------------------------------------------------------

def unresolvable(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
    except socket.gaierror:
        return True
    return False


def test_a_region_that_does_not_exist_is_named() -> None:
    host = "bedrock.xx-nowhere-9.amazonaws.com"
    if not unresolvable(host):
        pytest.skip(f"{host} resolves here")
    config = {"region": "xx-nowhere-9", "accessKeyId": AWS_ACCESS_KEY_ID,
              "secretAccessKey": AWS_SECRET_KEY}
    result = check(config)
    assert result.kind == "unreachable"
    assert result.message == (
        "There is no Bedrock endpoint for region 'xx-nowhere-9' (bedrock.xx-nowhere-9."
        "amazonaws.com does not resolve): check the region code, e.g. us-east-1.")


def test_a_real_region_that_does_not_resolve_blames_the_network() -> None:
    """A DNS failure for us-east-1 is this machine's, not a wrong region code."""
    host = "bedrock.us-east-1.amazonaws.com"
    if not unresolvable(host):
        pytest.skip(f"{host} resolves here: the check would reach AWS")
    result = check({"region": "us-east-1", "accessKeyId": AWS_ACCESS_KEY_ID,
                    "secretAccessKey": AWS_SECRET_KEY})
    assert result.kind == "unreachable"
    assert "though us-east-1 is a Bedrock region: check this machine's network" in result.message


def test_a_custom_endpoint_that_does_not_resolve_is_not_blamed_on_the_region() -> None:
    result = check({"region": "us-east-1", "accessKeyId": AWS_ACCESS_KEY_ID,
                    "secretAccessKey": AWS_SECRET_KEY,
                    "endpoint": "https://vpce-0123.bedrock.no-such-host.invalid"})
    assert result.kind == "unreachable" and "region" not in result.message
    assert "could not be resolved" in result.message


# -- secrets stay secret -------------------------------------------------------------------

def test_no_message_or_log_holds_the_secret_or_the_token(
        bedrock: FakeBedrock, caplog: pytest.LogCaptureFixture) -> None:
    messages = []
    with caplog.at_level(logging.DEBUG):
        messages.append(check(temporary(bedrock)).message)
        bedrock.expired_tokens.add(SESSION_TOKEN)
        messages.append(check(temporary(bedrock)).message)
        messages.append(check(temporary(bedrock, secretAccessKey=AWS_SECRET_KEY)).message)
        bedrock.expired_tokens.clear()
        # A server that echoes what it was sent: its message is quoted, redacted.
        bedrock.fail_with(400, "ValidationException",
                          f"bad values {TEMPORARY_SECRET} and {SESSION_TOKEN}")
        messages.append(check(temporary(bedrock)).message)
    assert len(messages) == 4 and "[redacted]" in messages[-1]
    assert "CanonicalRequest" not in caplog.text, "botocore's signer logs the token"
    for secret in (TEMPORARY_SECRET, SESSION_TOKEN, AWS_SECRET_KEY):
        assert secret not in caplog.text
        assert all(secret not in message for message in messages)


# -- the whole path: a saved connection, then the SDK with its config ----------------------

def test_a_saved_connection_checks_and_resolves_for_the_sdk(
        service: ConnectionService, bedrock: FakeBedrock) -> None:
    created = service.create("bedrock", "AWS", config_for(bedrock))
    result = service.test(created.id)
    assert result.success, result.message
    assert "amazon.nova-lite-v1:0" in result.models
    service.set_default(created.id)
    assert service.resolve_config("bedrock") == {
        "region": "us-east-1", "accessKeyId": AWS_ACCESS_KEY_ID,
        "secretAccessKey": AWS_SECRET_KEY, "endpoint": bedrock.url}


def sdk_client(config: dict[str, str]) -> Any:
    boto3 = pytest.importorskip("boto3")
    return boto3.client("bedrock", region_name=config["region"],
                        aws_access_key_id=config["accessKeyId"],
                        aws_secret_access_key=config["secretAccessKey"],
                        aws_session_token=config.get("sessionToken"),
                        endpoint_url=config["endpoint"])


def test_the_sdk_lists_models_with_the_resolved_config(
        service: ConnectionService, bedrock: FakeBedrock) -> None:
    service.create("bedrock", "AWS", temporary(bedrock))
    config = service.resolve_config("bedrock")
    listed = sdk_client(config).list_foundation_models()
    assert [m["modelId"] for m in listed["modelSummaries"]] == [
        "anthropic.claude-3-5-haiku-20241022-v1:0", "amazon.nova-lite-v1:0",
        "meta.llama3-1-8b-instruct-v1:0"]
    assert bedrock.verified == 1


def test_the_sdk_fails_where_the_check_failed(service: ConnectionService,
                                              bedrock: FakeBedrock) -> None:
    botocore_exceptions = pytest.importorskip("botocore.exceptions")
    created = service.create("bedrock", "AWS", config_for(
        bedrock, secretAccessKey="wRoNgSeCrEt/0123456789abcdefghijKLMNOPq"))
    assert service.test(created.id).kind == "auth"
    with pytest.raises(botocore_exceptions.ClientError) as refused:
        sdk_client(service.resolve_config("bedrock")).list_foundation_models()
    assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert bedrock.refused == ["InvalidSignatureException", "InvalidSignatureException"]
