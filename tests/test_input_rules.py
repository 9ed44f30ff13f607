"""Input rules: what a name, a workspace id, a version and a config may be."""

from __future__ import annotations

import pytest
import responses

from connections_core import (
    ConnectionService,
    KeyRing,
    NotFoundError,
    Store,
    ValidationError,
)
from tests import stores
from tests.fakes import API_KEY, FakeServer

BAD_NAMES = [
    "bad\x00name", "line\nbreak", "tab\there", "bell\x07", "del\x7f", "c1\x85control",
    "invoice\u202etxt.exe", "isolate\u2066x\u2069", "mark\u200fname",
    "\u200b", "\u200b\u200c\u200d\ufeff", "\u2060 \u200b", "lone\ud800surrogate",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_that_do_not_read_as_what_they_are_are_refused(service: ConnectionService,
                                                             name: str) -> None:
    with pytest.raises(ValidationError) as refused:
        service.create("ollama", name, {"baseUrl": "http://127.0.0.1:9"})
    assert "name" in refused.value.field_errors
    created = service.create("ollama", "Fine", {"baseUrl": "http://127.0.0.1:9"})
    before = stores.contents(service.store)
    with pytest.raises(ValidationError):
        service.update(created.id, created.version, name=name)
    assert stores.contents(service.store) == before


@pytest.mark.parametrize("name", ["Ünïcödé ✓", "日本語の接続", "emoji 🚀", "zero\u200bwidth inside",
                                  "مرحبا"])
def test_ordinary_unicode_names_are_kept(service: ConnectionService, name: str) -> None:
    assert service.create("ollama", name, {"baseUrl": "http://127.0.0.1:9"}).name == name


@pytest.mark.parametrize("workspace", BAD_NAMES)
def test_bad_workspace_ids_are_refused(store: Store, keyring: KeyRing,
                                       workspace: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ConnectionService(store, keyring, workspace)
    assert "workspace_id" in refused.value.field_errors


@pytest.mark.parametrize("version", [True, 1.0, "1", None, [1]])
def test_version_must_be_a_whole_number(service: ConnectionService,
                                        version: object) -> None:
    created = service.create("ollama", "Local", {"baseUrl": "http://127.0.0.1:9"})
    before = stores.contents(service.store)
    with pytest.raises(ValidationError) as refused:
        service.update(created.id, version, name="Renamed")  # type: ignore[arg-type]
    assert "version" in refused.value.field_errors
    assert stores.contents(service.store) == before


@pytest.mark.parametrize("value", [12345, ["sk-a"], {"k": "v"}, 1.5, True])
def test_a_non_text_key_in_an_update_is_refused_not_ignored(service: ConnectionService,
                                                            value: object) -> None:
    created = service.create("openai", "Work", {"apiKey": API_KEY,
                                                "baseUrl": "http://127.0.0.1:9/v1"})
    before = stores.contents(service.store)
    with pytest.raises(ValidationError) as refused:
        service.update(created.id, created.version, config={"apiKey": value})
    assert "apiKey" in refused.value.field_errors
    assert stores.contents(service.store) == before


@pytest.mark.parametrize("config", ["apiKey=sk", ["apiKey"], 42, None])
def test_a_config_that_is_not_a_mapping_is_a_validation_error(service: ConnectionService,
                                                              config: object) -> None:
    with pytest.raises(ValidationError) as refused:
        service.create("openai", "Work", config)  # type: ignore[arg-type]
    assert "config" in refused.value.field_errors
    if config is not None:  # None means "leave the config" in update()
        created = service.create("ollama", "Local", {"baseUrl": "http://127.0.0.1:9"})
        with pytest.raises(ValidationError):
            service.update(created.id, created.version, config=config)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            service.test_draft("ollama", config)  # type: ignore[arg-type]


def test_a_long_id_is_not_echoed_back(service: ConnectionService) -> None:
    huge = "x" * 1_000_000
    with pytest.raises(NotFoundError) as missing:
        service.get(huge)
    assert len(str(missing.value)) < 200
    assert missing.value.record_id is None
    with pytest.raises(NotFoundError) as odd:
        service.get("\ud800\x00")
    str(odd.value).encode("utf-8")  # printable, encodable


@responses.activate
def test_a_draft_without_a_base_url_goes_to_the_stored_one_not_the_default(
        service: ConnectionService, fake_server: FakeServer) -> None:
    responses.add_passthru(fake_server.url)
    created = service.create("openai", "Work", {"apiKey": API_KEY,
                                                "baseUrl": fake_server.openai_url})
    result = service.test_draft("openai", {"apiKey": ""}, existing_id=created.id)
    assert result.success, result.message
    assert fake_server.requests_to("/v1/models")[-1].headers["authorization"] \
        == f"Bearer {API_KEY}"
    assert not [c for c in responses.calls if "api.openai.com" in c.request.url], \
        "the stored key never went to the provider's default host"


def test_a_draft_never_borrows_the_key_of_another_provider(service: ConnectionService,
                                                           fake_server: FakeServer) -> None:
    created = service.create("anthropic", "Claude", {"apiKey": API_KEY,
                                                     "baseUrl": fake_server.anthropic_url})
    with pytest.raises(ValidationError) as refused:
        service.test_draft("openai", {"apiKey": "", "baseUrl": fake_server.openai_url},
                           existing_id=created.id)
    assert "type" in refused.value.field_errors
    assert fake_server.requests == []
