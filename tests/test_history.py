"""The check history: one record per check run, from where it was run, committed with the
connection's status; none for a read; kept CONNECTIONS_HISTORY_DAYS; a connection's health
counted from it; never a message or a key.  On both stores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connections_core import (
    CheckRecord,
    ConnectionService,
    Health,
    KeyRing,
    NotFoundError,
    PermissionDeniedError,
    Store,
    TestResult,
    TinyDBStore,
    ValidationError,
    environment,
)
from connections_core.audit import LogState
from connections_core.cli import run as run_cli
from connections_core.history_index import HistoryIndex
from connections_core.records import Records
from connections_core.scope import Clock, utc_now
from tests.fakes import API_KEY, FakeServer
from tests.support import FakeClock
from tests.together import at_once

ROOT = Path(__file__).resolve().parent.parent
EVER = datetime(2000, 1, 1, tzinfo=UTC)
WRONG_KEY = "sk-history-wrong-0123456789Zq8W"


@dataclass
class Where:
    """A store of the test's own, and how another process opens it."""

    store: Store
    spec: str  # the data file's path, or the database's URL

    @property
    def is_file(self) -> bool:
        return isinstance(self.store, TinyDBStore)


@pytest.fixture(params=["tinydb", "postgresql"])
def where(request: pytest.FixtureRequest, data_path: Path) -> Where:
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        store = request.getfixturevalue("postgres_store")
        return Where(store, server.dsn(request.getfixturevalue("postgres_database")))
    return Where(TinyDBStore(data_path), str(data_path))


@pytest.fixture
def service(where: Where, keyring: KeyRing, clock: FakeClock) -> ConnectionService:
    return ConnectionService(where.store, keyring, clock=clock, timeout=2.0)


def all_checks(store: Store, id: str) -> list[dict[str, Any]]:
    return store.checks("default", id, since=EVER, limit=None)


def add_ollama(service: ConnectionService, server: FakeServer, name: str = "Local") -> str:
    return service.create("ollama", name, {"baseUrl": server.url}).id


def result(success: bool, latency_ms: int, kind: str = "") -> TestResult:
    return TestResult(success, "Connected." if success else "Failed.",
                      kind or ("ok" if success else "timeout"),  # type: ignore[arg-type]
                      latency_ms, (), 200 if success else None)


def records_of(service: ConnectionService, clock: Clock = utc_now) -> Records:
    """The records under a service: what the scheduler records its checks with."""
    return Records(service.store, service.keyring, service.workspace_id, clock=clock,
                   audit_days=365, actor_name=lambda: "local",
                   history_days=service.history_days)


def reopened(where: Where) -> Store:
    """The store as another service would open it (the file again; the same database)."""
    return TinyDBStore(where.spec) if where.is_file else where.store


# -- one record per check -----------------------------------------------------------------------

