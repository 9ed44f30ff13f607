"""GET /metrics and GET /healthz (server/routes.py).

The collector on both stores (what each connection's gauges say, one read of the
store, nothing decrypted); the routes in this process (a store that fails or hangs);
and ``streamlit run streamlit_app.py`` itself, once per store: on the data file with
a token (the scrape parsed as Prometheus parses it, refusals), and on a PostgreSQL
server of the module's own without one (404), which the test stops (503).
"""

from __future__ import annotations

import asyncio
import copy
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connections_core import (
    ConnectionService,
    KeyRing,
    PermissionDeniedError,
    Store,
    StoreError,
    TinyDBStore,
    generate_key,
)
from server import routes as routes_module
from server.routes import LABELS, TOKEN_VARIABLE, ConnectionsCollector, routes
from tests import stores
from tests.browsers import ROOT, wait_until_healthy
from tests.fakes import FakeServer
from tests.postgres import PASSWORD, PostgresServer
from tests.support import FakeClock, free_port

TOKEN = "metrics-token-Hq4rT8wZp2"
FAMILIES = ("connections_up", "connections_check_latency_seconds",
            "connections_last_check_timestamp_seconds")
#: A name with every character the text format escapes, and some it doesn't.
ODD_NAME = 'Ada\'s "lab" \\ ünï {x="1"}'

Samples = dict[str, dict[tuple[str, ...], float]]


