"""Shared fixtures: a real data file in tmp_path, a real key, a real service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connections_core import ConnectionService, KeyRing, TinyDBStore, generate_key
from tests.fakes import fake_server, provider  # noqa: F401  (fixtures, for every test module)
from tests.postgres import postgres, postgres_database, postgres_store  # noqa: F401  (fixtures)
from tests.test_browser import browser  # noqa: F401  (a fixture: Chromium, for browser tests)

OPENAI_KEY = "sk-test-0123456789abcdefWXYZ"
ANTHROPIC_KEY = "sk-ant-test-9876543210zyxwQRST"


class FakeClock:
    """A clock that moves only when told to, one second per reading by default."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def keyring(key: str) -> KeyRing:
    return KeyRing(key)


@pytest.fixture
def data_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "connections.json"


@pytest.fixture
def store(data_path: Path) -> TinyDBStore:
    return TinyDBStore(data_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(store: TinyDBStore, keyring: KeyRing, clock: FakeClock) -> ConnectionService:
    return ConnectionService(store, keyring, clock=clock, timeout=2.0)
