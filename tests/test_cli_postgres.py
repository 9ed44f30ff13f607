"""The command line on PostgreSQL: with CONNECTIONS_DATABASE_URL set, the commands
work on that database, and no data folder is needed or made."""

from __future__ import annotations

from pathlib import Path

from connections_core import ConnectionService, KeyRing, generate_key
from connections_core.postgres import PostgresStore
from tests.fakes import API_KEY, FakeServer
from tests.installations import SECRET_TAIL, Installation, assert_one_line_error
from tests.postgres import PASSWORD, PostgresServer


def test_list_and_test_run_on_the_database(tmp_path: Path, postgres: PostgresServer,
                                           postgres_database: str,
                                           fake_server: FakeServer) -> None:
    key = generate_key()
    dsn = postgres.dsn(postgres_database)
    with PostgresStore(dsn) as store:
        service = ConnectionService(store, KeyRing(key))
        fake_server.api_key = API_KEY
        service.create("openai", "Main", {"apiKey": API_KEY, "baseUrl": fake_server.openai_url})
    missing = tmp_path / "nowhere"
    site = Installation(tmp_path, missing, key)

    listed = site.run("list", "--json", CONNECTIONS_DATABASE_URL=dsn)
    tested = site.run("test", CONNECTIONS_DATABASE_URL=dsn)

    assert listed.code == 0, listed
    assert [c["name"] for c in listed.json()["connections"]] == ["Main"]
    assert tested.code == 0 and "Connected" in tested.out, tested
    for ran in (listed, tested):
        assert API_KEY not in ran.output and SECRET_TAIL not in ran.output
        assert PASSWORD not in ran.output
    assert not missing.exists(), "no data folder is made when the store is a database"
    with PostgresStore(dsn) as store:
        [entry] = ConnectionService(store, KeyRing(key)).audit(action="connections.tested_all")
    assert entry.actor == "cli"


def test_an_unreachable_database_is_one_line_naming_its_host(tmp_path: Path) -> None:
    site = Installation(tmp_path, tmp_path / "data", generate_key())
    ran = site.run("list", CONNECTIONS_DATABASE_URL="postgresql://app:Hunter2Secret@127.0.0.1:9/db")
    assert_one_line_error(ran, 2, "127.0.0.1")
    assert "Hunter2Secret" not in ran.output


def test_doctor_checks_the_database_and_never_shows_its_password(
        tmp_path: Path, postgres: PostgresServer, postgres_database: str) -> None:
    key = generate_key()
    dsn = postgres.dsn(postgres_database)
    with PostgresStore(dsn) as store:
        ConnectionService(store, KeyRing(key)).create("ollama", "Local", {})
    site = Installation(tmp_path, tmp_path / "nowhere", key)

    healthy = site.run("doctor", "--json", CONNECTIONS_DATABASE_URL=dsn)
    keyless = site.run("doctor", "--json", CONNECTIONS_DATABASE_URL=dsn, ENCRYPTION_KEY=None)
    wrong = site.run("doctor", "--json", CONNECTIONS_DATABASE_URL=dsn,
                     ENCRYPTION_KEY=generate_key())
    down = site.run("doctor", "--json", CONNECTIONS_DATABASE_URL=dsn.replace(
        f":{postgres.port}/", ":9/"))

    statuses = {c["name"]: c["status"] for c in healthy.json()["checks"]}
    assert healthy.code == 0, healthy
    assert statuses == {"key": "passed", "store": "passed", "key_fits": "passed",
                        "residual_secrets": "passed", "defaults": "passed",
                        "sign_in": "warning"}
    assert {c["name"]: c["status"] for c in keyless.json()["checks"]}["key"] == "failed"
    assert {c["name"]: c["status"] for c in wrong.json()["checks"]}["key_fits"] == "failed"
    [store_check] = [c for c in down.json()["checks"] if c["name"] == "store"]
    assert store_check["status"] == "failed" and "127.0.0.1" in store_check["message"]
    for ran in (healthy, keyless, wrong, down):
        assert PASSWORD not in ran.output and "Traceback" not in ran.output
    assert not (tmp_path / "nowhere").exists()
