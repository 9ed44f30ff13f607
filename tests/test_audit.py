"""The audit trail: one entry for every change that succeeded, none for one that failed,
never a secret, committed with its change, and kept for CONNECTIONS_AUDIT_DAYS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import responses

from connections_core import (
    ConflictError,
    ConnectionService,
    KeyRing,
    NotFoundError,
    Store,
    StoreError,
    TinyDBStore,
    ValidationError,
)
from tests import stores
from tests.fakes import FakeServer
from tests.support import FakeClock
from tests.tinydb_files import start_worker
from tests.together import at_once

if TYPE_CHECKING:
    from tests.postgres import PostgresServer

KEY = "sk-audit-0123456789abcdefQ7zR"
NEW_KEY = "sk-audit-new-9876543210Vb3K"


def actions(service: ConnectionService) -> list[str]:
    return [entry.action for entry in service.audit(limit=1000)]


def trail_bytes(store: Store) -> bytes:
    return b"".join(p.read_bytes() for p in store.path.parent.glob("*.audit.*.jsonl"))


# -- what is recorded ----------------------------------------------------------------------

def test_each_change_is_recorded_with_its_action(service: ConnectionService,
                                                 fake_server: FakeServer) -> None:
    fake_server.api_key = KEY
    first = service.create("openai", "Work", {"apiKey": KEY, "baseUrl": fake_server.openai_url})
    second = service.create("ollama", "Local", {"baseUrl": fake_server.url})
    third = service.create("ollama", "Spare", {"baseUrl": fake_server.url})
    service.update(first.id, first.version, name="Work 2", config={"apiKey": NEW_KEY})
    service.set_default(third.id)
    service.delete(third.id)
    service.restore(third.id)
    service.test(second.id)
    service.test_all()
    list(service.pull_model(second.id, "llama3.2:1b"))
    service.delete_model(second.id, "qwen2.5:0.5b")
    service.set_member("ada@example.com", "admin")
    service.remove_member("ada@example.com")
    service.rotate_keys()
    assert actions(service)[::-1] == [
        "connection.created", "connection.created", "connection.created",
        "connection.updated", "connection.default_set", "connection.deleted",
        "connection.default_set", "connection.restored", "connection.test_started",
        "connection.tested", "connections.test_all_started", "connections.tested_all",
        "ollama.model_pull_started", "ollama.model_pulled", "ollama.model_delete_started",
        "ollama.model_deleted", "member.set", "member.removed", "keys.rotated"]


def test_entries_say_who_what_and_which(service: ConnectionService,
                                        fake_server: FakeServer) -> None:
    created = service.create("ollama", "Local", {"baseUrl": fake_server.url})
    service.update(created.id, created.version, name="Renamed",
                   config={"baseUrl": fake_server.url + "/"})  # same URL once normalised
    entry = service.audit(limit=1)[0]
    assert (entry.actor, entry.action, entry.target_id, entry.target_name) == (
        "local", "connection.updated", created.id, "Renamed")
    assert dict(entry.details) == {"fields": ["name"]}
    assert entry.workspace_id == "default" and entry.at.tzinfo is not None


def test_an_update_names_the_changed_fields_never_their_values(service: ConnectionService) -> None:
    created = service.create("openai", "Work", {"apiKey": KEY})
    service.update(created.id, 1, config={"apiKey": NEW_KEY, "organization": "org-42"})
    details = dict(service.audit(limit=1)[0].details)
    assert details == {"fields": ["organization", "apiKey"]}


def test_checks_record_kind_and_latency(service: ConnectionService,
                                        fake_server: FakeServer) -> None:
    local = service.create("ollama", "Local", {"baseUrl": fake_server.url})
    service.create("ollama", "Down", {"baseUrl": "http://127.0.0.1:9"})
    service.test(local.id)
    tested = service.audit(limit=1, action="connection.tested")[0]
    assert tested.details["kind"] == "ok" and isinstance(tested.details["latency_ms"], int)
    service.test_all()
    assert service.audit(action="connections.tested_all")[0].details == {"count": 2,
                                                                         "failed": 1}
    # One entry for the run, not one per connection.
    assert actions(service).count("connection.tested") == 1


def test_a_stopped_test_all_is_still_recorded_once(service: ConnectionService,
                                                   fake_server: FakeServer) -> None:
    for n in range(3):
        service.create("ollama", f"L{n}", {"baseUrl": fake_server.url})
    run = service.iter_test_all()
    next(run)
    run.close()
    runs = service.audit(action="connections.tested_all")
    assert len(runs) == 1 and 1 <= runs[0].details["count"] <= 3


def test_members_and_rotation_details(service: ConnectionService) -> None:
    service.create("openai", "Work", {"apiKey": KEY})
    service.set_member("Ada@Example.com", "admin")
    service.remove_member("ada@example.com")
    service.rotate_keys()
    rotated, removed, added = service.audit(limit=3)
    assert dict(added.details) == {"email": "ada@example.com", "role": "admin"}
    assert dict(removed.details) == {"email": "ada@example.com"}
    assert dict(rotated.details) == {"count": 1, "resealed_unbound": 0}


def test_a_signed_in_actor_is_named(store: Store, keyring: KeyRing) -> None:
    ConnectionService(store, keyring).set_member("ada@example.com", "admin")
    ada = ConnectionService(store, keyring, actor="ADA@example.com")
    ada.create("ollama", "Local", {})
    assert ada.audit(limit=1)[0].actor == "ada@example.com"


# -- nothing for what failed or changed nothing ----------------------------------------------

def test_failed_and_empty_changes_have_no_entry(service: ConnectionService) -> None:
    created = service.create("openai", "Work", {"apiKey": KEY})
    before = actions(service)
    with pytest.raises(ConflictError):
        service.update(created.id, 99, name="Stale")
    with pytest.raises(ValidationError):
        service.create("openai", "", {})
    with pytest.raises(ValidationError):
        service.set_member("nope", "viewer")
    service.update(created.id, created.version, name="Work")  # no change
    service.set_default(created.id)  # already the default
    service.restore(created.id)  # not deleted
    assert actions(service) == before


@pytest.mark.tinydb
def test_a_change_whose_data_file_write_failed_has_no_entry(
        service: ConnectionService, monkeypatch: pytest.MonkeyPatch) -> None:
    service.create("ollama", "Kept", {})

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", full_disk)
        with pytest.raises(StoreError, match="No space left"):
            service.create("ollama", "Lost", {})
    assert [e.target_name for e in service.audit()] == ["Kept"]
    service.create("ollama", "Next", {})  # cuts the uncommitted line away
    assert [e.target_name for e in service.audit()] == ["Next", "Kept"]
    assert trail_bytes(service.store).count(b"connection.created") == 2


#: Refuses, at commit (after the audit entry is written), a connection named "Lost".
REFUSE_AT_COMMIT = """
CREATE FUNCTION refuse_lost() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF position('"name":"Lost"' IN NEW.record) > 0 THEN
        RAISE EXCEPTION 'could not extend file: No space left on device'
            USING ERRCODE = 'disk_full';
    END IF;
    RETURN NEW;
