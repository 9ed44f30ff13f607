"""``migrate_store`` and ``migrate-store``: the data file copied into a real PostgreSQL.

The source is a real TinyDB file written by the service; the target a database
of the test's own on the session's server (tests/postgres.py).  The command
runs as a real subprocess, with only the environment a person would set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connections_core import (
    ConnectionService,
    EncryptionKeyError,
    KeyRing,
    StoreError,
    TinyDBStore,
    generate_key,
)
from connections_core.cli import run
from connections_core.migrate import VerificationError, migrate_store
from connections_core.storage import Store
from tests.fakes import API_KEY
from tests.postgres import PASSWORD, PostgresServer
from tests.support import free_port
from tests.together import on_a_terminal

pytest.importorskip("psycopg")
from connections_core.postgres import PostgresStore, PostgresTransaction

ROOT = Path(__file__).resolve().parent.parent
OTHER_KEY = "sk-ant-other-0000000000000000WXYZ"


@pytest.fixture
def source(data_path: Path, keyring: KeyRing) -> TinyDBStore:
    """A data file with two workspaces: connections (one deleted), members, and the
    audit entries those changes recorded."""
    store = TinyDBStore(data_path)
    default = ConnectionService(store, keyring)
    default.create("openai", "Main", {"apiKey": API_KEY})
    gone = default.create("anthropic", "Old", {"apiKey": OTHER_KEY})
    default.delete(gone.id)
    default.create("ollama", "GPU box", {"baseUrl": "http://127.0.0.1:11434"})
    team = default.in_workspace("team-a")
    team.create("openai", "Team main", {"apiKey": API_KEY})
    team.set_member("ada@example.com", "admin")
    team.set_member("bob@example.com", "viewer")
    team.set_alert_webhook("https://hooks.example.com/services/T0/B0/secret")
    team.create_app_token("billing-worker", types=["openai"])
    return store


@pytest.fixture
def dsn(postgres: PostgresServer, postgres_database: str) -> str:
    return postgres.dsn(postgres_database)


@pytest.fixture
def target(dsn: str) -> Iterator[PostgresStore]:
    store = PostgresStore(dsn)
    yield store
    store.close()


def contents(store: Store) -> dict[str, Any]:
    """Everything a store holds, comparable across stores."""
    def canonical(records: list[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps(r, sort_keys=True) for r in records)

    return {"connections": canonical(store.connections()[1]),
            "members": canonical(store.members()),
            "key_check": store.key_check(),
            "audit": [json.dumps(e, sort_keys=True) for e in store.audit_entries()],
            "workspace_settings": canonical(store.workspace_settings()),
            "app_tokens": canonical(store.app_tokens())}


def is_empty(store: Store) -> bool:
    return contents(store) == {"connections": [], "members": [], "key_check": None,
                               "audit": [], "workspace_settings": [], "app_tokens": []}


# -- the core ---------------------------------------------------------------------------------

def test_a_full_copy_gives_the_same_credentials_records_and_trail(
        source: TinyDBStore, target: PostgresStore, dsn: str, keyring: KeyRing) -> None:
    report = migrate_store(source, target, keyring)

    assert report.copied == {"connections": 4, "members": 2, "key_check": 1,
                             "audit_entries": len(list(source.audit_entries())),
                             "workspace_settings": 1, "app_tokens": 1}
    assert report.workspaces == ["default", "team-a"]
    before, after = contents(source), contents(target)
    assert after["connections"] == before["connections"]
    assert after["members"] == before["members"]
    assert after["key_check"] == before["key_check"]
    # The source's trail, as it was and in its order, under one entry for the copy.
    assert after["audit"][1:] == before["audit"]
    assert json.loads(after["audit"][0])["action"] == "store.migrated"
    with PostgresStore(dsn) as reopened:
        on_postgres = ConnectionService(reopened, keyring)
        on_tinydb = ConnectionService(source, keyring)
        assert on_postgres.resolve_config("openai") == on_tinydb.resolve_config("openai")
        assert on_postgres.resolve_config("openai")["apiKey"] == API_KEY
        assert [c.name for c in on_postgres.list_deleted()] == ["Old"]
        team = on_postgres.in_workspace("team-a")
        assert {m.email: m.role for m in team.members()} == {
            "ada@example.com": "admin", "bob@example.com": "viewer"}
        assert team.resolve_config("openai")["apiKey"] == API_KEY
        # The webhook still opens, and the application's token still answers.
        assert team.alert_webhook().masked == "https://hooks.example.com/…"
        assert after["workspace_settings"] == before["workspace_settings"]
        assert after["app_tokens"] == before["app_tokens"]
        assert [t.name for t in team.app_tokens()] == ["billing-worker"]


def test_running_it_twice_copies_and_duplicates_nothing(
        source: TinyDBStore, target: PostgresStore, keyring: KeyRing) -> None:
    first = migrate_store(source, target, keyring)
    copied = contents(target)

    second = migrate_store(source, target, keyring)

    assert not second.copied_anything
    assert second.already_there == first.copied
    assert contents(target) == copied


def test_a_second_run_copies_only_what_was_added_since(
        source: TinyDBStore, target: PostgresStore, keyring: KeyRing) -> None:
    """The dashboard kept running on the file after a first copy."""
    migrate_store(source, target, keyring)
    ConnectionService(source, keyring).create("openai", "Later", {"apiKey": API_KEY})

    report = migrate_store(source, target, keyring)

    assert report.copied == {"connections": 1, "members": 0, "key_check": 0,
                             "audit_entries": 1, "workspace_settings": 0, "app_tokens": 0}
    assert contents(target)["connections"] == contents(source)["connections"]


def test_identical_audit_entries_are_two_entries(
        data_path: Path, target: PostgresStore, keyring: KeyRing) -> None:
    store = TinyDBStore(data_path)
    entry = {"at": "2026-01-01T00:00:00+00:00", "workspace_id": "default", "actor": "cli",
             "action": "keys.rotated", "target_id": None, "target_name": None,
             "details": {"count": 0}}
    with store.transaction() as tx:
        tx.record(entry)
        tx.record(entry)

    assert migrate_store(store, target, keyring).copied["audit_entries"] == 2
    assert migrate_store(store, target, keyring).already_there["audit_entries"] == 2


def test_progress_counts_up_to_every_record_written(
        source: TinyDBStore, target: PostgresStore, keyring: KeyRing) -> None:
    seen: list[tuple[int, int]] = []
    report = migrate_store(source, target, keyring, progress=lambda *step: seen.append(step))
    total = report.copied["connections"] + report.copied["members"] + \
        report.copied["audit_entries"]
    assert seen[-1] == (total, total)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


# -- refusals and failures: the target is left as it was ----------------------------------------

def test_a_record_the_target_refuses_leaves_it_empty(
        source: TinyDBStore, target: PostgresStore, keyring: KeyRing) -> None:
    """Two defaults of one type (the file allows it; the database's index doesn't)."""
    service = ConnectionService(source, keyring)
    second = service.create("openai", "Second", {"apiKey": API_KEY})
    with source.transaction() as tx:
        tx.update_connection("default", second.id, {"is_default": True})

    with pytest.raises(StoreError, match="refused a change"):
        migrate_store(source, target, keyring)

    assert is_empty(target)


def test_a_key_that_does_not_fit_the_source_is_refused(
        source: TinyDBStore, target: PostgresStore) -> None:
    with pytest.raises(EncryptionKeyError, match="does not fit the data in the data file"):
        migrate_store(source, target, KeyRing(generate_key()))
    assert is_empty(target)


def test_a_target_written_with_another_key_is_refused(
        source: TinyDBStore, target: PostgresStore, keyring: KeyRing) -> None:
    ConnectionService(target, KeyRing(generate_key())).create("openai", "Theirs",
                                                              {"apiKey": API_KEY})
    held = contents(target)

    with pytest.raises(EncryptionKeyError, match="already holds data written with another key"):
        migrate_store(source, target, keyring)

    assert contents(target) == held


def test_different_records_under_the_same_keys_are_named_and_refused(
        source: TinyDBStore, target: PostgresStore, keyring: KeyRing) -> None:
    migrate_store(source, target, keyring)
    on_target = ConnectionService(target, keyring)
    main = on_target.get_default("openai")
    assert main is not None
    on_target.update(main.id, main.version, name="Renamed there")
    held = contents(target)

    with pytest.raises(StoreError, match=rf"1 record.*connection 'Main' \({main.id} in "
                                         "workspace 'default'\\).*Nothing was copied"):
        migrate_store(source, target, keyring)

    assert contents(target) == held


def test_a_failed_verification_rolls_everything_back(
        source: TinyDBStore, target: PostgresStore, keyring: KeyRing,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A target that loses a record on the way is caught before the commit."""
    monkeypatch.setattr(PostgresTransaction, "insert_connections", _losing_the_last)

    with pytest.raises(VerificationError, match=r"connections: 3 of the source's 4 found"):
        migrate_store(source, target, keyring)

    assert is_empty(target)


