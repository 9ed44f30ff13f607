"""Scheduled checks: ``set_schedule``, the scheduler's loop, ``watch`` and the server's
lifespan.

Checks go to a real fake provider on 127.0.0.1 that counts what it receives; the
stores are real (the data file, and PostgreSQL where storage is involved); several
schedulers are real processes (``python -m connections_core watch``) and a real
``streamlit run``.  Nothing sleeps: every wait is on a condition, with a bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connections_core import (
    ConnectionService,
    KeyRing,
    PermissionDeniedError,
    ScheduledCheck,
    Scheduler,
    Store,
    TinyDBStore,
    ValidationError,
    generate_key,
    open_demo,
)
from connections_core import scheduler as scheduler_module
from connections_core.cli import run as run_cli
from connections_core.environment import KEY_FILE
from server import lifespan as lifespan_module
from server.lifespan import lifespan
from tests.browsers import ROOT, wait_until_healthy
from tests.fakes import API_KEY, FakeServer
from tests.installations import Installation
from tests.postgres import PostgresServer
from tests.support import free_port

#: How many connections the processes of one test share, all due at once.
MANY = 200
BOUND = 30.0  # seconds any wait may take before the test fails


@pytest.fixture(params=["tinydb", "postgresql"])
def any_store(request: pytest.FixtureRequest, data_path: Path) -> Store:
    """A new, empty store of each kind."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_store")  # type: ignore[no-any-return]
    return TinyDBStore(data_path)


class Recorded:
    """The scheduled checks a scheduler reported, waited for by count."""

    def __init__(self) -> None:
        self.checks: list[ScheduledCheck] = []
        self._changed = threading.Condition()

    def __call__(self, check: ScheduledCheck) -> None:
        with self._changed:
            self.checks.append(check)
            self._changed.notify_all()

    def wait_for(self, count: int, bound: float = BOUND) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.checks) >= count, bound)


@contextmanager
def running(scheduler: Scheduler) -> Iterator[Scheduler]:
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.stop(BOUND)
        assert not scheduler.running


def openai(service: ConnectionService, server: FakeServer, name: str = "Prod",
           key: str = API_KEY) -> str:
    return service.create("openai", name, {"apiKey": key, "baseUrl": server.openai_url}).id


def keys_sent(server: FakeServer) -> Counter[str]:
    return Counter(r.headers.get("authorization", "").removeprefix("Bearer ")
                   for r in server.requests_to("/v1/models"))


# -- set_schedule ---------------------------------------------------------------------------

def test_a_schedule_is_kept_with_its_due_time_and_recorded(any_store: Store, keyring: KeyRing,
                                                           fake_server: FakeServer) -> None:
    service = ConnectionService(any_store, keyring)
    id = openai(service, fake_server)
    assert service.get(id).schedule_minutes == 0 and service.get(id).next_check_at is None

    before = datetime.now(UTC)
    scheduled = service.set_schedule(id, 15)

    assert scheduled.schedule_minutes == 15 == service.get(id).schedule_minutes
    assert scheduled.next_check_at is not None and before <= scheduled.next_check_at
    assert service.get(id).next_check_at == scheduled.next_check_at  # due at once
    [entry] = service.audit(action="connection.schedule_set")
    assert entry.target_id == id and dict(entry.details) == {"minutes": 15}
    off = service.set_schedule(id, 0)
    assert off.schedule_minutes == 0 and off.next_check_at is None
    assert any_store.next_check_at() is None


@pytest.mark.parametrize("minutes", [2, -1, 90, True, 5.0, "5", None])
def test_a_schedule_is_one_of_the_allowed_periods(service: ConnectionService,
                                                  fake_server: FakeServer,
                                                  minutes: Any) -> None:
    id = openai(service, fake_server)
    with pytest.raises(ValidationError, match=r"every 1, 5, 15 or 60 minutes, or never \(0\)"):
        service.set_schedule(id, minutes)
    assert service.get(id).schedule_minutes == 0
    assert not service.audit(action="connection.schedule_set")


def test_editors_and_admins_set_schedules_viewers_do_not(service: ConnectionService,
                                                        fake_server: FakeServer) -> None:
    id = openai(service, fake_server)
    service.set_member("ad@example.com", "admin")
    service.set_member("ed@example.com", "editor")
    service.set_member("vi@example.com", "viewer")
    as_editor = ConnectionService(service.store, service.keyring, actor="ed@example.com")
    as_viewer = ConnectionService(service.store, service.keyring, actor="vi@example.com")

    assert as_editor.set_schedule(id, 5).schedule_minutes == 5
    with pytest.raises(PermissionDeniedError, match="needs the editor role"):
        as_viewer.set_schedule(id, 60)
    assert service.get(id).schedule_minutes == 5
    assert as_viewer.can("list") and not as_viewer.can("set_schedule")