END $$;
CREATE CONSTRAINT TRIGGER refuse_lost AFTER INSERT ON connections
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_lost();
"""


def test_a_change_whose_database_commit_failed_has_no_entry(
        postgres: PostgresServer, postgres_database: str, keyring: KeyRing) -> None:
    import psycopg

    from connections_core.postgres import PostgresStore

    with psycopg.connect(postgres.admin_dsn(postgres_database), autocommit=True) as admin:
        admin.execute(REFUSE_AT_COMMIT.encode())
        try:
            with PostgresStore(postgres.dsn(postgres_database)) as store:
                service = ConnectionService(store, keyring)
                service.create("ollama", "Kept", {})
                with pytest.raises(StoreError, match="No space left") as failed:
                    service.create("ollama", "Lost", {})
                assert "Nothing was changed" in str(failed.value)
                assert [e.target_name for e in service.audit()] == ["Kept"]
                assert [c.name for c in service.list()] == ["Kept"]
        finally:
            admin.execute(b"DROP FUNCTION refuse_lost() CASCADE")


@pytest.mark.tinydb
def test_lines_past_the_committed_size_are_ignored_then_cut(service: ConnectionService) -> None:
    """A crash between appending a change's lines and committing the data file
    leaves lines of a change that never happened."""
    service.create("ollama", "Real", {})
    trail = next(service.store.path.parent.glob("*.audit.*.jsonl"))
    with trail.open("ab") as file:
        file.write(b'{"at":"2026-01-01T00:00:00+00:00","workspace_id":"default",'
                   b'"actor":"local","action":"connection.created","target_name":"Ghost"}\n')
    assert [e.target_name for e in service.audit()] == ["Real"]
    service.create("ollama", "After", {})
    assert b"Ghost" not in trail.read_bytes()


# -- reading ---------------------------------------------------------------------------------

def test_audit_filters_and_limits(store: Store, keyring: KeyRing, clock: FakeClock) -> None:
    trusted = ConnectionService(store, keyring, clock=clock)
    trusted.set_member("ada@example.com", "admin")
    ada = ConnectionService(store, keyring, actor="ada@example.com", clock=clock)
    for n in range(5):
        ada.create("ollama", f"A{n}", {})
    middle = clock()  # after the last of A, before the first of T
    for n in range(3):
        trusted.create("ollama", f"T{n}", {})
    assert [e.target_name for e in ada.audit(limit=2)] == ["T2", "T1"]
    assert len(ada.audit(actor="ADA@example.com")) == 5
    assert len(ada.audit(actor="local", action="connection.created")) == 3
    assert [e.target_name for e in ada.audit(since=middle)] == ["T2", "T1", "T0"]
    assert ada.audit(limit=0) == []
    with pytest.raises(ValidationError):
        ada.audit(limit=-1)


def test_audit_shows_only_this_workspace(store: Store, keyring: KeyRing) -> None:
    ConnectionService(store, keyring, "a").create("ollama", "In A", {})
    ConnectionService(store, keyring, "b").create("ollama", "In B", {})
    assert [e.target_name for e in ConnectionService(store, keyring, "a").audit()] == ["In A"]


# -- secrets -----------------------------------------------------------------------------------

def test_no_entry_holds_a_key_its_ciphertext_or_its_last_four(
        service: ConnectionService, fake_server: FakeServer) -> None:
    fake_server.api_key = "sk-someone-else-000000000"
    fake_server.echo_key_in_errors = True
    created = service.create("openai", "Work", {"apiKey": KEY,
                                                "baseUrl": fake_server.openai_url})
    service.test(created.id)
    service.update(created.id, created.version, config={"apiKey": NEW_KEY})
    service.test_all()
    service.rotate_keys()
    tokens = stores.secrets(service.store)
    trail = json.dumps(list(service.store.audit_entries()))
    if isinstance(service.store, TinyDBStore):
        trail += trail_bytes(service.store).decode()
    for secret in (KEY, NEW_KEY, KEY[-4:], NEW_KEY[-4:], *tokens):
        assert secret not in trail


# -- concurrency and crashes ---------------------------------------------------------------------

def start_creating(data_path: Path, key: str, tag: str, count: int) -> subprocess.Popen[str]:
    """Another process that creates ``count`` connections, printing each id when stored."""
    process = start_worker(data_path, key, tag, count)
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    return process


def assert_one_entry_per_connection(data_path: Path, key: str) -> None:
    service = ConnectionService(TinyDBStore(data_path), KeyRing(key))
    created = Counter(e.target_id for e in service.audit(limit=100_000)
                      if e.action == "connection.created")
    assert created == Counter({c.id: 1 for c in service.list()})


def test_two_processes_and_eight_threads_get_one_entry_per_change(data_path: Path,
                                                                  key: str) -> None:
    workers = [start_worker(data_path, key, f"p{n}", 15) for n in range(2)]

    def work(n: int) -> None:
        service = ConnectionService(TinyDBStore(data_path), KeyRing(key))
        for i in range(5):
            created = service.create("ollama", f"t{n}-{i}", {})
            service.set_default(created.id)

    assert not at_once(work, 8, workers)
    assert_one_entry_per_connection(data_path, key)
    service = ConnectionService(TinyDBStore(data_path), KeyRing(key))
    assert len(service.audit(limit=1000, action="connection.default_set")) <= 40


def test_kill_9_keeps_each_acknowledged_change_with_exactly_one_entry(data_path: Path,
                                                                       key: str) -> None:
    worker = start_creating(data_path, key, "burst", 10_000)
    assert worker.stdout is not None and worker.stdin is not None
    acknowledged = [worker.stdout.readline().strip() for _ in range(40)]
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    worker.stdout.close()
    worker.stdin.close()
    service = ConnectionService(TinyDBStore(data_path), KeyRing(key))
    recorded = {e.target_id for e in service.audit(limit=100_000)}
    assert set(acknowledged) <= recorded
    assert_one_entry_per_connection(data_path, key)


# -- retention ---------------------------------------------------------------------------------

def test_entries_older_than_the_retention_are_dropped(store: Store, keyring: KeyRing,
                                                      clock: FakeClock) -> None:
    service = ConnectionService(store, keyring, clock=clock, audit_days=30)
    for n in range(20):
        service.create("ollama", f"Old {n}", {})
    clock.now += timedelta(days=31)
    assert service.audit() == []  # past the retention at once
    clock.now += timedelta(days=1)
    service.create("ollama", "New", {})
    assert [e.target_name for e in service.audit()] == ["New"]
    assert [e["target_name"] for e in store.audit_entries()] == ["New"]  # gone, not hidden


def test_the_trail_file_is_rewritten_without_expired_entries(data_path: Path, keyring: KeyRing,
                                                             clock: FakeClock) -> None:
    store = TinyDBStore(data_path)
    service = ConnectionService(store, keyring, clock=clock, audit_days=30)
    for n in range(20):
        service.create("ollama", f"Old {n}", {})
    size = len(trail_bytes(store))
    clock.now += timedelta(days=32)
    service.create("ollama", "New", {})
    assert len(trail_bytes(store)) < size / 5  # rewritten without the old entries
    assert len(list(store.path.parent.glob("*.audit.*.jsonl"))) == 1


def test_from_env_reads_the_retention(tmp_path: Path, key: str) -> None:
    env = {"CONNECTIONS_DATA_DIR": str(tmp_path), "ENCRYPTION_KEY": key}
    assert ConnectionService.from_env(environ=env).audit_days == 365
    assert ConnectionService.from_env(
        environ={**env, "CONNECTIONS_AUDIT_DAYS": "30"}).audit_days == 30
    for bad in ("0", "-3", "a year", "1.5"):
        with pytest.raises(ValidationError, match="CONNECTIONS_AUDIT_DAYS"):
            ConnectionService.from_env(environ={**env, "CONNECTIONS_AUDIT_DAYS": bad})


# -- what reaches a server is recorded before it does --------------------------------------

def while_the_file_is_locked(data_path: Path, work: Callable[[], object],
                             monkeypatch: pytest.MonkeyPatch) -> BaseException | None:
    """Run ``work`` (in another thread) while another holder keeps the data file's lock
    past the write timeout; what it raised."""
    from filelock import FileLock

    from connections_core import store as store_module

    monkeypatch.setattr(store_module, "LOCK_TIMEOUT", 0.05)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # inspected by the caller
            raised.append(error)

    with FileLock(str(data_path) + ".lock", thread_local=False):
        worker = threading.Thread(target=run)
        worker.start()
        worker.join(timeout=30)
    return raised[0] if raised else None


def test_nothing_reaches_a_server_when_the_attempt_cant_be_recorded(
        data_path: Path, keyring: KeyRing, fake_server: FakeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With the data file locked elsewhere, test, pull_model and delete_model sent the
    key or changed the Ollama server, wrote no entry, and said "nothing was changed"."""
    service = ConnectionService(TinyDBStore(data_path), keyring)
    fake_server.api_key = KEY
    work = service.create("openai", "Work", {"apiKey": KEY, "baseUrl": fake_server.openai_url})
    local = service.create("ollama", "Local", {"baseUrl": fake_server.url})
    before = actions(service)

    for attempt in (lambda: service.test(work.id), service.test_all,
                    lambda: list(service.pull_model(local.id, "llama3.2:1b")),
                    lambda: service.delete_model(local.id, "qwen2.5:0.5b")):
        error = while_the_file_is_locked(data_path, attempt, monkeypatch)
        assert isinstance(error, StoreError) and "nothing was changed" in str(error)

    assert fake_server.requests == [], "nothing was sent anywhere"
    assert actions(service) == before
    assert [m["name"] for m in fake_server.ollama_models] == ["llama3.2:1b", "qwen2.5:0.5b"]
    assert set(service.test_all()) == {work.id, local.id}, "a run that could not start ended"


