"""Secrets bound to their record: what someone who can write the data file (or the
database), but doesn't know the key, can no longer do with it.

Every test edits the stored records by hand, as such a person would (through the
store's interface, so on both stores), then uses the service as a user would.
``responses`` answers only the servers a test expects to be called, and records
every request, called or not.
"""

from __future__ import annotations

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
    Store,
    TinyDBStore,
    crypto,
)
from connections_core.models import MASK, ResidualSecret
from connections_core.records import KEY_CHECK_PLAINTEXT
from connections_core.store import AtomicJSONStorage
from tests import stores
from tests.fakes import FakeServer
from tests.support import ANTHROPIC_KEY, OPENAI_KEY

OPENAI = "https://api.openai.com/v1"
ATTACKER = "https://attacker.example/v1"
OTHER_KEY = "sk-other-key-0000000000QRST"


def swap(store: Store, first: str, second: str, field: str = "apiKey") -> None:
    """Swap two stored connections' secrets."""
    a, b = stores.connection(store, first), stores.connection(store, second)
    stores.edit_config(store, first, **{field: b["config"][field]})
    stores.edit_config(store, second, **{field: a["config"][field]})


def add(service: ConnectionService, name: str, key: str = OPENAI_KEY,
        base_url: str = OPENAI) -> Connection:
    return service.create("openai", name, {"apiKey": key, "baseUrl": base_url})


def no_request_to(host: str) -> bool:
    return not any(host in call.request.url for call in responses.calls)


def old_store(store: Store, key: str, plaintexts: dict[str, str]) -> None:
    """Rewrite the store as the version before bound tokens wrote it: ``v1`` tokens
    for the secrets and the key check, and no ``bound`` flag."""
    with store.transaction() as tx:
        tx.update_connections(
            (record["workspace_id"], record["id"],
             {"config": {**record["config"],
                         "apiKey": crypto.encrypt(plaintexts[record["id"]], key)}})
            for record in tx.connections(None))
        tx.set_key_check({"key_check": crypto.encrypt(KEY_CHECK_PLAINTEXT, key)})


# -- a token moved to another record -----------------------------------------------------------

@responses.activate
def test_keys_swapped_between_two_records_fail_for_those_records_only(
        service: ConnectionService) -> None:
    """Swapping two apiKey tokens in the file sent A's key to B's server (3 of 3)."""
    victim = add(service, "victim")
    planted = add(service, "planted", OTHER_KEY, ATTACKER)
    fine = service.create("anthropic", "fine", {"apiKey": ANTHROPIC_KEY})
    swap(service.store, victim.id, planted.id)

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
        service: ConnectionService) -> None:
    responses.get(f"{OPENAI}/models", json={"object": "list", "data": []})
    first, second = add(service, "first"), add(service, "second", OTHER_KEY, ATTACKER)
    fine = add(service, "fine")
    swap(service.store, first.id, second.id)

    results = service.test_all()

    assert results[fine.id].success
    assert {results[first.id].kind, results[second.id].kind} == {"auth"}
    assert no_request_to("attacker.example")
    assert [c.status for c in (service.get(i) for i in (first.id, second.id, fine.id))] == [
        "error", "error", "connected"]


@responses.activate
def test_a_key_copied_into_another_workspace_is_not_sent(
        store: Store, keyring: KeyRing) -> None:
    alpha = ConnectionService(store, keyring, "alpha")
    beta = ConnectionService(store, keyring, "beta")
    secret = add(alpha, "alpha's key")
    mine = add(beta, "beta's", OTHER_KEY, ATTACKER)
    stores.edit_config(store, mine.id,
                       apiKey=stores.connection(store, secret.id)["config"]["apiKey"])

    with pytest.raises(DecryptionError, match="'beta's'") as caught:
        beta.resolve_config("openai")
    assert caught.value.record_id == mine.id
    assert beta.test(mine.id).kind == "auth"
    assert len(responses.calls) == 0
    assert alpha.resolve_config("openai")["apiKey"] == OPENAI_KEY


def test_a_key_moved_to_a_record_with_the_same_id_in_another_workspace_fails(
        store: Store, keyring: KeyRing) -> None:
    """The workspace is bound as well as the id: an id copied with the token does not help."""
    alpha = ConnectionService(store, keyring, "alpha")
    secret = add(alpha, "alpha's key")
    stores.plant(store, {**stores.connection(store, secret.id), "workspace_id": "beta",
                         "name": "clone"})

    with pytest.raises(DecryptionError, match="'clone'"):
        ConnectionService(store, keyring, "beta").resolve_config("openai", secret.id)


# -- a base URL edited in the file -------------------------------------------------------------

