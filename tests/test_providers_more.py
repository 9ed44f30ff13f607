"""The providers beyond the first three: the OpenAI-compatible vendors, any
OpenAI-compatible server, Azure OpenAI; and what stays generic over every
provider's secret and destination fields (binding, "enter the key again",
rotation, backups, the audit trail).  Gemini and Bedrock have their own modules.

Each check runs against a stand-in on 127.0.0.1 (``tests/fakes.py``) that
answers as the provider's API reference says, and the official ``openai`` SDK,
given what :meth:`ConnectionService.resolve_config` returns, agrees with it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from connections_core import (
    PROVIDERS,
    ConnectionService,
    DecryptionError,
    KeyRing,
    TinyDBStore,
    ValidationError,
    generate_key,
    test_connection,
)
from connections_core.backup import export_backup, import_backup, read_backup
from connections_core.records import secret_context
from tests.fakes import API_KEY, FakeServer
from tests.support import AWS_ACCESS_KEY_ID, AWS_SECRET_KEY, FakeClock

WRONG_KEY = "sk-wrong-9999999999zzzzQQQQ"
#: The vendors whose check is the OpenAI API's ``GET {baseUrl}/models`` with a bearer key.
VENDORS = ("mistral", "groq", "deepseek", "together", "xai")
PUBLIC_BASE_URLS = {
    "openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
    "mistral": "https://api.mistral.ai/v1", "groq": "https://api.groq.com/openai/v1",
    "openrouter": "https://openrouter.ai/api/v1", "deepseek": "https://api.deepseek.com",
    "together": "https://api.together.xyz/v1", "xai": "https://api.x.ai/v1",
    "ollama": "http://localhost:11434",
}


def check(type: str, **config: str) -> Any:
    return test_connection(type, config, timeout=2)


def no_key_in(server: FakeServer, *keys: str) -> None:
    """No request reached ``server`` with a key in its URL."""
    assert server.requests
    for request in server.requests:
        assert all(key not in request.path for key in keys), request.path


# -- the registry ------------------------------------------------------------------------


def test_every_provider_has_a_group_a_key_page_and_its_public_address() -> None:
    groups = {type: provider.group for type, provider in PROVIDERS.items()}
    assert groups == {"openai": "hosted", "anthropic": "hosted", "gemini": "hosted",
                      "mistral": "hosted", "groq": "hosted", "openrouter": "hosted",
                      "deepseek": "hosted", "together": "hosted", "xai": "hosted",
                      "azure_openai": "cloud", "bedrock": "cloud", "ollama": "local",
                      "openai_compatible": "local"}
    for type, url in PUBLIC_BASE_URLS.items():
        assert PROVIDERS[type].default_base_url == url
    assert all(p.key_url.startswith("https://") for p in PROVIDERS.values())
    assert PROVIDERS["azure_openai"].destination == ("endpoint",)
    assert PROVIDERS["bedrock"].destination == ("region", "endpoint")
    assert PROVIDERS["bedrock"].where({"region": "eu-west-3"}) == \
        "https://bedrock.eu-west-3.amazonaws.com"


@pytest.mark.parametrize(("type", "config", "field", "says"), [
    ("azure_openai", {"endpoint": "https://r.openai.azure.com", "apiKey": API_KEY,
                      "apiVersion": "latest"}, "apiVersion", "must look like 2024-10-21"),
    ("bedrock", {"region": "US East", "accessKeyId": AWS_ACCESS_KEY_ID,
                 "secretAccessKey": AWS_SECRET_KEY}, "region", "must look like us-east-1"),
    ("bedrock", {"region": "us-east-1", "accessKeyId": "my access key id, lower case",
                 "secretAccessKey": AWS_SECRET_KEY}, "accessKeyId", "AKIAIOSFODNN7EXAMPLE"),
    ("openai_compatible", {}, "baseUrl", "Base URL is required"),
    ("azure_openai", {"apiKey": API_KEY}, "endpoint", "Endpoint is required"),
])
def test_a_field_that_does_not_fit_says_what_it_should_look_like(
        type: str, config: dict[str, str], field: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        test_connection(type, config)
    assert says in caught.value.field_errors[field]


# -- the OpenAI-compatible vendors -----------------------------------------------------------


@pytest.mark.parametrize("type", VENDORS)
def test_a_vendor_is_checked_with_its_models_and_its_key_only_in_the_header(
        type: str, fake_server: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    fake_server.openai_bare_list = type == "together"  # Together's list has no "data"
    caplog.set_level(logging.DEBUG)
    result = check(type, apiKey=API_KEY, baseUrl=fake_server.openai_url)
    name = PROVIDERS[type].display_name
    assert (result.success, result.kind, result.models) == (
        True, "ok", ("gpt-4o", "gpt-4o-mini", "o3-mini"))
    assert result.message.startswith(f"Connected to {name} at {fake_server.url}")
    (request,) = fake_server.requests
    assert request.headers["authorization"] == f"Bearer {API_KEY}"

    wrong = check(type, apiKey=WRONG_KEY, baseUrl=fake_server.openai_url)
    assert (wrong.kind, wrong.status_code) == ("auth", 401)
    assert wrong.message.startswith(f"{name} rejected the API key (401)")
    no_key_in(fake_server, API_KEY, WRONG_KEY)
    assert API_KEY not in caplog.text and WRONG_KEY not in caplog.text
    assert WRONG_KEY[:8] not in wrong.message


def test_a_wrong_key_answered_with_400_is_still_about_the_key(fake_server: FakeServer) -> None:
    """xAI answers a wrong key with 400 and a sentence that quotes part of it."""
    fake_server.respond("/v1/models", 400, {
        "code": "Client specified an invalid argument",
        "error": f"Incorrect API key provided: {WRONG_KEY[:4]}***{WRONG_KEY[-4:]}. You can "
                 "obtain an API key from https://console.x.ai."})
    result = check("xai", apiKey=WRONG_KEY, baseUrl=fake_server.openai_url)
    assert (result.kind, result.status_code) == ("auth", 400)
    assert result.message == ("xAI rejected the API key (400). Check that it is correct and "
                              "not revoked.")


def test_openrouter_proves_the_key_although_its_model_list_is_public(
        fake_server: FakeServer) -> None:
    fake_server.openai_keyless = True  # OpenRouter lists its models to anyone
    wrong = check("openrouter", apiKey=WRONG_KEY, baseUrl=fake_server.openai_url)
    assert (wrong.kind, wrong.status_code) == ("auth", 401)
    assert [r.route for r in fake_server.requests] == ["/v1/key"]

    right = check("openrouter", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    assert right.success and len(right.models) == 3
    assert [r.route for r in fake_server.requests[1:]] == ["/v1/key", "/v1/models"]
    assert all(r.headers["authorization"] == f"Bearer {API_KEY}"
               for r in fake_server.requests[1:])


def test_openrouter_answering_something_else_for_a_key_is_an_invalid_response(
        fake_server: FakeServer) -> None:
    fake_server.respond("/v1/key", 200, {"models": []})
    result = check("openrouter", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    assert result.kind == "invalid_response"
    assert "not OpenRouter's description of a key" in result.message


def test_an_openai_compatible_server_without_a_key_gets_no_authorization(
        fake_server: FakeServer) -> None:
    fake_server.openai_keyless = True
    result = check("openai_compatible", baseUrl=fake_server.openai_url)
    assert result.success and result.message.startswith(
        f"Connected to OpenAI-compatible server at {fake_server.url}")
    assert "authorization" not in fake_server.requests[0].headers

    fake_server.openai_keyless = False  # a server started with --api-key
    asks = check("openai_compatible", baseUrl=fake_server.openai_url)
    assert (asks.kind, asks.message) == ("auth", (
        "The OpenAI-compatible server asks for an API key (401): add the key the server "
        "expects to the connection."))
    keyed = check("openai_compatible", baseUrl=fake_server.openai_url, apiKey=API_KEY)
    assert keyed.success


# -- Azure OpenAI ------------------------------------------------------------------------------


def azure(server: FakeServer, **config: str) -> Any:
    return check("azure_openai", **{"endpoint": server.url, "apiKey": API_KEY, **config})


def test_azure_lists_the_resources_models_with_the_key_in_api_key(
        fake_server: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    result = azure(fake_server)
    assert result.success and result.models == ("gpt-4o", "gpt-4o-mini", "o3-mini")
    assert result.message.startswith(f"Connected to Azure OpenAI at {fake_server.url}")
    (request,) = fake_server.requests
    assert (request.route, request.query) == ("/openai/models", {"api-version": "2024-10-21"})
    assert request.headers["api-key"] == API_KEY and "authorization" not in request.headers
    no_key_in(fake_server, API_KEY)
    assert API_KEY not in caplog.text


def test_azure_tells_a_wrong_key_from_a_wrong_endpoint_or_version(
        fake_server: FakeServer) -> None:
    wrong_key = azure(fake_server, apiKey=WRONG_KEY)
    assert (wrong_key.kind, wrong_key.status_code) == ("auth", 401)
    assert "one of this resource's two keys" in wrong_key.message

    wrong_version = azure(fake_server, apiVersion="2023-01-01")
    assert (wrong_version.kind, wrong_version.status_code) == ("not_found", 404)
    assert "API version 2023-01-01" in wrong_version.message

    wrong_endpoint = azure(fake_server, endpoint=f"{fake_server.url}/not-azure")
    assert wrong_endpoint.kind == "not_found"
    assert f"{fake_server.url}/openai/models answered 404" in wrong_endpoint.message
    preview = azure(fake_server, apiVersion="2025-04-01-preview")
    assert preview.success


# -- the official SDK agrees ------------------------------------------------------------------


def service_on(path: Path, keyring: KeyRing | None = None) -> ConnectionService:
    return ConnectionService(TinyDBStore(path), keyring or KeyRing(generate_key()),
                             clock=FakeClock(), timeout=2.0)


def test_the_openai_sdk_reads_what_resolve_config_gives_where_the_check_passed(
        tmp_path: Path, fake_server: FakeServer) -> None:
    openai = pytest.importorskip("openai")
    service = service_on(tmp_path / "connections.json")
    for type in ("mistral", "openai_compatible"):
        made = service.create(type, type, {"apiKey": API_KEY, "baseUrl": fake_server.openai_url})
        service.set_default(made.id)
        assert service.test(made.id).success
    azure_made = service.create("azure_openai", "Azure", {"endpoint": fake_server.url,
                                                          "apiKey": API_KEY})
    service.set_default(azure_made.id)
    assert service.test(azure_made.id).success

    mistral = service.resolve_config("mistral")
    assert mistral == {"apiKey": API_KEY, "baseUrl": fake_server.openai_url}
    client = openai.OpenAI(api_key=mistral["apiKey"], base_url=mistral["baseUrl"])
    assert [m.id for m in client.models.list()] == ["gpt-4o", "gpt-4o-mini", "o3-mini"]

    config = service.resolve_config("azure_openai")
    assert config == {"endpoint": fake_server.url, "apiKey": API_KEY, "apiVersion": "2024-10-21"}
    client = openai.AzureOpenAI(api_key=config["apiKey"], azure_endpoint=config["endpoint"],
                                api_version=config["apiVersion"], max_retries=0)
    assert [m.id for m in client.models.list()] == ["gpt-4o", "gpt-4o-mini", "o3-mini"]
    assert fake_server.requests[-1].headers["api-key"] == API_KEY

    # Where the check fails, so does the SDK.
    service.update(azure_made.id, service.get(azure_made.id).version,
                   config={"apiKey": WRONG_KEY})
    assert service.test(azure_made.id).kind == "auth"
    wrong = service.resolve_config("azure_openai")
    with pytest.raises(openai.AuthenticationError):
        openai.AzureOpenAI(api_key=wrong["apiKey"], azure_endpoint=wrong["endpoint"],
                           api_version=wrong["apiVersion"], max_retries=0).models.list()

    fake_server.openai_keyless = True
    local = service.create("openai_compatible", "vLLM", {"baseUrl": fake_server.openai_url})
    assert service.test(local.id).success
    keyless = service.get(local.id).config
    assert "apiKey" not in keyless
    client = openai.OpenAI(base_url=keyless["baseUrl"], api_key="not-needed", max_retries=0)
    assert len(client.models.list().data) == 3


# -- generic over secret and destination fields -------------------------------------------------


BEDROCK = {"region": "us-east-1", "accessKeyId": AWS_ACCESS_KEY_ID,
           "secretAccessKey": AWS_SECRET_KEY, "sessionToken": "FwoGZXIvYXdzEXAMPLEtoken1234"}


def test_a_base_url_providers_keys_are_bound_as_before() -> None:
    """Tokens stored before providers had other destinations still decrypt: the context
    of a base-URL provider's key is what it always was."""
    record = {"workspace_id": "default", "id": "a", "type": "openai",
              "config": {"baseUrl": "https://api.openai.com/v1", "apiKey": "v2:..."}}
    assert secret_context(record, "apiKey") == {
        "workspace": "default", "id": "a", "field": "apiKey",
        "baseUrl": "https://api.openai.com/v1"}
    bedrock = {**record, "type": "bedrock", "config": {"region": "us-east-1"}}
    assert secret_context(bedrock, "secretAccessKey") == {
        "workspace": "default", "id": "a", "field": "secretAccessKey",
        "region": "us-east-1", "endpoint": None}


