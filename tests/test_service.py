"""ConnectionService: the operations users perform, on a real store and real keys."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import responses

from connections_core import (
    ConflictError,
    ConnectionService,
    DecryptionError,
    EncryptionKeyError,
    KeyRing,
    NotFoundError,
    Store,
    TinyDBStore,
    ValidationError,
    generate_key,
)
from tests import stores
from tests.support import ANTHROPIC_KEY, OPENAI_KEY, FakeClock

OPENAI = "https://api.openai.com/v1"


def add_openai(service: ConnectionService, name: str = "Work", **config: str):
    return service.create("openai", name, {"apiKey": OPENAI_KEY, **config})


# -- create and validation ---------------------------------------------------------------

def test_create_returns_a_typed_connection_with_a_masked_key(service: ConnectionService) -> None:
    created = add_openai(service, "  Work  ")
    assert created.name == "Work"
    assert created.type == "openai" and created.workspace_id == "default"
    assert created.config == {"apiKey": "••••WXYZ", "has_apiKey": True, "baseUrl": OPENAI}
    assert created.status == "unconfigured" and created.version == 1
    assert created.is_default


def test_first_of_each_type_becomes_default(service: ConnectionService) -> None:
    first = add_openai(service, "one")
    second = add_openai(service, "two")
    ollama = service.create("ollama", "local", {})
    assert first.is_default and not second.is_default and ollama.is_default


def test_list_is_newest_first_and_filters_by_type(service: ConnectionService) -> None:
    add_openai(service, "old")
    service.create("ollama", "local", {})
    add_openai(service, "new")
    assert [c.name for c in service.list()] == ["new", "local", "old"]
    assert [c.name for c in service.list("openai")] == ["new", "old"]


def test_initial_status_is_kept(service: ConnectionService) -> None:
    assert service.create("ollama", "l", {}, initial_status="connected").status == "connected"


@pytest.mark.parametrize(("type", "name", "config", "field"), [
    ("openai", "", {"apiKey": OPENAI_KEY}, "name"),
    ("openai", "x" * 101, {"apiKey": OPENAI_KEY}, "name"),
    ("llamafile", "n", {}, "type"),
    ("openai", "n", {}, "apiKey"),
    ("openai", "n", {"apiKey": "short"}, "apiKey"),
    ("openai", "n", {"apiKey": "k" * 501}, "apiKey"),
    ("openai", "n", {"apiKey": OPENAI_KEY, "baseUrl": "ftp://host"}, "baseUrl"),
    ("openai", "n", {"apiKey": OPENAI_KEY, "baseUrl": "not a url"}, "baseUrl"),
    ("openai", "n", {"apiKey": OPENAI_KEY, "organization": "o" * 256}, "organization"),
    ("openai", "n", {"apiKey": OPENAI_KEY, "extra": "x"}, "extra"),
    ("anthropic", "n", {"apiKey": 12345678901}, "apiKey"),
    ("ollama", "n", {"baseUrl": "http://user:pw@host:11434"}, "baseUrl"),
])
def test_invalid_input_names_the_field(service: ConnectionService, type: str, name: str,
                                       config: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        service.create(type, name, config)
    assert field in caught.value.field_errors
    assert service.list() == [], "nothing is written"


def test_all_bad_fields_are_reported_at_once(service: ConnectionService) -> None:
    with pytest.raises(ValidationError) as caught:
        service.create("openai", "", {"apiKey": "x", "baseUrl": "nope"})
    assert set(caught.value.field_errors) == {"name", "apiKey", "baseUrl"}


def test_validation_error_does_not_echo_the_key(service: ConnectionService) -> None:
    bad_key = "sk-has a space-0123456789"
    with pytest.raises(ValidationError) as caught:
        service.create("openai", "n", {"apiKey": bad_key})
    assert bad_key not in str(caught.value)


def test_base_url_trailing_slash_is_removed(service: ConnectionService) -> None:
    created = service.create("ollama", "l", {"baseUrl": "http://127.0.0.1:11434/"})
    assert created.base_url == "http://127.0.0.1:11434"


# -- secrets ---------------------------------------------------------------------------------

def test_key_appears_nowhere_in_plaintext(service: ConnectionService,
                                          caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        created = add_openai(service)
        service.create("anthropic", "Claude", {"apiKey": ANTHROPIC_KEY})
        service.update(created.id, created.version, name="Renamed")
        listed = service.list()
    stored = stores.contents(service.store)  # the audit trail too
    text = json.dumps(stored)
    if isinstance(service.store, TinyDBStore):
        text += service.store.path.read_text()  # the file's very bytes
    for secret in (OPENAI_KEY, ANTHROPIC_KEY):
        assert secret not in text
        assert secret not in repr(listed) and secret not in repr(service.get(created.id))
        assert secret not in caplog.text
    tokens = [*stores.secrets(service.store), stored["key_check"]["key_check"]]
    assert [token[:3] for token in tokens] == ["v2:"] * 3, \
        "two secrets and the key check, all encrypted and bound"


def test_resolve_config_returns_the_default_decrypted(service: ConnectionService) -> None:
    add_openai(service, organization="org-1")
    assert service.resolve_config("openai") == {
        "apiKey": OPENAI_KEY, "baseUrl": OPENAI, "organization": "org-1"}


def test_resolve_config_by_id(service: ConnectionService) -> None:
    add_openai(service, "first")
    second = service.create("openai", "second", {"apiKey": "sk-second-key-00000"})
    assert service.resolve_config("openai", second.id)["apiKey"] == "sk-second-key-00000"


def test_resolve_config_without_connection_says_so(service: ConnectionService) -> None:
    with pytest.raises(NotFoundError, match="no Anthropic connection"):
        service.resolve_config("anthropic")


def test_undecryptable_record_fails_alone(store: Store, key: str) -> None:
    service = ConnectionService(store, KeyRing(key))
    broken = add_openai(service, "broken")
    fine = service.create("anthropic", "fine", {"apiKey": ANTHROPIC_KEY})
    token = stores.connection(store, broken.id)["config"]["apiKey"]
    stores.edit_config(store, broken.id, apiKey=stores.tampered(token))
    with pytest.raises(DecryptionError, match="'broken'") as caught:
        service.resolve_config("openai")
    assert caught.value.record_id == broken.id
    assert service.resolve_config("anthropic")["apiKey"] == ANTHROPIC_KEY
    assert len(service.list()) == 2, "listing decrypts nothing"
    assert service.get(fine.id).name == "fine"


# -- update ---------------------------------------------------------------------------------

def test_update_renames_and_bumps_version(service: ConnectionService) -> None:
    created = add_openai(service)
    updated = service.update(created.id, created.version, name="Renamed")
    assert updated.name == "Renamed" and updated.version == 2
    assert service.get(created.id).name == "Renamed"


def test_stale_version_is_a_conflict(service: ConnectionService) -> None:
    created = add_openai(service)
    service.update(created.id, created.version, name="first edit")
    with pytest.raises(ConflictError, match="changed by someone else"):
        service.update(created.id, created.version, name="second edit")
    assert service.get(created.id).name == "first edit"


def test_config_without_key_keeps_the_stored_key(service: ConnectionService) -> None:
    created = add_openai(service)
    service.update(created.id, 1, config={"organization": "org-9", "apiKey": ""})
    assert service.resolve_config("openai") == {
        "apiKey": OPENAI_KEY, "baseUrl": OPENAI, "organization": "org-9"}


def test_masked_config_read_back_keeps_the_key(service: ConnectionService) -> None:
    created = add_openai(service)
    service.update(created.id, 1, config=dict(created.config))
    assert service.resolve_config("openai")["apiKey"] == OPENAI_KEY


def test_new_key_replaces_the_old(service: ConnectionService) -> None:
    created = add_openai(service)
    updated = service.update(created.id, 1, config={"apiKey": "sk-brand-new-key-7777"})
    assert updated.config["apiKey"] == "••••7777"
    assert service.resolve_config("openai")["apiKey"] == "sk-brand-new-key-7777"


def test_changing_base_url_requires_the_key_again(service: ConnectionService) -> None:
    created = add_openai(service)
    with pytest.raises(ValidationError) as caught:
        service.update(created.id, 1, config={"baseUrl": "https://attacker.example/v1"})
    assert "apiKey" in caught.value.field_errors
    assert service.resolve_config("openai")["baseUrl"] == OPENAI
    moved = service.update(created.id, 1, config={"baseUrl": "https://proxy.example/v1",
                                                  "apiKey": OPENAI_KEY})
    assert moved.base_url == "https://proxy.example/v1"


def test_empty_optional_field_clears_it(service: ConnectionService) -> None:
    created = add_openai(service, organization="org-1")
    updated = service.update(created.id, 1, config={"organization": ""})
    assert "organization" not in updated.config


@responses.activate
def test_changed_config_resets_status(service: ConnectionService) -> None:
    responses.get(f"{OPENAI}/models", json={"object": "list", "data": [{"id": "gpt-4o"}]})
    created = add_openai(service)
    service.test(created.id)
    assert service.get(created.id).status == "connected"
    updated = service.update(created.id, 1, config={"organization": "org-2"})
    assert updated.status == "unconfigured" and updated.last_result is None


@responses.activate
def test_rename_keeps_status(service: ConnectionService) -> None:
    responses.get(f"{OPENAI}/models", json={"object": "list", "data": []})
    created = add_openai(service)
    service.test(created.id)
    assert service.update(created.id, 1, name="New name").status == "connected"


def test_update_that_changes_nothing_keeps_version(service: ConnectionService) -> None:
    created = add_openai(service)
    same = service.update(created.id, 1, name="Work", config={"apiKey": OPENAI_KEY})
    assert same.version == 1


# -- delete, restore and defaults --------------------------------------------------------------

def test_delete_is_soft_and_restore_brings_it_back(service: ConnectionService) -> None:
    created = add_openai(service)
    service.delete(created.id)
    assert service.list() == []
    assert [c.id for c in service.list_deleted()] == [created.id]
    restored = service.restore(created.id)
    assert restored.deleted_at is None and restored.is_default
    assert service.list_deleted() == []


def test_deleting_the_default_promotes_the_oldest(service: ConnectionService) -> None:
    first = add_openai(service, "first")
    second = add_openai(service, "second")
    third = add_openai(service, "third")
    service.set_default(third.id)
    service.delete(third.id)
    assert service.get_default("openai").id == first.id  # type: ignore[union-attr]
    service.restore(third.id)
    assert not service.get(third.id).is_default, "restoring does not steal the default"
    assert sum(c.is_default for c in service.list("openai")) == 1
    assert second.id in {c.id for c in service.list("openai")}


def test_deleting_the_last_leaves_no_default(service: ConnectionService) -> None:
    created = add_openai(service)
    service.delete(created.id)
    assert service.get_default("openai") is None


def test_set_default_leaves_other_types_alone(service: ConnectionService) -> None:
    add_openai(service, "a")
    b = add_openai(service, "b")
    local = service.create("ollama", "local", {})
    service.set_default(b.id)
    assert service.get_default("openai").id == b.id  # type: ignore[union-attr]
    assert service.get_default("ollama").id == local.id  # type: ignore[union-attr]
    assert sum(c.is_default for c in service.list("openai")) == 1


def test_deleted_connection_cannot_be_edited_or_made_default(service: ConnectionService) -> None:
    created = add_openai(service)
    service.delete(created.id)
    with pytest.raises(NotFoundError):
        service.set_default(created.id)
    with pytest.raises(NotFoundError):
        service.update(created.id, 2, name="x")
    with pytest.raises(NotFoundError):
        service.delete(created.id)


# -- workspaces ------------------------------------------------------------------------------

def test_other_workspace_ids_do_not_exist(store: Store, keyring: KeyRing) -> None:
    alpha = ConnectionService(store, keyring, "alpha")
    beta = ConnectionService(store, keyring, "beta")
    created = add_openai(alpha)
    assert beta.list() == [] and beta.get_default("openai") is None
    for operation in (beta.get, beta.delete, beta.restore, beta.set_default, beta.test):
        with pytest.raises(NotFoundError, match="No connection with id"):
            operation(created.id)
    with pytest.raises(NotFoundError):
        beta.update(created.id, 1, name="stolen")
    with pytest.raises(NotFoundError):
        beta.resolve_config("openai", created.id)
    assert add_openai(beta).is_default, "each workspace has its own default"


# -- keys: the key check, from_env and rotation ---------------------------------------------

def test_wrong_key_is_refused_before_anything_is_written(store: Store, key: str) -> None:
    add_openai(ConnectionService(store, KeyRing(key)))
    before = stores.contents(store)
    with pytest.raises(EncryptionKeyError, match="does not match the key this data was written"):
        ConnectionService(store, KeyRing(generate_key()))
    assert stores.contents(store) == before


def test_from_env_generates_a_local_key_once(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    env = {"CONNECTIONS_DATA_DIR": str(tmp_path / "d")}
    with caplog.at_level(logging.WARNING):
        first = ConnectionService.from_env(environ=env)
    assert first.key_source == "generated" and "generated a key" in caplog.text
    key_file = tmp_path / "d" / "encryption.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    add_openai(first)
    again = ConnectionService.from_env(environ=env)
    assert again.key_source == "file"
    assert again.resolve_config("openai")["apiKey"] == OPENAI_KEY


def test_from_env_refuses_to_generate_a_key_over_encrypted_data(tmp_path: Path) -> None:
    env = {"CONNECTIONS_DATA_DIR": str(tmp_path)}
    add_openai(ConnectionService.from_env(environ=env))
    (tmp_path / "encryption.key").unlink()
    before = (tmp_path / "connections.json").read_bytes()
    with pytest.raises(EncryptionKeyError, match="holds encrypted API keys"):
        ConnectionService.from_env(environ=env)
    assert not (tmp_path / "encryption.key").exists()
    assert (tmp_path / "connections.json").read_bytes() == before


def test_from_env_uses_the_environment_key(tmp_path: Path, key: str) -> None:
    service = ConnectionService.from_env("team", {"CONNECTIONS_DATA_DIR": str(tmp_path),
                                                   "ENCRYPTION_KEY": key})
    assert service.key_source == "environment" and service.workspace_id == "team"
    assert not (tmp_path / "encryption.key").exists()


def test_from_env_with_a_bad_key_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(EncryptionKeyError, match="64 hexadecimal"):
        ConnectionService.from_env(environ={"CONNECTIONS_DATA_DIR": str(tmp_path / "d"),
                                            "ENCRYPTION_KEY": "abc"})
    assert not (tmp_path / "d" / "connections.json").exists()


def test_rotation_re_encrypts_every_workspace(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    env = {"CONNECTIONS_DATA_DIR": str(tmp_path), "ENCRYPTION_KEY": old}
    add_openai(ConnectionService.from_env("a", env))
    deleted = add_openai(ConnectionService.from_env("b", env), "gone")
    ConnectionService.from_env("b", env).delete(deleted.id)
    ConnectionService.from_env("b", env).create("anthropic", "c", {"apiKey": ANTHROPIC_KEY})

    with pytest.raises(EncryptionKeyError):
        ConnectionService.from_env("a", {**env, "ENCRYPTION_KEY": new})
    rotating = ConnectionService.from_env("a", {**env, "ENCRYPTION_KEY": new,
                                                "ENCRYPTION_KEY_PREVIOUS": old})
    assert rotating.rotate_keys() == 3

    after = {**env, "ENCRYPTION_KEY": new}
    assert ConnectionService.from_env("a", after).resolve_config("openai")["apiKey"] == OPENAI_KEY
    assert ConnectionService.from_env("b", after).resolve_config("anthropic")["apiKey"] == \
        ANTHROPIC_KEY
    with pytest.raises(EncryptionKeyError):
        ConnectionService.from_env("a", env)


def test_rotation_is_all_or_nothing(store: Store, key: str) -> None:
    service = ConnectionService(store, KeyRing(key))
    add_openai(service, "first")
    broken = add_openai(service, "broken")
    token = stores.connection(store, broken.id)["config"]["apiKey"]
    stores.edit_config(store, broken.id, apiKey=stores.tampered(token))
    before = stores.contents(store)
    with pytest.raises(DecryptionError):
        ConnectionService(store, KeyRing(key)).rotate_keys()
    assert stores.contents(store) == before


def test_timestamps_come_from_the_clock(store: Store, keyring: KeyRing) -> None:
    clock = FakeClock()
    created = add_openai(ConnectionService(store, keyring, clock=clock))
    assert created.created_at.year == 2026 and created.created_at.tzinfo is not None


def test_from_env_with_a_bad_key_makes_no_data_folder(tmp_path: Path) -> None:
    with pytest.raises(EncryptionKeyError):
        ConnectionService.from_env(environ={"CONNECTIONS_DATA_DIR": str(tmp_path / "d"),
                                            "ENCRYPTION_KEY": "abc"})
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(("config", "expected"), [
    ({"baseUrl": OPENAI + "/"}, False),
    ({"baseUrl": f" {OPENAI} "}, False),
    ({"baseUrl": ""}, False),
    ({}, False),
    ({"baseUrl": "https://elsewhere.example/v1"}, True),
    ({"baseUrl": "https://elsewhere.example/v1", "apiKey": "••••WXYZ"}, True),
    ({"baseUrl": "https://elsewhere.example/v1", "apiKey": OPENAI_KEY}, False),
])
def test_needs_key_again_only_when_the_base_url_really_changes(
        service: ConnectionService, config: dict[str, str], expected: bool) -> None:
    created = add_openai(service)
    assert service.needs_key_again(created.id, config) is expected


def test_a_damaged_key_file_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "encryption.key").write_text("not a key\n")
    with pytest.raises(EncryptionKeyError, match="The key in .*encryption.key"):
        ConnectionService.from_env(environ={"CONNECTIONS_DATA_DIR": str(tmp_path)})


def test_a_bad_workspace_id_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        ConnectionService.from_env("  ", {"CONNECTIONS_DATA_DIR": str(tmp_path / "d")})
    assert "workspace_id" in caught.value.field_errors
    assert not (tmp_path / "d").exists()