@responses.activate
def test_an_edited_base_url_fails_to_decrypt_and_nothing_is_sent(
        service: ConnectionService) -> None:
    created = add(service, "work")
    stores.edit_config(service.store, created.id, baseUrl=ATTACKER)

    with pytest.raises(DecryptionError, match="'work'"):
        service.resolve_config("openai")
    assert service.test(created.id).kind == "auth"
    with pytest.raises(DecryptionError, match="'work'"):
        service.test_draft("openai", {"apiKey": ""}, existing_id=created.id)
    assert len(responses.calls) == 0


def test_a_base_url_changed_through_update_binds_the_key_to_the_new_url(
        service: ConnectionService) -> None:
    created = add(service, "work")
    moved = service.update(created.id, 1, config={"baseUrl": ATTACKER, "apiKey": OPENAI_KEY})
    assert service.resolve_config("openai")["baseUrl"] == ATTACKER
    stores.edit_config(service.store, created.id, baseUrl=OPENAI)
    with pytest.raises(DecryptionError):
        service.resolve_config("openai", moved.id)


# -- a secret that is not a token --------------------------------------------------------------

@responses.activate
@pytest.mark.parametrize("planted", ["sk-planted-in-plain-text-9876", "v1:" + "ab" * 12 + ":"
                                     + "cd" * 16 + ":abc"])
def test_a_secret_that_is_not_a_token_is_never_used_or_shown(
        service: ConnectionService, planted: str) -> None:
    """A plain-text apiKey was sent as is and shown unmasked."""
    created = add(service, "work")
    stores.edit_config(service.store, created.id, apiKey=planted)

    shown = service.get(created.id)
    assert shown.config["apiKey"] == MASK and shown.config["has_apiKey"] is True
    assert planted not in repr(service.list()) and planted[-4:] not in repr(shown)
    with pytest.raises(DecryptionError, match="not stored as an encrypted token") as caught:
        service.resolve_config("openai")
    assert caught.value.record_id == created.id and planted not in str(caught.value)
    assert service.test(created.id).kind == "auth"
    assert len(responses.calls) == 0


def test_a_malformed_key_check_is_a_clear_error_at_start_up(store: Store, key: str) -> None:
    """A key check with an odd number of hex digits raised ValueError from the constructor."""
    add(ConnectionService(store, KeyRing(key)), "work")
    odd = "v1:" + "ab" * 12 + ":" + "cd" * 16 + ":abc"
    stores.set_key_check(store, {**(store.key_check() or {}), "key_check": odd})
    with pytest.raises(EncryptionKeyError, match="key check in .* is damaged"):
        ConnectionService(store, KeyRing(key))


def test_a_malformed_first_secret_does_not_stop_start_up(store: Store, key: str) -> None:
    """With no key check, the first secret token is the check; a malformed one raised
    ValueError from the constructor."""
    created = add(ConnectionService(store, KeyRing(key)), "work")
    odd = "v1:" + "ab" * 12 + ":" + "cd" * 16 + ":abc"

    stores.remove_key_check(store)
    stores.edit_config(store, created.id, apiKey=odd)
    service = ConnectionService(store, KeyRing(key))
    with pytest.raises(DecryptionError, match="'work'"):
        service.resolve_config("openai")


# -- old unbound tokens and downgrades ---------------------------------------------------------

def unbound(service: ConnectionService) -> list[ResidualSecret]:
    return [r for r in service.residual_secrets() if r.reason == "unbound"]


@responses.activate
def test_an_old_store_is_refused_until_an_operator_reseals_what_they_were_shown(
        store: Store, key: str) -> None:
    """An old (unbound) token says nothing about where it belongs: it was used until
    the store held a bound one, so a planted copy could send the key anywhere."""
    service = ConnectionService(store, KeyRing(key))
    first, second = add(service, "first"), add(service, "second", OTHER_KEY)
    old_store(store, key, {first.id: OPENAI_KEY, second.id: OTHER_KEY})
    old_token = stores.connection(store, first.id)["config"]["apiKey"]

    reopened = ConnectionService(store, KeyRing(key))
    with pytest.raises(DecryptionError, match="'second' is an old token") as caught:
        reopened.resolve_config("openai", second.id)
    assert caught.value.record_id == second.id
    assert reopened.test(first.id).kind == "auth" and len(responses.calls) == 0
    shown = unbound(reopened)
    assert {(r.name, r.base_url) for r in shown} == {("first", OPENAI), ("second", OPENAI)}

    assert reopened.rotate_keys() == 0, "nothing agreed, nothing re-sealed"
    assert [token[:3] for token in stores.secrets(store)] == ["v1:"] * 2
    assert reopened.rotate_keys(reseal=shown) == 2

    check = store.key_check()
    assert check is not None and check["bound"] is True
    assert [token[:3] for token in [*stores.secrets(store), check["key_check"]]] == ["v2:"] * 3
    assert reopened.resolve_config("openai", first.id)["apiKey"] == OPENAI_KEY
    assert unbound(reopened) == []
    latest = reopened.audit(action="keys.rotated")[0]
    assert latest.details == {"count": 2, "resealed_unbound": 2}
    stores.edit_config(store, first.id, apiKey=old_token)
    with pytest.raises(DecryptionError, match="'first' is an old token") as caught:
        reopened.resolve_config("openai", first.id)
    assert caught.value.record_id == first.id