def test_every_secret_of_a_provider_is_sealed_masked_and_bound_to_where_it_goes(
        tmp_path: Path) -> None:
    path = tmp_path / "connections.json"
    key = generate_key()
    service = service_on(path, KeyRing(key))
    made = service.create("bedrock", "AWS", BEDROCK, initial_status="connected")
    service.set_default(made.id)
    stored = path.read_text()
    assert AWS_SECRET_KEY not in stored and BEDROCK["sessionToken"] not in stored
    shown = service.get(made.id)
    assert shown.config["secretAccessKey"].endswith(AWS_SECRET_KEY[-4:])
    assert shown.config["has_sessionToken"] is True
    assert AWS_SECRET_KEY not in repr(shown) and BEDROCK["sessionToken"] not in repr(shown)
    assert shown.where == "https://bedrock.us-east-1.amazonaws.com"
    assert service.resolve_config("bedrock") == BEDROCK

    # Someone who can write the file moves the connection to their own endpoint.
    data = json.loads(path.read_text())
    (record,) = data["connections"].values()
    record["config"]["endpoint"] = "https://attacker.example"
    path.write_text(json.dumps(data))
    with pytest.raises(DecryptionError, match="'AWS'"):
        service_on(path, KeyRing(key)).resolve_config("bedrock")