def test_how_a_pull_or_a_delete_ended_is_recorded(service: ConnectionService,
                                                 fake_server: FakeServer) -> None:
    local = service.create("ollama", "Local", {"baseUrl": fake_server.url})
    with pytest.raises(NotFoundError):
        service.delete_model(local.id, "not-there:1b")
    pull = service.pull_model(local.id, "llama3.2:1b")
    next(pull)
    pull.close()

    ended = service.audit(limit=4)
    assert [(e.action, e.details["model"]) for e in ended] == [
        ("ollama.model_pull_cancelled", "llama3.2:1b"),
        ("ollama.model_pull_started", "llama3.2:1b"),
        ("ollama.model_delete_failed", "not-there:1b"),
        ("ollama.model_delete_started", "not-there:1b")]
    assert ended[2].details["error"] == "not_found"


@responses.activate
def test_a_check_of_a_connection_edited_while_it_ran_is_recorded(
        service: ConnectionService) -> None:
    """The result is not stored (it describes a config that is gone), but the key was
    sent: that check went unrecorded."""
    created = service.create("openai", "Work", {"apiKey": KEY})

    def edit_meanwhile(request: Any) -> tuple[int, dict[str, str], str]:
        service.update(created.id, created.version, config={"organization": "org-new"})
        return 200, {}, json.dumps({"object": "list", "data": []})
    responses.add_callback(responses.GET, "https://api.openai.com/v1/models",
                           callback=edit_meanwhile)

    assert service.test(created.id).success
    tested = service.audit(action="connection.tested")[0]
    assert tested.details["saved"] is False and tested.details["kind"] == "ok"
    assert service.get(created.id).status == "unconfigured"