def test_a_reseal_agreed_to_is_refused_once_the_base_url_moved(store: Store, key: str) -> None:
    """What the operator was shown is what gets sealed: a base URL changed after they
    looked (by someone who can write the store) leaves the token unbound."""
    service = ConnectionService(store, KeyRing(key))
    first, second = add(service, "first"), add(service, "second", OTHER_KEY)
    old_store(store, key, {first.id: OPENAI_KEY, second.id: OTHER_KEY})
    shown = unbound(service)
    stores.edit_config(store, first.id, baseUrl=ATTACKER)

    assert service.rotate_keys(reseal=shown) == 1
    with pytest.raises(DecryptionError, match="'first' is an old token"):
        service.resolve_config("openai", first.id)
    assert service.resolve_config("openai", second.id)["apiKey"] == OTHER_KEY
    [left] = unbound(service)
    assert (left.name, left.base_url) == ("first", ATTACKER)


def test_a_new_record_in_an_old_store_is_bound_and_the_old_one_waits_for_a_reseal(
        store: Store, key: str) -> None:
    service = ConnectionService(store, KeyRing(key))
    first = add(service, "first")
    old_store(store, key, {first.id: OPENAI_KEY})
    reopened = ConnectionService(store, KeyRing(key))
    second = add(reopened, "second", OTHER_KEY)
    assert stores.connection(store, second.id)["config"]["apiKey"][:3] == "v2:"
    assert reopened.resolve_config("openai", second.id)["apiKey"] == OTHER_KEY
    with pytest.raises(DecryptionError, match="'first' is an old token"):
        reopened.resolve_config("openai", first.id)
    assert [r.name for r in unbound(reopened)] == ["first"]


def unbind_key_check(store: Store) -> None:
    check = store.key_check()
    assert check is not None
    stores.set_key_check(store, {name: value for name, value in check.items()
                                 if name != "bound"})


def put_back_the_old_key_check(store: Store, key: str) -> None:
    """The key check from a copy kept from before bound tokens (a pg_dump, a file backup)."""
    stores.set_key_check(store, {"key_check": crypto.encrypt(KEY_CHECK_PLAINTEXT, key)})


def unmake_every_other_token(store: Store, key: str, planted: str) -> None:
    """No key check, and every other secret not a token: nothing bound is left to see."""
    stores.remove_key_check(store)
    for record in stores.records(store)["connections"]:
        if record["id"] != planted:
            stores.edit_config(store, record["id"], apiKey="not a token any more")


@pytest.mark.parametrize("cover_tracks", [
    lambda store, key, planted: None,
    lambda store, key, planted: unbind_key_check(store),
    lambda store, key, planted: stores.remove_key_check(store),
    lambda store, key, planted: put_back_the_old_key_check(store, key),
    unmake_every_other_token,
], ids=["as is", "bound flag removed", "key check removed", "old key check put back",
        "key check removed, other keys unmade"])
def test_an_old_token_planted_with_another_base_url_never_reaches_it(
        service: ConnectionService, key: str, fake_server: FakeServer,
        cover_tracks: Callable[[Store, str, str], None]) -> None:
    """Someone who can write the store but has no key, with a copy from before bound
    tokens, planted an old token beside their own base URL and covered their tracks
    (an old key check put back, or nothing bound left to see): `test` sent the real
    key to their server and `resolve_config` handed it to the application."""
    created = add(service, "work")
    add(service, "another", OTHER_KEY)
    assert service.rotate_keys() == 2
    attacker = fake_server.openai_url

    stores.edit_config(service.store, created.id, apiKey=crypto.encrypt(OPENAI_KEY, key),
                       baseUrl=attacker)
    cover_tracks(service.store, key, created.id)

    reopened = ConnectionService(service.store, KeyRing(key))
    with pytest.raises(DecryptionError, match="'work'"):
        reopened.resolve_config("openai", created.id)
    assert reopened.test(created.id).kind == "auth"
    assert reopened.test_all()[created.id].kind == "auth"
    with pytest.raises(DecryptionError, match="'work'"):
        reopened.test_draft("openai", {"apiKey": ""}, existing_id=created.id)
    with pytest.raises(DecryptionError, match="'work'"):
        reopened.backup_records()
    assert fake_server.requests == [], "nothing reached the planted base URL"
    assert [(r.name, r.base_url) for r in unbound(reopened)] == [("work", attacker)]


# -- rotation ----------------------------------------------------------------------------------