@pytest.mark.parametrize(("type", "config", "move", "says"), [
    ("azure_openai", {"endpoint": "https://a.openai.azure.com", "apiKey": API_KEY},
     {"endpoint": "https://b.openai.azure.com"}, "the endpoint changed"),
    ("bedrock", BEDROCK, {"region": "eu-west-1"}, "the region changed"),
    ("bedrock", BEDROCK, {"endpoint": "https://vpce.example"}, "the endpoint changed"),
])
def test_changing_where_keys_go_needs_each_key_again(
        tmp_path: Path, type: str, config: dict[str, str], move: dict[str, str],
        says: str) -> None:
    service = service_on(tmp_path / "connections.json")
    made = service.create(type, "Mine", config, initial_status="connected")
    assert service.needs_key_again(made.id, move)
    with pytest.raises(ValidationError) as caught:
        service.update(made.id, made.version, config=move)
    secrets = PROVIDERS[type].secret_fields
    assert set(caught.value.field_errors) == set(secrets)
    assert all(says in message for message in caught.value.field_errors.values())
    # With every key typed again, the move is saved, and the keys go with it.
    again = {**move, **{f: config[f] for f in secrets}}
    updated = service.update(made.id, made.version, config=again)
    assert all(updated.config[f] == value for f, value in move.items())