def parsed(text: str) -> Samples:
    """Each family's samples, by their labels (workspace, connection, type, id), as
    Prometheus reads the text format."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge"
        found[family.name] = {tuple(sample.labels[label] for label in LABELS): sample.value
                              for sample in family.samples}
    return found


@dataclass
class Seeded:
    """Connections in two workspaces, and the samples they should give."""

    expected: Samples
    absent: set[str]  # names that must not appear: never checked, deleted


def seed(service: ConnectionService, provider: FakeServer) -> Seeded:
    """Work (checked, connected), Broken (checked, error) and Never (not checked) in
    ``default``; Gone (checked, then deleted); in ``team-b`` one with an odd name."""
    team_b = service.in_workspace("team-b")
    work = service.create("ollama", "Work", {"baseUrl": provider.url})
    broken = service.create("openai", "Broken", {"apiKey": "sk-wrong-000000000000",
                                                 "baseUrl": provider.openai_url})
    service.create("ollama", "Never", {"baseUrl": provider.url})
    gone = service.create("ollama", "Gone", {"baseUrl": provider.url})
    odd = team_b.create("ollama", ODD_NAME, {"baseUrl": provider.url})
    for owner, connection in ((service, work), (service, broken), (service, gone),
                              (team_b, odd)):
        owner.test(connection.id)
    service.delete(gone.id)
    expected: Samples = {family: {} for family in FAMILIES}
    for owner, id, up in ((service, work.id, 1.0), (service, broken.id, 0.0),
                          (team_b, odd.id, 1.0)):
        checked = owner.get(id)  # as the ordinary API reads it
        assert checked.last_result is not None and checked.last_checked_at is not None
        labels = (checked.workspace_id, checked.name, checked.type, checked.id)
        expected["connections_up"][labels] = up
        expected["connections_check_latency_seconds"][labels] = \
            checked.last_result.latency_ms / 1000
        expected["connections_last_check_timestamp_seconds"][labels] = \
            checked.last_checked_at.timestamp()
    return Seeded(expected, {"Never", "Gone"})


def scrape(read: Callable[[], Any]) -> str:
    registry = CollectorRegistry()
    registry.register(ConnectionsCollector(read))
    return generate_latest(registry).decode("utf-8")


# -- the collector, on both stores ---------------------------------------------------------

@pytest.fixture(params=["tinydb", "postgresql"])
def any_store(request: pytest.FixtureRequest, data_path: Path) -> Store:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_store")  # type: ignore[no-any-return]
    return TinyDBStore(data_path)


@pytest.fixture
def trusted(any_store: Store, keyring: KeyRing, clock: FakeClock) -> ConnectionService:
    return ConnectionService(any_store, keyring, clock=clock, timeout=2.0)


def test_the_gauges_of_every_workspace_s_checked_connections(
        trusted: ConnectionService, fake_server: FakeServer) -> None:
    seeded = seed(trusted, fake_server)

    found = parsed(scrape(trusted.list_every_workspace))

    assert found == seeded.expected
    names = {labels[1] for samples in found.values() for labels in samples}
    assert not names & seeded.absent, "never checked and deleted connections give no sample"
    assert ODD_NAME in names, "escaped by prometheus-client, read back as it was"


def test_a_record_edited_by_hand_still_gives_a_parsable_scrape(
        trusted: ConnectionService, fake_server: FakeServer) -> None:
    """A name the service would refuse (a line break, a lone surrogate) can still be in
    a store someone edited: its sample must not spoil the others."""
    good = trusted.create("ollama", "Good", {"baseUrl": fake_server.url})
    bad = trusted.create("ollama", "Bad", {"baseUrl": fake_server.url})
    trusted.test(good.id)
    trusted.test(bad.id)
    stores.edit(trusted.store, bad.id, lambda r: r.update(name="Line\nbreak \ud800"))

    up = parsed(scrape(trusted.list_every_workspace))["connections_up"]

    assert {labels[1] for labels in up} == {"Good", "Line\nbreak ?"}


class CountingStore(TinyDBStore):
    """The data file, counting the reads made through the Store interface."""

    reads: list[str]

    def revision(self) -> Any:
        self.reads.append("revision")
        return super().revision()

    def connections(self, workspace_id: str | None = None) -> Any:
        self.reads.append("connections")
        return super().connections(workspace_id)

    def connection(self, workspace_id: str, id: str) -> Any:
        self.reads.append("connection")
        return super().connection(workspace_id, id)

    def members(self, workspace_id: str | None = None) -> Any:
        self.reads.append("members")
        return super().members(workspace_id)


def test_a_scrape_of_1000_connections_is_one_read_and_decrypts_nothing(
        data_path: Path, keyring: KeyRing, fake_server: FakeServer) -> None:
    """Every secret is replaced by one no key opens: had the scrape decrypted one,
    it would have failed."""
    store = CountingStore(data_path)
    store.reads = []
    service = ConnectionService(store, keyring)
    first = service.create("openai", "Key", {"apiKey": "sk-test-0123456789abcdef",
                                             "baseUrl": fake_server.openai_url})
    template = stores.connection(store, first.id)
    template["config"]["apiKey"] = "v2:" + "A" * 60
    copies = []
    for n in range(1000):
        record = copy.deepcopy(template)
        record.update(id=str(uuid.uuid4()), name=f"Key {n}", workspace_id=f"team-{n % 10}",
                      status="error", last_checked_at="2026-01-01T00:00:00+00:00",
                      last_result={"success": False, "message": "No.", "kind": "auth",
                                   "latency_ms": n, "status_code": 401})
        copies.append(record)
    with store.transaction() as tx:
        tx.remove_connections("default", [first.id])
        tx.insert_connections(copies)
    store.reads.clear()

    found = parsed(scrape(service.list_every_workspace))

    assert store.reads == ["connections"]
    assert len(found["connections_up"]) == 1000
    assert set(found["connections_up"].values()) == {0.0}
    assert sorted(found["connections_check_latency_seconds"].values()) == \
        [n / 1000 for n in range(1000)]


def test_only_trusted_code_and_instance_admins_read_every_workspace(
        data_path: Path, keyring: KeyRing) -> None:
    store = TinyDBStore(data_path)
    ConnectionService(store, keyring).set_member("ada@example.com", "admin")
    admin_of_one = ConnectionService(store, keyring, actor="ada@example.com")
    instance_admin = ConnectionService(store, keyring, actor="root@example.com",
                                       admins=["root@example.com"])

    with pytest.raises(PermissionDeniedError, match="Only an instance admin"):
        admin_of_one.list_every_workspace()
    assert instance_admin.list_every_workspace() == []


# -- the routes, in this process -----------------------------------------------------------

def call(route: Route, *, token: str | None = TOKEN) -> Response:
    """What the route answers a GET (with ``Authorization: Bearer <token>``)."""
    headers = [] if token is None else [(b"authorization", f"Bearer {token}".encode())]
    request = Request({"type": "http", "method": "GET", "path": route.path,
                       "headers": headers, "query_string": b""})
    response: Response = asyncio.run(route.endpoint(request))
    return response


def named(found: list[Any], path: str) -> Route:
    return next(route for route in found if isinstance(route, Route) and route.path == path)


def test_the_service_is_opened_once_for_every_request(data_path: Path,
                                                       keyring: KeyRing) -> None:
    opened: list[ConnectionService] = []

    def open_service() -> ConnectionService:
        opened.append(ConnectionService(TinyDBStore(data_path), keyring))
        return opened[-1]

    found = routes(open_service, {TOKEN_VARIABLE: TOKEN})
    answers = [call(named(found, path)).status_code
               for path in ("/healthz", "/metrics", "/healthz", "/metrics")]

    assert answers == [200] * 4
    assert len(opened) == 1


def test_a_store_that_fails_is_a_503_without_details(
        data_path: Path, keyring: KeyRing, caplog: pytest.LogCaptureFixture) -> None:
    store = TinyDBStore(data_path)
    service = ConnectionService(store, keyring)
    data_path.write_text("{ not json")  # what a bad disk or a careless edit leaves
    found = routes(lambda: service, {TOKEN_VARIABLE: TOKEN})

    answers = [call(named(found, path)) for path in ("/metrics", "/healthz")]

    assert [(a.status_code, a.body) for a in answers] == [(503, b"Service Unavailable")] * 2
    assert all(a.headers["cache-control"] == "no-store" for a in answers)
    logged = [r.getMessage() for r in caplog.records if r.name == "server.routes"]
    assert len(logged) == 2 and all(str(data_path) in line for line in logged), \
        "the log says why, for whoever runs the server"
    assert not any(TOKEN in line for line in caplog.text.splitlines())


def test_a_store_that_hangs_is_a_503_within_the_bound(
        data_path: Path, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Each read is waited for at most the bound; hung reads hold at most MAX_READS
    threads, and the next request is refused at once rather than adding one."""
    monkeypatch.setattr(routes_module, "HEALTH_TIMEOUT", 0.2)
    released = threading.Event()

    def hung() -> ConnectionService:
        released.wait(30)
        raise StoreError("The database did not answer.", "db")

    healthz = named(routes(hung, {}), "/healthz")
    try:
        started = time.monotonic()
        answers = [call(healthz).status_code for _ in range(routes_module.MAX_READS + 1)]
        waited = time.monotonic() - started
        reads = [t for t in threading.enumerate() if t.name == "connections-routes-read"]
    finally:
        released.set()

    assert answers == [503] * (routes_module.MAX_READS + 1)
    assert routes_module.MAX_READS * 0.2 <= waited < routes_module.MAX_READS * 0.2 + 2
    assert len(reads) == routes_module.MAX_READS
    assert caplog.messages == ["GET /healthz: the store did not answer within 0.2 s"] * \
        routes_module.MAX_READS + [f"GET /healthz: {routes_module.MAX_READS} reads of the "
                                   "store are still under way; not starting another"]
    deadline = time.monotonic() + 10
    while any(t.is_alive() for t in reads) and time.monotonic() < deadline:
        time.sleep(0.01)  # a poll interval: released, each read ends with its error
    assert not any(t.is_alive() for t in reads)