def test_a_default_moved_by_a_deletion_or_an_import_is_recorded(
        service: ConnectionService) -> None:
    first = service.create("openai", "First", {"apiKey": KEY})
    second = service.create("openai", "Second", {"apiKey": KEY})
    third = service.create("openai", "Third", {"apiKey": KEY})
    service.delete(first.id)
    moved = service.audit(limit=1)[0]
    assert (moved.action, moved.target_id) == ("connection.default_set", second.id)
    assert moved.details == {"reason": "the previous default was deleted"}

    [record] = [r for r in service.backup_records() if r["id"] == second.id]
    service.import_records([{**record, "type": "anthropic", "config": {"apiKey": KEY}}])
    now_anthropic, moved_here = service.audit(action="connection.default_set")[:2]
    assert now_anthropic.target_id == second.id == service.get_default("anthropic").id
    assert moved_here.target_id == third.id == service.get_default("openai").id
    assert moved_here.details == {"reason": "a backup replaced the previous default"}


def test_rotation_and_export_are_recorded_in_every_workspace_they_touch(
        store: Store, keyring: KeyRing) -> None:
    from connections_core.backup import export_backup

    alpha = ConnectionService(store, keyring, "alpha")
    beta = ConnectionService(store, keyring, "beta")
    alpha.create("openai", "A", {"apiKey": KEY})
    beta.create("openai", "B1", {"apiKey": KEY})
    beta.create("anthropic", "B2", {"apiKey": KEY})

    assert alpha.rotate_keys() == 3
    assert [dict(e.details) for e in beta.audit(action="keys.rotated")] == [
        {"count": 2, "resealed_unbound": 0}]
    assert [dict(e.details) for e in alpha.audit(action="keys.rotated")] == [
        {"count": 1, "resealed_unbound": 0}]

    export_backup(alpha, ["alpha", "beta"], "correct horse battery staple", scrypt_n=2**14)
    assert [len(s.audit(action="connections.exported")) for s in (alpha, beta)] == [1, 1]