def test_a_change_that_keeps_keys_where_they_go_needs_no_key(tmp_path: Path) -> None:
    service = service_on(tmp_path / "connections.json")
    made = service.create("azure_openai", "Azure", {"endpoint": "https://a.openai.azure.com",
                                                    "apiKey": API_KEY}, initial_status="connected")
    assert not service.needs_key_again(made.id, {"apiVersion": "2025-04-01-preview"})
    service.update(made.id, made.version, config={"apiVersion": "2025-04-01-preview"})
    (entry, *_) = service.audit(action="connection.updated")
    assert entry.details["fields"] == ["apiVersion"]

    bedrock = service.create("bedrock", "AWS", BEDROCK, initial_status="connected")
    service.update(bedrock.id, bedrock.version,
                   config={"sessionToken": "FwoGZXIvYXdzNEWtoken5678"})
    (entry, *_) = service.audit(action="connection.updated")
    assert entry.details["fields"] == ["sessionToken"]
    assert "FwoGZXIvYXdzNEWtoken5678" not in json.dumps(dict(entry.details))


def test_rotation_reencrypts_every_secret_of_every_provider(tmp_path: Path) -> None:
    path = tmp_path / "connections.json"
    old, new = generate_key(), generate_key()
    before = service_on(path, KeyRing(old))
    made = before.create("bedrock", "AWS", BEDROCK, initial_status="connected")
    before.set_default(made.id)
    before.create("azure_openai", "Azure", {"endpoint": "https://a.openai.azure.com",
                                            "apiKey": API_KEY}, initial_status="connected")
    rotating = service_on(path, KeyRing(new, old))
    residual = rotating.residual_secrets()
    assert sorted((r.field, r.base_url) for r in residual) == [
        ("apiKey", "https://a.openai.azure.com"),
        ("secretAccessKey", "us-east-1"), ("sessionToken", "us-east-1")]
    assert rotating.rotate_keys() == 3
    assert service_on(path, KeyRing(new)).resolve_config("bedrock") == BEDROCK


def test_a_backup_carries_every_secret_bound_to_where_it_goes(tmp_path: Path) -> None:
    source = service_on(tmp_path / "a.json")
    made = source.create("bedrock", "AWS", BEDROCK, initial_status="connected")
    source.set_default(made.id)
    data = export_backup(source, ["default"], "a long passphrase", scrypt_n=2 ** 14)
    assert AWS_SECRET_KEY.encode() not in data and BEDROCK["sessionToken"].encode() not in data
    target = service_on(tmp_path / "b.json")
    import_backup(target, read_backup(data, "a long passphrase"))
    assert target.resolve_config("bedrock") == BEDROCK


def test_the_readmes_table_has_a_row_for_each_provider_with_its_defaults() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Providers", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip().strip("`"): line
            for line in section.splitlines() if line.startswith("| `")}
    assert set(rows) == set(PROVIDERS)
    for type, provider in PROVIDERS.items():
        for spec in provider.fields:
            assert f"`{spec.name}`" in rows[type], (type, spec.name)
            if spec.default:
                assert spec.default in rows[type], (type, spec.default)