# -- streamlit run streamlit_app.py --------------------------------------------------------

@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[str]:
    """``streamlit run streamlit_app.py`` on a loopback port, healthy, its output in
    ``log`` (as tests/browsers.py's ``streamlit_run``, which discards it)."""
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
             "--server.headless", "true", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", process)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


@dataclass
class App:
    url: str
    log: Path
    seeded: Seeded | None = None
    database: PostgresServer | None = None


def _environment(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in (TOKEN_VARIABLE, "CONNECTIONS_DATABASE_URL", "CONNECTIONS_DATA_DIR")}
    return {**env, "ENCRYPTION_KEY": generate_key(), **settings}


@pytest.fixture(scope="module")
def file_app(tmp_path_factory: pytest.TempPathFactory, provider: FakeServer) -> Iterator[App]:
    """The app on a data file with seeded connections, with a metrics token."""
    folder = tmp_path_factory.mktemp("metrics")
    env = _environment(CONNECTIONS_DATA_DIR=str(folder / "data"), **{TOKEN_VARIABLE: TOKEN})
    seeded = seed(ConnectionService.from_env(environ=env), provider)
    with serving(env, folder / "server.log") as url:
        yield App(url, folder / "server.log", seeded)


@pytest.fixture(scope="module")
def database_app(tmp_path_factory: pytest.TempPathFactory,
                 postgres: PostgresServer) -> Iterator[App]:
    """The app on a PostgreSQL server of its own (a test stops it), without a token."""
    server = PostgresServer(postgres.bindir)
    try:
        server.start()
        env = _environment(CONNECTIONS_DATABASE_URL=server.dsn(server.empty_database()))
        log = tmp_path_factory.mktemp("metrics-pg") / "server.log"
        with serving(env, log) as url:
            yield App(url, log, database=server)
    finally:
        server.stop()