def test_list_json_shows_the_schedule(service: ConnectionService, fake_server: FakeServer,
                                      data_path: Path, key: str,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    service.set_schedule(openai(service, fake_server), 60)
    monkeypatch.setenv("ENCRYPTION_KEY", key)
    monkeypatch.delenv("CONNECTIONS_DATABASE_URL", raising=False)
    assert run_cli(["list", "--json", "--data-dir", str(data_path.parent)]) == 0
    assert '"schedule_minutes": 60' in capsys.readouterr().out


# -- the loop -------------------------------------------------------------------------------

def test_a_due_check_runs_once_and_is_recorded(any_store: Store, keyring: KeyRing,
                                               fake_server: FakeServer) -> None:
    service = ConnectionService(any_store, keyring)
    id = openai(service, fake_server)
    due = service.set_schedule(id, 1).next_check_at
    assert due is not None
    recorded = Recorded()

    with running(Scheduler.for_service(service, on_checked=recorded)):
        assert recorded.wait_for(1)

    [check] = recorded.checks
    assert check.connection.id == id and check.result.success and check.due_at == due
    assert keys_sent(fake_server) == Counter({API_KEY: 1})
    stored = service.get(id)
    assert stored.status == "connected" and stored.last_checked_at is not None
    assert stored.next_check_at == due + timedelta(minutes=1)  # the schedule holds
    # The history holds it; the audit trail (what people did) is not flooded by it.
    [record] = service.history(id)
    assert record.source == "schedule" and record.success
    assert not service.audit(action="connection.tested")
    assert not service.audit(action="connection.test_started")


def test_a_check_far_behind_runs_once_not_once_per_period(any_store: Store, keyring: KeyRing,
                                                         fake_server: FakeServer) -> None:
    """The process was down for an hour: the check runs once, and is next due a period
    after it ran, not at each minute it missed."""
    service = ConnectionService(any_store, keyring)
    id = openai(service, fake_server)
    due = service.set_schedule(id, 1).next_check_at
    assert due is not None
    an_hour_later = due + timedelta(hours=1)
    recorded = Recorded()

    with running(Scheduler(any_store, keyring, clock=lambda: an_hour_later,
                           on_checked=recorded)):
        assert recorded.wait_for(1)

    assert keys_sent(fake_server) == Counter({API_KEY: 1})
    assert service.get(id).next_check_at == an_hour_later + timedelta(minutes=1)


def test_a_deleted_connection_is_never_checked(any_store: Store, keyring: KeyRing,
                                               fake_server: FakeServer) -> None:
    service = ConnectionService(any_store, keyring)
    gone, kept = (openai(service, fake_server, name, key)
                  for name, key in (("Gone", API_KEY + "-gone"), ("Kept", API_KEY)))
    for id in (gone, kept):
        service.set_schedule(id, 1)
    service.delete(gone)
    recorded = Recorded()

    with running(Scheduler.for_service(service, on_checked=recorded)):
        assert recorded.wait_for(1)

    assert [c.connection.id for c in recorded.checks] == [kept]
    assert keys_sent(fake_server) == Counter({API_KEY: 1})
    assert service.restore(gone).next_check_at is not None  # scheduled again once restored


class _Lines(logging.Handler):
    """Log lines, waited for."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.lines.append(record.getMessage())
            self._changed.notify_all()

    def wait_for(self, words: str) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: any(words in line for line in self.lines),
                                          BOUND)


@pytest.fixture
def warnings_logged() -> Iterator[_Lines]:
    lines = _Lines()
    logger = logging.getLogger("connections_core.scheduler")
    logger.addHandler(lines)
    try:
        yield lines
    finally:
        logger.removeHandler(lines)


def test_the_loop_survives_a_store_error_and_a_hostile_provider(
        service: ConnectionService, fake_server: FakeServer, data_path: Path,
        warnings_logged: _Lines, monkeypatch: pytest.MonkeyPatch) -> None:
    """A damaged data file holds the checks up (one line, no secret), and they run once
    it is back; a provider that redirects to the cloud metadata address is an error
    recorded like any other."""
    monkeypatch.setattr(scheduler_module, "RETRY_SECONDS", 0.05)
    fake_server.respond("/api/tags", 302, headers={"Location": "http://169.254.169.254/"})
    ids = [openai(service, fake_server),
           service.create("ollama", "Hostile", {"baseUrl": fake_server.url}).id]
    for id in ids:
        service.set_schedule(id, 5)
    sound = data_path.read_bytes()
    data_path.write_bytes(b"{not json")
    recorded = Recorded()

    with running(Scheduler.for_service(service, on_checked=recorded)):
        assert warnings_logged.wait_for("Scheduled checks are held up")
        data_path.write_bytes(sound)
        assert recorded.wait_for(2)
        assert warnings_logged.wait_for("running again")

    assert {c.connection.id: c.result.success for c in recorded.checks} == {
        ids[0]: True, ids[1]: False}
    assert service.get(ids[1]).status == "error"
    held_up = next(line for line in warnings_logged.lines if "held up" in line)
    assert "not valid JSON" in held_up and "\n" not in held_up
    assert not any(API_KEY[-8:] in line for line in warnings_logged.lines)


def test_a_stop_gives_back_the_checks_not_started(service: ConnectionService,
                                                  fake_server: FakeServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """One slot: one check runs (held at the provider), the next is claimed and waits;
    a stop gives that one back, due as it was, for another process to take now."""
    monkeypatch.setenv("CONNECTIONS_MAX_CHECKS", "1")
    monkeypatch.setattr(scheduler_module, "STOP_GRACE_SECONDS", 0.1)
    service = ConnectionService(service.store, service.keyring)  # on the scheduler's clock
    ids = [openai(service, fake_server, f"c{n}") for n in range(3)]
    due = [service.set_schedule(id, 1).next_check_at for id in ids]
    fake_server.hold()
    scheduler = Scheduler.for_service(service)
    scheduler.start()
    try:
        assert fake_server.wait_for_in_flight(1, BOUND)
    finally:
        scheduler.stop(BOUND)
        fake_server.release(10)

    assert len(fake_server.requests_to("/v1/models")) == 1
    after = [service.get(id).next_check_at for id in ids]
    assert after[0] == due[0] + timedelta(minutes=1)  # claimed and sent
    assert after[1:] == due[1:]  # given back, and never claimed


def test_with_nothing_due_the_loop_writes_nothing(tmp_path: Path, keyring: KeyRing) -> None:
    """A fresh data folder stays as it is while the server's scheduler runs over it
    (the demo's story ends on a byte-identical folder): nothing due, no transaction."""
    data = tmp_path / "data"
    service = ConnectionService(TinyDBStore(data / "connections.json"), keyring)
    Scheduler.for_service(service)._pass()  # one pass of its loop, here
    assert not (data / "connections.json").exists()


def test_the_demo_is_never_scheduled() -> None:
    demo = open_demo()
    assert demo.store.next_check_at() is None  # the demo's store answers the seam
    with pytest.raises(ValidationError, match="demo"):
        Scheduler.for_service(demo)


# -- several processes over one store -------------------------------------------------------

class _Watcher:
    """``python -m connections_core watch`` in a process of its own; its lines as they
    come."""

    def __init__(self, env: dict[str, str], cwd: Path, lines: list[str],
                 changed: threading.Condition) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "connections_core", "watch"], cwd=cwd, env=env, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._lines, self._changed = lines, changed
        self.err = ""
        self._readers = [threading.Thread(target=self._read_out, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_out(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()

    def _read_err(self) -> None:
        assert self.process.stderr is not None
        self.err = self.process.stderr.read()

    def stop(self) -> int:
        self.process.terminate()  # SIGTERM, as a service manager stops a worker
        code = self.process.wait(BOUND)
        for reader in self._readers:
            reader.join(BOUND)
        return code


def _many_due(service: ConnectionService, server: FakeServer) -> list[str]:
    """:data:`MANY` connections, each with a key of its own, all due at once (one write)."""
    with service.store.transaction():
        ids = [openai(service, server, f"c{n}", f"sk-test-{n:04d}-0123456789abcdef")
               for n in range(MANY)]
        for id in ids:
            service.set_schedule(id, 1)
    return ids


@pytest.mark.parametrize("kind", ["tinydb", "postgresql"])
def test_two_processes_check_each_due_connection_once(kind: str, tmp_path: Path,
                                                      fake_server: FakeServer,
                                                      request: pytest.FixtureRequest) -> None:
    """Two watchers over one data file (or two replicas over one database), 200
    connections due at once: the server sees each key exactly once."""
    site = Installation(tmp_path, tmp_path / "data", generate_key())
    site.data.mkdir()
    env = site.env()
    if kind == "postgresql":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        dsn = postgres.dsn(request.getfixturevalue("postgres_database"))
        env["CONNECTIONS_DATABASE_URL"] = dsn
        service = ConnectionService.from_env(environ=env)
    else:
        service = site.service()
    fake_server.respond("/v1/models", 200, {"object": "list", "data": [{"id": "gpt-4o"}]})
    ids = _many_due(service, fake_server)
    lines: list[str] = []
    changed = threading.Condition()

    watchers = [_Watcher(env, tmp_path, lines, changed) for _ in range(2)]
    try:
        with changed:
            assert changed.wait_for(lambda: len(lines) >= MANY, BOUND), len(lines)
    finally:
        codes = [watcher.stop() for watcher in watchers]

    assert codes == [0, 0], [w.err for w in watchers]
    sent = keys_sent(fake_server)
    assert len(sent) == MANY and set(sent.values()) == {1}
    assert len(lines) == MANY and all(" Connected " in line for line in lines)
    output = "".join(lines) + "".join(w.err for w in watchers)
    assert "sk-test-" not in output and "Traceback" not in output
    assert all("Stopped after" in w.err for w in watchers)
    assert {c.id for c in service.list() if c.status == "connected"} == set(ids)


# -- with the server ------------------------------------------------------------------------

def _scheduler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "connections-scheduled-checks"]


@pytest.fixture
def app_env(tmp_path: Path, key: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's environment in this process: a data folder and a key; its folder."""
    data = tmp_path / "data"
    for name in ("CONNECTIONS_DATABASE_URL", "CONNECTIONS_SCHEDULER", "ENCRYPTION_SECRET",
                 "ENCRYPTION_KEY_PREVIOUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONNECTIONS_DATA_DIR", str(data))
    monkeypatch.setenv("ENCRYPTION_KEY", key)
    return data


def _serve(check: Callable[[], None]) -> None:
    """Run the server's lifespan around ``check`` (run off the event loop)."""
    async def server() -> None:
        async with lifespan(object()):
            await asyncio.to_thread(check)

    asyncio.run(server())


def test_the_lifespan_runs_due_checks_and_stops_with_the_server(
        app_env: Path, fake_server: FakeServer) -> None:
    service = ConnectionService.from_env()
    service.set_schedule(openai(service, fake_server), 1)

    def while_serving() -> None:
        assert fake_server.wait_for_requests(1, BOUND)
        assert len(_scheduler_threads()) == 1

    _serve(while_serving)
    assert not _scheduler_threads()


@pytest.mark.parametrize("value", ["0", "off", "sometimes"])
def test_the_lifespan_runs_nothing_when_scheduler_is_off_or_unclear(
        app_env: Path, monkeypatch: pytest.MonkeyPatch, value: str,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("CONNECTIONS_SCHEDULER", value)
    _serve(lambda: None if not _scheduler_threads() else pytest.fail("a scheduler runs"))
    assert ("CONNECTIONS_SCHEDULER to 1" in caplog.text) == (value == "sometimes")


def test_the_lifespan_makes_no_key_before_the_dashboard_does(
        app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENCRYPTION_KEY")
    assert lifespan_module._service() is None
    assert not (app_env / KEY_FILE).exists()


#: Put on the server's PYTHONPATH: the scheduler's log lines (INFO and up) go to a file,
#: so the test reads that it stopped (Streamlit shows no such line).
SCHEDULER_LOG = """
import logging, os
handler = logging.FileHandler(os.environ["SCHEDULER_LOG"])
logger = logging.getLogger("connections_core.scheduler")
logger.addHandler(handler)
logger.setLevel(logging.INFO)
"""


def test_streamlit_runs_due_checks_without_a_page_and_stops_with_the_server(
        tmp_path: Path, key: str, fake_server: FakeServer) -> None:
    (tmp_path / "sitecustomize.py").write_text(SCHEDULER_LOG)
    logged = tmp_path / "scheduler.log"
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("ENCRYPTION_", "CONNECTIONS_"))}
    env.update(CONNECTIONS_DATA_DIR=str(tmp_path / "data"), ENCRYPTION_KEY=key,
               NO_PROXY="127.0.0.1", PYTHONPATH=str(tmp_path), SCHEDULER_LOG=str(logged))
    service = ConnectionService.from_env(environ=env)
    id = openai(service, fake_server)
    service.set_schedule(id, 1)
    port = free_port()
    with (tmp_path / "streamlit.log").open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless",
             "true", "--server.address", "127.0.0.1", "--server.port", str(port),
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process)  # no page is opened
        assert fake_server.wait_for_answered(1, BOUND)
    finally:
        process.terminate()  # SIGTERM: uvicorn runs the lifespan's end, then exits by it
        process.wait(BOUND)

    assert keys_sent(fake_server) == Counter({API_KEY: 1})
    assert service.get(id).status == "connected"
    lines = logged.read_text().splitlines()
    assert lines[0].startswith("Running scheduled checks") and lines[-1].startswith(
        "Stopped running scheduled checks"), lines
    assert "Traceback" not in (tmp_path / "streamlit.log").read_text()
