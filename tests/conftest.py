"""Shared fixtures: a real data file in tmp_path, a real key, a real service."""

from __future__ import annotations

from pathlib import Path

import pytest

from connections_core import ConnectionService, KeyRing, Store, TinyDBStore, generate_key
from tests.support import FakeClock

#: The modules whose fixtures every test module uses by name, without importing them:
#: ``data_dir`` (the app's data folder), ``browser`` (Chromium), ``fake_server`` (a fake
#: provider for one test), ``provider`` (one for a module), ``trickle_server``, and
#: ``postgres``, ``postgres_database``, ``postgres_store``.  Plain helpers are in
#: ``tests/support.py`` and the modules above; nothing imports this one.
pytest_plugins = ["tests.app_support", "tests.browsers", "tests.fakes", "tests.postgres"]


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def keyring(key: str) -> KeyRing:
    return KeyRing(key)


@pytest.fixture
def data_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "connections.json"


#: The modules of the service test suite: each test that uses the ``store`` (or
#: ``service``) fixture runs on both stores, as TinyDB's own tests run over each
#: storage.  A test that reads or edits the TinyDB file itself (it asks for
#: ``data_path``, or is marked ``tinydb``) runs on TinyDB only.
SERVICE_SUITE = {"test_service", "test_service_checks", "test_service_saved_checks",
                 "test_access", "test_audit", "test_bound_tokens", "test_damaged_records",
                 "test_input_rules", "test_backup", "test_sessions", "test_app_tokens"}
STORES = ("tinydb", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tinydb: reads or edits the TinyDB file, so runs on "
                                       "TinyDB only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" not in metafunc.fixturenames:
        return
    both = (metafunc.module.__name__.rpartition(".")[2] in SERVICE_SUITE
            and "data_path" not in metafunc.fixturenames
            and metafunc.definition.get_closest_marker("tinydb") is None)
    metafunc.parametrize("store", STORES if both else STORES[:1], indirect=True)


@pytest.fixture
def store(request: pytest.FixtureRequest) -> Store:
    """A new, empty store: the TinyDB file in ``data_path``, or a PostgreSQL database
    of the test's own on the session's server."""
    if getattr(request, "param", "tinydb") == "postgresql":
        return request.getfixturevalue("postgres_store")  # type: ignore[no-any-return]
    return TinyDBStore(request.getfixturevalue("data_path"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(store: Store, keyring: KeyRing, clock: FakeClock) -> ConnectionService:
    return ConnectionService(store, keyring, clock=clock, timeout=2.0)