def test_metrics_gives_each_connection_s_gauges(file_app: App) -> None:
    assert file_app.seeded is not None
    answer = requests.get(f"{file_app.url}/metrics", timeout=10,
                          headers={"Authorization": f"Bearer {TOKEN}"})

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert answer.headers["cache-control"] == "no-store"
    assert parsed(answer.text) == file_app.seeded.expected


@pytest.mark.parametrize("authorization", [
    None, f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN, "Bearer "],
    ids=["missing", "longer", "shorter", "another scheme", "no scheme", "empty"])
def test_metrics_refuses_a_missing_or_wrong_token(file_app: App,
                                                  authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = requests.get(f"{file_app.url}/metrics", headers=headers, timeout=10)

    assert (answer.status_code, answer.text) == (401, "Unauthorized")
    assert answer.headers["www-authenticate"] == "Bearer"


def test_healthz_says_ok_and_is_never_cached(file_app: App) -> None:
    answer = requests.get(f"{file_app.url}/healthz", timeout=10)

    assert (answer.status_code, answer.text) == (200, "ok")
    assert answer.headers["cache-control"] == "no-store"


def test_the_token_never_reaches_the_server_s_log(file_app: App) -> None:
    for token in (TOKEN, "wrong"):
        requests.get(f"{file_app.url}/metrics", timeout=10,
                     headers={"Authorization": f"Bearer {token}"})

    assert TOKEN not in file_app.log.read_text(errors="replace")


def test_metrics_is_not_found_without_a_token_set(database_app: App) -> None:
    for headers in ({}, {"Authorization": "Bearer anything"}):
        answer = requests.get(f"{database_app.url}/metrics", headers=headers, timeout=10)
        assert (answer.status_code, answer.text) == (404, "Not Found")


def test_healthz_is_503_without_details_while_the_database_is_stopped(
        database_app: App) -> None:
    assert database_app.database is not None
    assert requests.get(f"{database_app.url}/healthz", timeout=10).status_code == 200

    database_app.database.stop()
    started = time.monotonic()
    answer = requests.get(f"{database_app.url}/healthz", timeout=10)
    waited = time.monotonic() - started

    assert (answer.status_code, answer.text) == (503, "Service Unavailable")
    assert answer.headers["cache-control"] == "no-store"
    assert waited < routes_module.HEALTH_TIMEOUT + 2
    log = database_app.log.read_text(errors="replace")
    assert "GET /healthz" in log, "the reason is in the server's log"
    assert PASSWORD not in log