def _losing_the_last(self: PostgresTransaction, records: Any) -> None:
    for record in list(records)[:-1]:
        self.insert_connection(record)


# -- the command line -------------------------------------------------------------------------

def cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m connections_core ...`` with only the environment a person would set."""
    clean = {name: value for name, value in os.environ.items()
             if not name.startswith(("ENCRYPTION_", "CONNECTIONS_"))}
    clean.update(PYTHONPATH=str(ROOT), CONNECTIONS_DATA_DIR=str(data_dir), **env)
    return subprocess.run([sys.executable, "-m", "connections_core", *args], cwd=data_dir,
                          env=clean, capture_output=True, text=True, timeout=120)


def test_the_command_copies_verifies_and_never_shows_the_password(
        source: TinyDBStore, dsn: str, key: str, keyring: KeyRing) -> None:
    folder = source.path.parent

    first = cli(folder, "migrate-store", "--to", dsn, ENCRYPTION_KEY=key)
    again = cli(folder, "migrate-store", "--to", dsn, "--json", ENCRYPTION_KEY=key)

    assert first.returncode == 0, first.stderr
    assert "Verified: counts match." in first.stdout
    assert "connections              4 copied       0 already there" in first.stdout
    document = json.loads(again.stdout)
    assert document["verified"] is True
    assert document["copied"] == {"connections": 0, "members": 0, "key_check": 0,
                                  "audit_entries": 0, "workspace_settings": 0, "app_tokens": 0}
    assert document["already_there"]["connections"] == 4
    for ran in (first, again):
        assert PASSWORD not in ran.stdout + ran.stderr
        assert API_KEY not in ran.stdout + ran.stderr
    with PostgresStore(dsn) as copied:
        assert ConnectionService(copied, keyring).resolve_config("openai")["apiKey"] == API_KEY


@pytest.mark.parametrize(("to", "words"), [
    ("mysql://connections:{password}@127.0.0.1/x", ["--to must be a PostgreSQL URL"]),
    ("postgresql://connections:{password}@127.0.0.1:{port}/x", ["127.0.0.1:{port}"]),
])
def test_a_bad_or_unreachable_address_exits_2_without_the_password(
        source: TinyDBStore, key: str, to: str, words: list[str]) -> None:
    port = free_port()
    ran = cli(source.path.parent, "migrate-store", "--to",
              to.format(password=PASSWORD, port=port), ENCRYPTION_KEY=key)

    assert ran.returncode == 2, ran
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), ran.stderr
    for word in words:
        assert word.format(port=port) in lines[0]
    assert PASSWORD not in ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr


def test_wrong_credentials_exit_2_naming_the_host_not_the_password(
        source: TinyDBStore, postgres: PostgresServer, postgres_database: str,
        key: str) -> None:
    wrong = "not-" + PASSWORD
    ran = cli(source.path.parent, "migrate-store", "--to",
              postgres.dsn(postgres_database, password=wrong), ENCRYPTION_KEY=key)

    assert ran.returncode == 2, ran
    assert "refused the credentials" in ran.stderr and postgres.host in ran.stderr
    assert wrong not in ran.stdout + ran.stderr


def test_a_failed_verification_exits_1(
        source: TinyDBStore, dsn: str, key: str, target: PostgresStore,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(PostgresTransaction, "insert_connections", _losing_the_last)
    monkeypatch.setenv("ENCRYPTION_KEY", key)
    monkeypatch.delenv("CONNECTIONS_DATABASE_URL", raising=False)

    code = run(["migrate-store", "--to", dsn, "--data-dir", str(source.path.parent)])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.startswith("error: The copy into the PostgreSQL database")
    assert "rolled back" in captured.err
    assert PASSWORD not in captured.out + captured.err
    assert is_empty(target)


def test_no_data_file_is_a_usage_error(tmp_path: Path, key: str, dsn: str) -> None:
    ran = cli(tmp_path, "migrate-store", "--to", dsn, ENCRYPTION_KEY=key)
    assert ran.returncode == 2
    assert "There is no data file at" in ran.stderr


def test_a_terminal_gets_a_progress_bar_and_a_pipe_none(
        source: TinyDBStore, dsn: str, key: str) -> None:
    folder = source.path.parent
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("ENCRYPTION_", "CONNECTIONS_"))}
    env.update(PYTHONPATH=str(ROOT), CONNECTIONS_DATA_DIR=str(folder), ENCRYPTION_KEY=key,
               TERM="xterm")
    code, shown = on_a_terminal(
        [sys.executable, "-m", "connections_core", "migrate-store", "--to", dsn], folder, env)
    assert code == 0
    assert "Copying" in shown and "Verified: counts match." in shown
    assert PASSWORD not in shown
    piped = cli(folder, "migrate-store", "--to", dsn, ENCRYPTION_KEY=key)
    assert "Copying" not in piped.stdout and "\x1b" not in piped.stdout
