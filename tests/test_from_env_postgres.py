"""ConnectionService.from_env() on PostgreSQL: CONNECTIONS_DATABASE_URL chooses the
database, the key must come from the environment, and a process opens each
database once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connections_core import (
    ConnectionService,
    EncryptionKeyError,
    KeyRing,
    StoreError,
    generate_key,
)
from connections_core.environment import close_databases
from connections_core.postgres import PostgresStore
from tests.postgres import PASSWORD, PostgresServer


@pytest.fixture(autouse=True)
def _close_opened_databases() -> Iterator[None]:
    """The stores from_env() opened stay open for the process: close this test's."""
    yield
    close_databases()


def test_the_database_url_chooses_postgresql(tmp_path: Path, postgres: PostgresServer,
                                             postgres_database: str) -> None:
    key = generate_key()
    dsn = postgres.dsn(postgres_database)
    env = {"CONNECTIONS_DATABASE_URL": dsn, "ENCRYPTION_KEY": key,
           "CONNECTIONS_DATA_DIR": str(tmp_path / "data")}

    created = ConnectionService.from_env(environ=env).create("ollama", "GPU box", {})

    with PostgresStore(dsn) as store:
        assert ConnectionService(store, KeyRing(key)).get(created.id).name == "GPU box"
    assert not (tmp_path / "data").exists(), "the data folder is not used"


def test_every_service_of_a_process_shares_one_store(postgres: PostgresServer,
                                                     postgres_database: str) -> None:
    env = {"CONNECTIONS_DATABASE_URL": postgres.dsn(postgres_database),
           "ENCRYPTION_KEY": generate_key()}
    first = ConnectionService.from_env("team-a", env)
    second = ConnectionService.from_env("team-b", env, actor="ana@example.com")
    assert first.store is second.store, "one pool of connections per database, not per person"

    first.store.close()
    reopened = ConnectionService.from_env("team-a", env)
    assert reopened.store is not first.store
    assert reopened.list() == []


def test_postgresql_needs_the_key_in_the_environment(tmp_path: Path) -> None:
    env = {"CONNECTIONS_DATABASE_URL": f"postgresql://app:{PASSWORD}@127.0.0.1:9/db",
           "CONNECTIONS_DATA_DIR": str(tmp_path)}
    with pytest.raises(EncryptionKeyError, match="ENCRYPTION_KEY must be set too") as caught:
        ConnectionService.from_env(environ=env)
    assert PASSWORD not in str(caught.value)
    assert list(tmp_path.iterdir()) == [], "no key file is generated for a shared database"


def test_a_database_url_that_is_not_postgresql_is_refused() -> None:
    env = {"CONNECTIONS_DATABASE_URL": "mysql://app:secret@db/connections",
           "ENCRYPTION_KEY": generate_key()}
    with pytest.raises(StoreError, match="must be a PostgreSQL URL") as caught:
        ConnectionService.from_env(environ=env)
    assert "secret" not in str(caught.value)