def test_each_check_appends_one_record_from_where_it_was_run(
        where: Where, fake_server: FakeServer, key: str, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    service = ConnectionService(where.store, KeyRing(key))  # the command line's clock
    id = add_ollama(service, fake_server)
    service.test(id)
    service.test_all()
    records = records_of(service)
    records.record_results([(records.record(id), result(True, 5))], source="schedule")
    monkeypatch.setenv("ENCRYPTION_KEY", key)
    if where.is_file:
        assert run_cli(["test", "--data-dir", str(Path(where.spec).parent)]) == 0
    else:
        monkeypatch.setenv("CONNECTIONS_DATABASE_URL", where.spec)
        try:
            assert run_cli(["test", "--data-dir", str(tmp_path)]) == 0
        finally:
            environment.close_databases()
    history = service.history(id)
    assert [r.source for r in history] == ["cli", "schedule", "test_all", "manual"]
    assert all(isinstance(r, CheckRecord) and r.connection_id == id and r.success
               and r.kind == "ok" and r.status_code == 200 and r.at.tzinfo == UTC
               for r in history)
    assert len(fake_server.requests_to("/api/tags")) == 3  # the schedule's was stood in for


def test_a_draft_check_of_a_saved_connection_is_recorded_without_its_status(
        service: ConnectionService, fake_server: FakeServer) -> None:
    id = add_ollama(service, fake_server)
    before = service.get(id)
    assert service.test_draft("ollama", {}, existing_id=id).success
    assert service.start_test_draft("ollama", {"baseUrl": fake_server.url},
                                    existing_id=id).result(timeout=10).success
    assert [r.source for r in service.history(id)] == ["manual", "manual"]
    after = service.get(id)
    assert (after.status, after.last_checked_at) == (before.status, before.last_checked_at)
    service.test_draft("ollama", {"baseUrl": fake_server.url})  # a new connection's: nowhere
    assert len(service.history(id)) == 2


def test_reading_a_servers_models_appends_nothing(service: ConnectionService,
                                                  fake_server: FakeServer) -> None:
    """What the Ollama screen reads when it opens is not a check."""
    id = add_ollama(service, fake_server)
    service.ollama_models(id)
    service.running_models(id)
    service.ollama_version(id)
    service.model_details(id, "llama3.2:1b")
    assert service.history(id) == []
    service.refresh_ollama_models(id)  # stores a status: a check
    assert [r.source for r in service.history(id)] == ["manual"]


def test_a_check_from_an_unknown_source_is_refused_and_nothing_is_written(
        data_path: Path, keyring: KeyRing) -> None:
    service = ConnectionService(TinyDBStore(data_path), keyring)
    id = service.create("ollama", "Local", {}).id
    records = records_of(service)
    with pytest.raises(ValueError, match="manual, test_all, schedule, cli"):
        records.record_results([(records.record(id), result(True, 3))], source="nightly")
    assert service.get(id).status == "unconfigured" and service.history(id) == []


def test_a_check_of_a_connection_edited_meanwhile_is_recorded(
        service: ConnectionService, fake_server: FakeServer) -> None:
    """Its status is not stored (it describes a config that is gone), but it ran."""
    fake_server.api_key = API_KEY
    created = service.create("openai", "Work", {"apiKey": API_KEY,
                                                "baseUrl": fake_server.openai_url})
    fake_server.hold()
    checking = service.start_test(created.id)
    assert fake_server.wait_for_in_flight(1)
    service.update(created.id, created.version, name="Renamed")
    fake_server.release()
    assert checking.result(timeout=10).success
    assert service.get(created.id).status == "unconfigured"
    assert [r.success for r in service.history(created.id)] == [True]


def test_records_hold_no_message_header_or_key(service: ConnectionService, where: Where,
                                               fake_server: FakeServer) -> None:
    fake_server.echo_key_in_errors = True  # the server quotes the key in its message
    created = service.create("openai", "Work", {"apiKey": WRONG_KEY,
                                                "baseUrl": fake_server.openai_url})
    failed = service.test(created.id)
    assert not failed.success and failed.kind == "auth"
    [record] = service.history(created.id)
    assert (record.success, record.kind, record.status_code) == (False, "auth", 401)
    if where.is_file:
        stored = b"".join(p.read_bytes() for p in Path(where.spec).parent.glob(
            "*.history.*.jsonl")).decode()
    else:
        stored = json.dumps(all_checks(where.store, created.id), default=str)
    assert created.id in stored
    for secret in (WRONG_KEY, WRONG_KEY[-4:], failed.message, "rejected", "Bearer",
                   "uthorization"):
        assert secret not in stored


# -- reading ----------------------------------------------------------------------------------

def fill(service: ConnectionService, id: str, clock: FakeClock,
         checks: list[tuple[timedelta, bool, int]]) -> None:
    """Records of checks ``(how long before the clock's time, success, latency)``, oldest
    first, as the scheduler would add them at those times."""
    for ago, success, latency in sorted(checks, key=lambda check: -check[0]):
        at = clock.now - ago
        records = records_of(service, lambda at=at: at)  # type: ignore[misc]
        records.record_results([(records.record(id), result(success, latency))],
                               source="schedule")


def test_history_is_newest_first_since_a_time_and_limited(service: ConnectionService,
                                                          clock: FakeClock) -> None:
    id = service.create("ollama", "Local", {}).id
    fill(service, id, clock, [(timedelta(hours=h), True, h) for h in range(1, 11)])
    assert [r.latency_ms for r in service.history(id)] == list(range(1, 11))
    assert [r.latency_ms for r in service.history(id, limit=3)] == [1, 2, 3]
    since = clock.now - timedelta(hours=4, minutes=30)
    assert [r.latency_ms for r in service.history(id, since=since)] == [1, 2, 3, 4]
    naive = since.replace(tzinfo=None)  # taken as UTC
    assert [r.latency_ms for r in service.history(id, since=naive)] == [1, 2, 3, 4]
    assert service.history(id, limit=0) == []


def test_health_counts_a_known_history(service: ConnectionService, clock: FakeClock) -> None:
    id = service.create("ollama", "Local", {}).id
    latencies = [40, 10, 30, 20, 50, 70, 60, 90, 80, 100, 200, 150, 110, 120, 130, 140,
                 160, 170, 180, 190]  # 20 successes: 10 ... 200
    fill(service, id, clock,
         [(timedelta(minutes=5 * n + 10), True, ms) for n, ms in enumerate(latencies)]
         + [(timedelta(minutes=7), False, 5), (timedelta(minutes=3), False, 9)]
         + [(timedelta(hours=30), False, 1)])  # outside the last 24 hours
    now = clock.now
    health = service.health(id)
    assert isinstance(health, Health)
    assert (health.checks, health.failures) == (22, 2)
    assert health.uptime == pytest.approx(20 / 22)
    # Nearest rank: the 10th and the 19th of 20 successes, in order.
    assert (health.latency_p50_ms, health.latency_p95_ms) == (100, 190)
    assert health.last_success_at == now - timedelta(minutes=10)
    assert health.last_failure_at == now - timedelta(minutes=3)
    week = service.health(id, since=now - timedelta(days=7))
    assert (week.checks, week.failures) == (23, 3)


def test_health_without_checks_or_successes(service: ConnectionService,
                                            clock: FakeClock) -> None:
    id = service.create("ollama", "Local", {}).id
    assert service.health(id) == Health(0, 0, None, None, None, None, None)
    fill(service, id, clock, [(timedelta(minutes=2), False, 7), (timedelta(minutes=1), False, 8)])
    now = clock.now
    failing = service.health(id)
    assert (failing.checks, failing.failures, failing.uptime) == (2, 2, 0.0)
    assert (failing.latency_p50_ms, failing.latency_p95_ms, failing.last_success_at) == (
        None, None, None)
    assert failing.last_failure_at == now - timedelta(minutes=1)


@pytest.mark.parametrize(("arguments", "problem"), [
    ({"since": "yesterday"}, "Since is a date and time"),
    ({"since": 1700000000}, "Since is a date and time"),
    ({"limit": -1}, "The limit is a whole number, 0 or more"),
    ({"limit": True}, "The limit is a whole number, 0 or more"),
    ({"limit": "10"}, "The limit is a whole number, 0 or more"),
])
def test_a_bad_since_or_limit_is_refused_with_a_sentence(
        keyring: KeyRing, data_path: Path, arguments: dict[str, Any], problem: str) -> None:
    service = ConnectionService(TinyDBStore(data_path), keyring)
    id = service.create("ollama", "Local", {}).id
    with pytest.raises(ValidationError, match=problem):
        service.history(id, **arguments)
    if "since" in arguments:
        with pytest.raises(ValidationError, match=problem):
            service.health(id, since=arguments["since"])


def test_only_this_workspaces_connections_and_members_may_read(
        service: ConnectionService, clock: FakeClock) -> None:
    other = service.in_workspace("other")
    theirs = other.create("ollama", "Theirs", {}).id
    fill(other, theirs, clock, [(timedelta(minutes=1), True, 3)])
    for read in (service.history, service.health):
        with pytest.raises(NotFoundError, match="No connection"):
            read(theirs)
    service.set_member("admin@example.com", "admin")
    service.set_member("viewer@example.com", "viewer")
    viewer = ConnectionService(service.store, service.keyring, actor="viewer@example.com",
                               clock=clock)
    mine = service.create("ollama", "Mine", {}).id
    fill(service, mine, clock, [(timedelta(minutes=1), True, 3)])
    assert len(viewer.history(mine)) == 1 and viewer.health(mine).checks == 1
    stranger = ConnectionService(service.store, service.keyring, actor="eve@example.com",
                                 clock=clock)
    with pytest.raises(PermissionDeniedError):
        stranger.history(mine)


# -- retention and purges -----------------------------------------------------------------------

def test_records_older_than_the_retention_are_dropped(where: Where, keyring: KeyRing,
                                                      clock: FakeClock) -> None:
    service = ConnectionService(where.store, keyring, clock=clock, history_days=30)
    id = service.create("ollama", "Local", {}).id
    fill(service, id, clock, [(timedelta(hours=n), True, n) for n in range(1, 6)])
    clock.now += timedelta(days=30) - timedelta(hours=4, minutes=30)
    assert [r.latency_ms for r in service.history(id)] == [1, 2, 3, 4]  # the 5th is past
    clock.now += timedelta(days=2)
    fill(service, id, clock, [(timedelta(0), True, 99)])
    assert [r["latency_ms"] for r in all_checks(where.store, id)] == [99]  # gone, not hidden
    if where.is_file:
        [kept] = Path(where.spec).parent.glob("*.history.*.jsonl")
        assert kept.name == "connections.history.1.jsonl" and kept.read_bytes().count(b"\n") == 1


def test_a_purged_connections_history_goes_with_it(service: ConnectionService, where: Where,
                                                   clock: FakeClock) -> None:
    gone, kept = (service.create("ollama", name, {}).id for name in ("Gone", "Kept"))
    for id in (gone, kept):
        fill(service, id, clock, [(timedelta(minutes=2), True, 4),
                                  (timedelta(minutes=1), False, 5)])
    service.delete(gone)
    assert len(all_checks(where.store, gone)) == 2  # kept while it can be restored
    service.purge_deleted(clock.now + timedelta(seconds=10))
    assert all_checks(where.store, gone) == []
    assert len(all_checks(where.store, kept)) == 2
    if where.is_file:
        [file] = Path(where.spec).parent.glob("*.history.*.jsonl")
        assert gone.encode() not in file.read_bytes()


def test_the_retention_comes_from_connections_history_days(tmp_path: Path, key: str) -> None:
    env = {"CONNECTIONS_DATA_DIR": str(tmp_path), "ENCRYPTION_KEY": key}
    assert ConnectionService.from_env(environ=env).history_days == 30
    service = ConnectionService.from_env(environ={**env, "CONNECTIONS_HISTORY_DAYS": "7"})
    assert service.history_days == 7 and service.in_workspace("other").history_days == 7
    for bad in ("0", "-3", "seven", "7.5"):
        with pytest.raises(ValidationError, match="CONNECTIONS_HISTORY_DAYS.*whole number"):
            ConnectionService.from_env(environ={**env, "CONNECTIONS_HISTORY_DAYS": bad})


# -- at once, and crashes -----------------------------------------------------------------------

WORKER = """
import sys
from connections_core import ConnectionService, KeyRing, TestResult, TinyDBStore
from connections_core.records import Records
from connections_core.scope import Clock, utc_now
from connections_core.scope import utc_now
spec, key, id, mode, count = sys.argv[1:6]
if spec.startswith("postgresql://"):
    from connections_core.postgres import PostgresStore
    store = PostgresStore(spec)
else:
    store = TinyDBStore(spec)
service = ConnectionService(store, KeyRing(key))
records = Records(store, KeyRing(key), "default", clock=utc_now, audit_days=365,
                  actor_name=lambda: "local")
print("ready", flush=True)
sys.stdin.readline()
for n in range(int(count)):
    if mode == "test":
        service.test(id)
        print(n, flush=True)
    else:
        result = TestResult(n % 2 == 0, "Connected.", "ok" if n % 2 == 0 else "timeout", n)
        stored = records.record_results([(records.record(id), result)],
                                        each="connection.tested", source="schedule")
        print(stored[id]["last_checked_at"], flush=True)
"""


def start_worker(where: Where, key: str, id: str, mode: str, count: int
                 ) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", WORKER, where.spec, key, id, mode,
                                str(count)], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def test_eight_threads_and_two_processes_checking_at_once_lose_no_record(
        where: Where, key: str, fake_server: FakeServer) -> None:
    service = ConnectionService(where.store, KeyRing(key))
    id = add_ollama(service, fake_server)
    workers = [start_worker(where, key, id, "test", 10) for _ in range(2)]

    def work(n: int) -> None:
        mine = ConnectionService(reopened(where), KeyRing(key))
        for _ in range(5):
            mine.test(id)

    assert not at_once(work, 8, workers)
    assert len(all_checks(where.store, id)) == 2 * 10 + 8 * 5
    assert len(service.history(id, limit=1000)) == 60


