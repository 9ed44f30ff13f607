"""Secrets bound to their record: what someone who can write the data file, but
doesn't know the key, can no longer do with it.

Every test edits the real data file by hand, as such a person would, then uses
the service as a user would.  ``responses`` answers only the servers a test
expects to be called, and records every request, called or not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import responses

from connections_core import (
    Connection,
    ConnectionService,
    DecryptionError,
    EncryptionKeyError,
    KeyRing,
    TinyDBStore,
    crypto,
)
from connections_core.models import MASK
from connections_core.service import KEY_CHECK_PLAINTEXT
from connections_core.store import AtomicJSONStorage
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY

OPENAI = "https://api.openai.com/v1"
ATTACKER = "https://attacker.example/v1"
OTHER_KEY = "sk-other-key-0000000000QRST"

Data = dict[str, Any]


def edit(data_path: Path, change: Callable[[Data], None]) -> None:
    """Change the data file by hand (without its revision, as an editor would leave it)."""
    data = json.loads(data_path.read_text())
    data.pop("_revision", None)
    change(data)
    data_path.write_text(json.dumps(data))


def doc_of(data: Data, id: str) -> dict[str, Any]:
    return next(d for d in data["connections"].values() if d["id"] == id)


def swap(data: Data, first: str, second: str, field: str = "apiKey") -> None:
    a, b = doc_of(data, first)["config"], doc_of(data, second)["config"]
    a[field], b[field] = b[field], a[field]


def add(service: ConnectionService, name: str, key: str = OPENAI_KEY,
        base_url: str = OPENAI) -> Connection:
    return service.create("openai", name, {"apiKey": key, "baseUrl": base_url})


def no_request_to(host: str) -> bool:
    return not any(host in call.request.url for call in responses.calls)


def old_store(data_path: Path, key: str, plaintexts: dict[str, str]) -> None:
    """Rewrite the file as the version before bound tokens wrote it: ``v1`` tokens
    for the secrets and the key check, and no ``bound`` flag."""
    def downgrade(data: Data) -> None:
        for doc in data["connections"].values():
            doc["config"]["apiKey"] = crypto.encrypt(plaintexts[doc["id"]], key)
        data["meta"] = {"1": {"key_check": crypto.encrypt(KEY_CHECK_PLAINTEXT, key)}}
    edit(data_path, downgrade)


# -- a token moved to another record -----------------------------------------------------------

@responses.activate
def test_keys_swapped_between_two_records_fail_for_those_records_only(
        service: ConnectionService, data_path: Path) -> None:
    """Swapping two apiKey tokens in the file sent A's key to B's server (3 of 3)."""
    victim = add(service, "victim")
    planted = add(service, "planted", OTHER_KEY, ATTACKER)
    fine = service.create("anthropic", "fine", {"apiKey": ANTHROPIC_KEY})
    edit(data_path, lambda data: swap(data, victim.id, planted.id))

    for record in (victim, planted):
        with pytest.raises(DecryptionError, match=f"'{record.name}'") as caught:
            service.resolve_config("openai", record.id)
        assert caught.value.record_id == record.id
    assert service.resolve_config("anthropic", fine.id)["apiKey"] == ANTHROPIC_KEY

    result = service.test(planted.id)
    assert not result.success and result.kind == "auth" and "'planted'" in result.message
    assert len(responses.calls) == 0, "no request went anywhere"
    assert service.get(planted.id).status == "error"
    assert service.get(victim.id).status == "unconfigured", "recorded for that record only"


@responses.activate
def test_test_all_records_the_swapped_records_as_errors_and_checks_the_others(
        service: ConnectionService, data_path: Path) -> None:
    responses.get(f"{OPENAI}/models", json={"object": "list", "data": []})
    first, second = add(service, "first"), add(service, "second", OTHER_KEY, ATTACKER)
    fine = add(service, "fine")
    edit(data_path, lambda data: swap(data, first.id, second.id))

    results = service.test_all()

    assert results[fine.id].success
    assert {results[first.id].kind, results[second.id].kind} == {"auth"}
    assert no_request_to("attacker.example")
    assert [c.status for c in (service.get(i) for i in (first.id, second.id, fine.id))] == [
        "error", "error", "connected"]


@responses.activate
def test_a_key_copied_into_another_workspace_is_not_sent(
        store: TinyDBStore, keyring: KeyRing, data_path: Path) -> None:
    alpha = ConnectionService(store, keyring, "alpha")
    beta = ConnectionService(store, keyring, "beta")
    secret = add(alpha, "alpha's key")
    mine = add(beta, "beta's", OTHER_KEY, ATTACKER)

    def copy(data: Data) -> None:
        doc_of(data, mine.id)["config"]["apiKey"] = doc_of(data, secret.id)["config"]["apiKey"]
    edit(data_path, copy)

    with pytest.raises(DecryptionError, match="'beta's'") as caught:
        beta.resolve_config("openai")
    assert caught.value.record_id == mine.id
    assert beta.test(mine.id).kind == "auth"
    assert len(responses.calls) == 0
    assert alpha.resolve_config("openai")["apiKey"] == OPENAI_KEY


def test_a_key_moved_to_a_record_with_the_same_id_in_another_workspace_fails(
        store: TinyDBStore, keyring: KeyRing, data_path: Path) -> None:
    """The workspace is bound as well as the id: an id copied with the token does not help."""
    alpha = ConnectionService(store, keyring, "alpha")
    secret = add(alpha, "alpha's key")

    def clone_into_beta(data: Data) -> None:
        data["connections"]["99"] = {**doc_of(data, secret.id), "workspace_id": "beta",
                                     "name": "clone"}
    edit(data_path, clone_into_beta)

    with pytest.raises(DecryptionError, match="'clone'"):
        ConnectionService(store, keyring, "beta").resolve_config("openai", secret.id)


# -- a base URL edited in the file -------------------------------------------------------------

@responses.activate
def test_an_edited_base_url_fails_to_decrypt_and_nothing_is_sent(
        service: ConnectionService, data_path: Path) -> None:
    created = add(service, "work")
    edit(data_path, lambda data: doc_of(data, created.id)["config"].update(baseUrl=ATTACKER))

    with pytest.raises(DecryptionError, match="'work'"):
        service.resolve_config("openai")
    assert service.test(created.id).kind == "auth"
    with pytest.raises(DecryptionError, match="'work'"):
        service.test_draft("openai", {"apiKey": ""}, existing_id=created.id)
    assert len(responses.calls) == 0


def test_a_base_url_changed_through_update_binds_the_key_to_the_new_url(
        service: ConnectionService, data_path: Path) -> None:
    created = add(service, "work")
    moved = service.update(created.id, 1, config={"baseUrl": ATTACKER, "apiKey": OPENAI_KEY})
    assert service.resolve_config("openai")["baseUrl"] == ATTACKER
    edit(data_path, lambda data: doc_of(data, created.id)["config"].update(baseUrl=OPENAI))
    with pytest.raises(DecryptionError):
        service.resolve_config("openai", moved.id)


# -- a secret that is not a token --------------------------------------------------------------

@responses.activate
@pytest.mark.parametrize("planted", ["sk-planted-in-plain-text-9876", "v1:" + "ab" * 12 + ":"
                                     + "cd" * 16 + ":abc"])
def test_a_secret_that_is_not_a_token_is_never_used_or_shown(
        service: ConnectionService, data_path: Path, planted: str) -> None:
    """A plain-text apiKey was sent as is and shown unmasked."""
    created = add(service, "work")
    edit(data_path, lambda data: doc_of(data, created.id)["config"].update(apiKey=planted))

    shown = service.get(created.id)
    assert shown.config["apiKey"] == MASK and shown.config["has_apiKey"] is True
    assert planted not in repr(service.list()) and planted[-4:] not in repr(shown)
    with pytest.raises(DecryptionError, match="not stored as an encrypted token") as caught:
        service.resolve_config("openai")
    assert caught.value.record_id == created.id and planted not in str(caught.value)
    assert service.test(created.id).kind == "auth"
    assert len(responses.calls) == 0


def test_a_malformed_key_check_is_a_clear_error_at_start_up(store: TinyDBStore, key: str,
                                                             data_path: Path) -> None:
    """A key check with an odd number of hex digits raised ValueError from the constructor."""
    add(ConnectionService(store, KeyRing(key)), "work")
    odd = "v1:" + "ab" * 12 + ":" + "cd" * 16 + ":abc"
    edit(data_path, lambda data: data["meta"]["1"].update(key_check=odd))
    with pytest.raises(EncryptionKeyError, match="key check in .* is damaged"):
        ConnectionService(TinyDBStore(data_path), KeyRing(key))


def test_a_malformed_first_secret_does_not_stop_start_up(store: TinyDBStore, key: str,
                                                          data_path: Path) -> None:
    """With no key check, the first secret token is the check; a malformed one raised
    ValueError from the constructor."""
    created = add(ConnectionService(store, KeyRing(key)), "work")
    odd = "v1:" + "ab" * 12 + ":" + "cd" * 16 + ":abc"

    def damage(data: Data) -> None:
        del data["meta"]
        doc_of(data, created.id)["config"]["apiKey"] = odd
    edit(data_path, damage)
    service = ConnectionService(TinyDBStore(data_path), KeyRing(key))
    with pytest.raises(DecryptionError, match="'work'"):
        service.resolve_config("openai")


# -- old unbound tokens and downgrades ---------------------------------------------------------

def test_an_old_store_is_read_until_rotation_binds_every_secret(
        store: TinyDBStore, key: str, data_path: Path) -> None:
    service = ConnectionService(store, KeyRing(key))
    first, second = add(service, "first"), add(service, "second", OTHER_KEY)
    old_store(data_path, key, {first.id: OPENAI_KEY, second.id: OTHER_KEY})
    old_token = doc_of(json.loads(data_path.read_text()), first.id)["config"]["apiKey"]

    reopened = ConnectionService(TinyDBStore(data_path), KeyRing(key))
    assert reopened.resolve_config("openai", second.id)["apiKey"] == OTHER_KEY
    assert reopened.rotate_keys() == 2

    text = data_path.read_text()
    assert '"v1:' not in text and text.count('"v2:') == 3
    assert json.loads(text)["meta"]["1"]["bound"] is True
    assert reopened.resolve_config("openai", first.id)["apiKey"] == OPENAI_KEY
    edit(data_path, lambda data: doc_of(data, first.id)["config"].update(apiKey=old_token))
    with pytest.raises(DecryptionError, match="'first' is an old token") as caught:
        reopened.resolve_config("openai", first.id)
    assert caught.value.record_id == first.id


def test_a_new_record_in_an_old_store_is_bound_and_the_old_ones_still_read(
        store: TinyDBStore, key: str, data_path: Path) -> None:
    service = ConnectionService(store, KeyRing(key))
    first = add(service, "first")
    old_store(data_path, key, {first.id: OPENAI_KEY})
    reopened = ConnectionService(TinyDBStore(data_path), KeyRing(key))
    second = add(reopened, "second", OTHER_KEY)
    assert doc_of(json.loads(data_path.read_text()), second.id)["config"]["apiKey"][:3] == "v2:"
    assert reopened.resolve_config("openai", first.id)["apiKey"] == OPENAI_KEY
    assert reopened.resolve_config("openai", second.id)["apiKey"] == OTHER_KEY


@pytest.mark.parametrize("cover_tracks", [
    lambda data: None,
    lambda data: data["meta"]["1"].pop("bound"),
    lambda data: data.pop("meta"),
], ids=["as is", "bound flag removed", "key check removed"])
@responses.activate
def test_an_unbound_token_planted_in_a_new_store_is_refused(
        service: ConnectionService, key: str, data_path: Path,
        cover_tracks: Callable[[Data], None]) -> None:
    """A new store holds only bound tokens, so an unbound one can only have been
    planted (made with the same key elsewhere), to point at another server.  Even
    without its key check, a bound token elsewhere in the file shows that."""
    created = add(service, "work")
    add(service, "another")

    def plant(data: Data) -> None:
        doc_of(data, created.id)["config"].update(apiKey=crypto.encrypt(OPENAI_KEY, key),
                                                  baseUrl=ATTACKER)
        cover_tracks(data)
    edit(data_path, plant)

    reopened = ConnectionService(TinyDBStore(data_path), KeyRing(key))
    with pytest.raises(DecryptionError, match="'work'"):
        reopened.resolve_config("openai")
    assert reopened.test(created.id).kind == "auth"
    assert len(responses.calls) == 0


# -- rotation ----------------------------------------------------------------------------------

def test_rotation_rebinds_deleted_and_other_workspaces_records(
        store: TinyDBStore, key: str, data_path: Path) -> None:
    alpha = ConnectionService(store, KeyRing(key), "alpha")
    beta = ConnectionService(store, KeyRing(key), "beta")
    kept, gone = add(alpha, "kept"), add(beta, "gone", OTHER_KEY)
    beta.delete(gone.id)
    old_store(data_path, key, {kept.id: OPENAI_KEY, gone.id: OTHER_KEY})

    assert ConnectionService(TinyDBStore(data_path), KeyRing(key), "alpha").rotate_keys() == 2
    assert '"v1:' not in data_path.read_text()
    beta.restore(gone.id)
    assert beta.resolve_config("openai")["apiKey"] == OTHER_KEY


def test_rotation_writes_nothing_when_one_record_anywhere_fails(
        store: TinyDBStore, key: str, data_path: Path) -> None:
    alpha = ConnectionService(store, KeyRing(key), "alpha")
    beta = ConnectionService(store, KeyRing(key), "beta")
    kept, gone = add(alpha, "kept"), add(beta, "gone", OTHER_KEY, ATTACKER)
    beta.delete(gone.id)
    edit(data_path, lambda data: swap(data, kept.id, gone.id))
    before = data_path.read_bytes()

    with pytest.raises(DecryptionError, match="Nothing was re-encrypted") as caught:
        alpha.rotate_keys()
    assert "in workspace 'alpha'" in str(caught.value) or "in workspace 'beta'" in str(caught.value)
    assert caught.value.record_id in {kept.id, gone.id}
    assert data_path.read_bytes() == before


def filled_old_store(data_path: Path, key: str, size: int) -> ConnectionService:
    """An unbound store of ``size`` records, as the version before bound tokens left it."""
    service = ConnectionService(TinyDBStore(data_path), KeyRing(key))
    first = add(service, "first")
    with service.store.transaction() as tx:
        [record] = tx.connections("default")
        for n in range(size - 1):
            tx.insert_connection({**record, "id": f"old-{n}", "name": f"old {n}",
                                  "is_default": False})
    old_store(data_path, key, {first.id: OPENAI_KEY,
                               **{f"old-{n}": OPENAI_KEY for n in range(size - 1)}})
    return ConnectionService(TinyDBStore(data_path), KeyRing(key))


@pytest.mark.parametrize("size", [100, 300])
def test_rotation_reads_the_table_a_fixed_number_of_times_and_writes_once(
        data_path: Path, key: str, size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """rotate_keys() updated one document at a time, each update reading the whole
    table: 1,000 records took 0.42 s and 4,000 took 5.04 s, under the lock."""
    service = filled_old_store(data_path, key, size)
    counts = {"read": 0, "write": 0}
    read, replace = AtomicJSONStorage.read, AtomicJSONStorage._replace_file

    def counted_read(storage: AtomicJSONStorage) -> Any:
        counts["read"] += 1
        return read(storage)

    def counted_replace(storage: AtomicJSONStorage) -> None:
        counts["write"] += 1
        replace(storage)
    monkeypatch.setattr(AtomicJSONStorage, "read", counted_read)
    monkeypatch.setattr(AtomicJSONStorage, "_replace_file", counted_replace)

    assert service.rotate_keys() == size
    assert counts["write"] == 1
    assert counts["read"] <= 12, f"{counts['read']} reads for {size} records"
    [entry] = service.audit(action="keys.rotated")
    assert entry.details["count"] == size
    assert '"v1:' not in data_path.read_text()