def test_rotation_rebinds_deleted_and_other_workspaces_records(
        store: Store, key: str) -> None:
    alpha = ConnectionService(store, KeyRing(key), "alpha")
    beta = ConnectionService(store, KeyRing(key), "beta")
    kept, gone = add(alpha, "kept"), add(beta, "gone", OTHER_KEY)
    beta.delete(gone.id)
    old_store(store, key, {kept.id: OPENAI_KEY, gone.id: OTHER_KEY})

    rotating = ConnectionService(store, KeyRing(key), "alpha")
    assert rotating.rotate_keys(reseal=unbound(rotating)) == 2
    assert [token[:3] for token in stores.secrets(store)] == ["v2:"] * 2
    beta.restore(gone.id)
    assert beta.resolve_config("openai")["apiKey"] == OTHER_KEY


def test_rotation_writes_nothing_when_one_record_anywhere_fails(
        store: Store, key: str) -> None:
    alpha = ConnectionService(store, KeyRing(key), "alpha")
    beta = ConnectionService(store, KeyRing(key), "beta")
    kept, gone = add(alpha, "kept"), add(beta, "gone", OTHER_KEY, ATTACKER)
    beta.delete(gone.id)
    swap(store, kept.id, gone.id)
    before = stores.contents(store)

    with pytest.raises(DecryptionError, match="Nothing was re-encrypted") as caught:
        alpha.rotate_keys()
    assert "in workspace 'alpha'" in str(caught.value) or "in workspace 'beta'" in str(caught.value)
    assert caught.value.record_id in {kept.id, gone.id}
    assert stores.contents(store) == before


def filled_old_store(data_path: Path, key: str, size: int) -> ConnectionService:
    """An unbound store of ``size`` records, as the version before bound tokens left it."""
    service = ConnectionService(TinyDBStore(data_path), KeyRing(key))
    first = add(service, "first")
    with service.store.transaction() as tx:
        [record] = tx.connections("default")
        for n in range(size - 1):
            tx.insert_connection({**record, "id": f"old-{n}", "name": f"old {n}",
                                  "is_default": False})
    old_store(service.store, key, {first.id: OPENAI_KEY,
                               **{f"old-{n}": OPENAI_KEY for n in range(size - 1)}})
    return ConnectionService(TinyDBStore(data_path), KeyRing(key))


@pytest.mark.parametrize("size", [100, 300])
def test_rotation_reads_the_table_a_fixed_number_of_times_and_writes_once(
        data_path: Path, key: str, size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """rotate_keys() updated one document at a time, each update reading the whole
    table: 1,000 records took 0.42 s and 4,000 took 5.04 s, under the lock."""
    service = filled_old_store(data_path, key, size)
    shown = unbound(service)
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

    assert service.rotate_keys(reseal=shown) == size
    assert counts["write"] == 1
    assert counts["read"] <= 12, f"{counts['read']} reads for {size} records"
    [entry] = service.audit(action="keys.rotated")
    assert entry.details["count"] == size
    assert '"v1:' not in data_path.read_text()


@pytest.mark.parametrize("size", [100, 300])
def test_rotation_on_postgresql_takes_a_fixed_number_of_statements(
        postgres_store: Store, key: str, size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The PostgreSQL form of the test above: however many records, rotation reads
    them in a fixed number of statements and writes them in one batch."""
    import psycopg

    service = ConnectionService(postgres_store, KeyRing(key))
    first = add(service, "first")
    with postgres_store.transaction() as tx:
        [record] = tx.connections("default")
        for n in range(size - 1):
            tx.insert_connection({**record, "id": f"old-{n}", "name": f"old {n}",
                                  "is_default": False})
    old_store(postgres_store, key, {first.id: OPENAI_KEY,
                                    **{f"old-{n}": OPENAI_KEY for n in range(size - 1)}})
    service = ConnectionService(postgres_store, KeyRing(key))
    shown = unbound(service)
    counts = {"statements": 0, "batches": 0}
    execute, executemany = psycopg.Connection.execute, psycopg.Cursor.executemany

    def counted_execute(connection: Any, *args: Any, **kwargs: Any) -> Any:
        counts["statements"] += 1
        return execute(connection, *args, **kwargs)

    def counted_executemany(cursor: Any, *args: Any, **kwargs: Any) -> Any:
        counts["batches"] += 1
        return executemany(cursor, *args, **kwargs)
    monkeypatch.setattr(psycopg.Connection, "execute", counted_execute)
    monkeypatch.setattr(psycopg.Cursor, "executemany", counted_executemany)

    assert service.rotate_keys(reseal=shown) == size
    assert counts["batches"] == 1
    assert counts["statements"] <= 20, f"{counts['statements']} statements for {size} records"
    assert [token[:3] for token in stores.secrets(postgres_store)] == ["v2:"] * size