@pytest.fixture
def killed(where: Where, key: str) -> tuple[str, list[str]]:
    """A connection, and the check times a process acknowledged before it was killed
    (``kill -9``) while recording checks as fast as it can."""
    id = ConnectionService(where.store, KeyRing(key)).create("ollama", "Local", {}).id
    worker = start_worker(where, key, id, "record", 100_000)
    assert worker.stdout is not None and worker.stdin is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()
    acknowledged = [worker.stdout.readline().strip() for _ in range(25)]
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    worker.stdout.close()
    worker.stdin.close()
    return id, acknowledged


def test_kill_9_while_recording_leaves_the_status_and_its_record_both_or_neither(
        where: Where, key: str, killed: tuple[str, list[str]]) -> None:
    id, acknowledged = killed
    store = reopened(where)

    def consistent() -> list[dict[str, Any]]:
        checks = all_checks(store, id)
        tested = [e for e in store.audit_entries("default") if e["action"] == "connection.tested"]
        assert len(checks) == len(tested)  # committed in the same writes
        [record] = [r for r in store.connections("default")[1] if r["id"] == id]
        assert datetime.fromisoformat(record["last_checked_at"]) == checks[0]["at"]
        return checks

    checks = consistent()
    assert {datetime.fromisoformat(at) for at in acknowledged} <= {c["at"] for c in checks}
    service = ConnectionService(store, KeyRing(key))
    records = records_of(service)
    records.record_results([(records.record(id), result(True, 1))], each="connection.tested",
                           source="schedule")
    assert len(consistent()) == len(checks) + 1  # lines a killed write left were cut first


def test_another_process_appends_are_read_without_rereading(
        data_path: Path, key: str, fake_server: FakeServer) -> None:
    """The process's index follows the file: a second store of it in this process, and
    records appended by another process, are seen at the next read."""
    where = Where(TinyDBStore(data_path), str(data_path))
    service = ConnectionService(where.store, KeyRing(key))
    id = add_ollama(service, fake_server)
    service.test(id)
    assert len(service.history(id)) == 1
    assert not at_once(lambda n: None, 0, [start_worker(where, key, id, "test", 3)])
    later = ConnectionService(TinyDBStore(data_path), KeyRing(key))
    assert len(service.history(id)) == len(later.history(id)) == 4
    service.test(id)
    assert len(later.history(id)) == 5


# -- the file's index ------------------------------------------------------------------------------

def test_the_files_index_reads_back_as_far_as_asked_and_matches_the_file(
        data_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A fresh index reads a day from the end of the file, then a month when asked;
    a record out of time order (a check that waited for the lock) and a damaged one
    don't throw it off."""
    store = TinyDBStore(data_path)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    entries = [{"at": (now - timedelta(minutes=10 * n)).isoformat(), "workspace_id": "default",
                "connection_id": f"c{n % 2}", "success": n % 7 != 0, "kind": "ok",
                "latency_ms": n % 500, "status_code": 200, "source": "schedule"}
               for n in range(4_000, 0, -1)]  # four weeks, oldest first: about 800 KB
    entries[-50]["at"] = (now - timedelta(minutes=525)).isoformat()  # committed late
    entries.insert(-30, {**entries[-30], "latency_ms": "slow"})  # damaged: skipped
    with store.transaction() as tx:
        tx.append_checks(entries)
    [state] = store.snapshot("history_state")[1]
    index = HistoryIndex(store.history_file)

    def expected(id: str, since: datetime) -> list[tuple[datetime, int]]:
        lines = [json.loads(line) for line in store.history_file.path(0).read_bytes().split()]
        return sorted(((datetime.fromisoformat(e["at"]), e["latency_ms"]) for e in lines
                       if e["connection_id"] == id and datetime.fromisoformat(e["at"]) >= since
                       and isinstance(e["latency_ms"], int)), reverse=True)

    for days in (1, 3, 30):
        since = now - timedelta(days=days)
        for id in ("c0", "c1"):
            found = index.checks(LogState.of(state), "default", id, since=since, limit=None)
            assert [(r["at"], r["latency_ms"]) for r in found] == expected(id, since)
    assert "Skipped a damaged line" in caplog.text
