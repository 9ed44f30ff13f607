"""PostgresStore on its own, through the storage interface, on a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connections_core.errors import NotFoundError, StoreError
from tests.postgres import PASSWORD, PostgresServer, increment_counter

psycopg = pytest.importorskip("psycopg")
from connections_core.postgres import (  # noqa: E402  (after the skip)
    AUDIT_PAGE,
    Migration,
    PostgresStore,
    bundled_migrations,
)

WS = "default"


def connection(id: str = "c1", *, type: str = "openai", is_default: bool = False,
               workspace_id: str = WS, **fields: Any) -> dict[str, Any]:
    return {"id": id, "workspace_id": workspace_id, "type": type, "name": f"Name {id}",
            "is_default": is_default, "deleted_at": None, "version": 1, **fields}


def audit(action: str, at: datetime, workspace_id: str = WS) -> dict[str, Any]:
    return {"workspace_id": workspace_id, "action": action, "at": at.isoformat(),
            "actor": "local"}


class Boom(Exception):
    pass


# -- connections -------------------------------------------------------------------------------

def test_an_inserted_connection_reads_back_as_given(postgres_store: PostgresStore) -> None:
    record = connection(config={"baseUrl": "https://x", "n": [1, 2.5, None]})
    with postgres_store.transaction() as tx:
        tx.insert_connection(record)
    with postgres_store.transaction() as tx:
        assert tx.connection(WS, "c1") == record
    assert postgres_store.connections(WS)[1] == [record]
    assert postgres_store.connections("other")[1] == []


def test_update_sets_fields_and_replace_drops_the_missing_ones(
        postgres_store: PostgresStore) -> None:
    with postgres_store.transaction() as tx:
        tx.insert_connection(connection(extra="kept?"))
        tx.update_connection(WS, "c1", {"name": "Renamed", "version": 2})
        assert tx.connection(WS, "c1") == connection(extra="kept?", name="Renamed", version=2)
        tx.replace_connection(connection(version=3))
        assert tx.connection(WS, "c1") == connection(version=3)


def test_updating_a_missing_connection_is_not_found(postgres_store: PostgresStore) -> None:
    with pytest.raises(NotFoundError), postgres_store.transaction() as tx:
        tx.update_connection(WS, "nope", {"name": "x"})


def test_removed_connections_are_gone(postgres_store: PostgresStore) -> None:
    with postgres_store.transaction() as tx:
        for id in ("a", "b", "c"):
            tx.insert_connection(connection(id))
        tx.remove_connections(WS, ["a", "c", "absent"])
    assert [r["id"] for r in postgres_store.connections()[1]] == ["b"]


def test_connections_filter_by_workspace_type_and_deletion(
        postgres_store: PostgresStore) -> None:
    with postgres_store.transaction() as tx:
        tx.insert_connection(connection("a", is_default=True))
        tx.insert_connection(connection("b", deleted_at="2026-01-01T00:00:00+00:00"))
        tx.insert_connection(connection("c", type="anthropic"))
        tx.insert_connection(connection("d", workspace_id="other"))
        assert {r["id"] for r in tx.connections(WS)} == {"a", "b", "c"}
        assert {r["id"] for r in tx.connections(None)} == {"a", "b", "c", "d"}
        assert {r["id"] for r in tx.connections(WS, type="openai")} == {"a", "b"}
        assert {r["id"] for r in tx.connections(WS, type="openai", active=True)} == {"a"}
        assert tx.default_connection(WS, "openai") == connection("a", is_default=True)
        assert tx.default_connection(WS, "anthropic") is None


def test_the_revision_moves_with_connections_only(postgres_store: PostgresStore) -> None:
    first = postgres_store.revision()
    with postgres_store.transaction() as tx:
        tx.put_member({"workspace_id": WS, "email": "a@example.com", "role": "admin"})
    assert postgres_store.revision() == first
    with postgres_store.transaction() as tx:
        tx.insert_connection(connection())
    revision, _ = postgres_store.connections(WS)
    assert revision == postgres_store.revision() != first


def test_reads_inside_a_transaction_see_its_changes_under_no_revision(
        postgres_store: PostgresStore) -> None:
    with postgres_store.transaction() as tx:
        tx.insert_connection(connection())
        assert postgres_store.connections(WS) == (None, [connection()])
        assert postgres_store.revision() is None
    assert postgres_store.revision() is not None


# -- members and the key check -------------------------------------------------------------------

def test_members_are_put_replaced_and_removed(postgres_store: PostgresStore) -> None:
    alice = {"workspace_id": WS, "email": "alice@example.com", "role": "viewer"}
    with postgres_store.transaction() as tx:
        tx.put_member(alice)
        tx.put_member({**alice, "role": "admin"})
        tx.put_member({**alice, "workspace_id": "other"})
        assert tx.members(WS) == [{**alice, "role": "admin"}]
    assert len(postgres_store.members()) == 2
    with postgres_store.transaction() as tx:
        tx.remove_member(WS, "alice@example.com")
        tx.remove_member(WS, "nobody@example.com")
    assert postgres_store.members(WS) == []


def test_sign_outs_are_put_replaced_and_read_by_email(postgres_store: PostgresStore) -> None:
    ada = {"email": "ada@example.com", "at": "2026-01-01T00:00:00+00:00"}
    bob = {"email": "bob@example.com", "at": "2026-01-01T00:00:00+00:00"}
    with postgres_store.transaction() as tx:
        tx.put_sign_out(ada)
        tx.put_sign_out(bob)
        tx.put_sign_out({**ada, "at": "2026-01-02T00:00:00+00:00"})
        assert tx.sign_out("ada@example.com") == {**ada, "at": "2026-01-02T00:00:00+00:00"}
    assert postgres_store.sign_out("ada@example.com") == {**ada, "at": "2026-01-02T00:00:00+00:00"}
    assert postgres_store.sign_out("bob@example.com") == bob
    assert postgres_store.sign_out("eve@example.com") is None
    assert postgres_store.sign_out("\x00") is None  # no text column holds it: nobody's


def test_the_key_check_is_one_record(postgres_store: PostgresStore) -> None:
    assert postgres_store.key_check() is None
    with postgres_store.transaction() as tx:
        tx.set_key_check({"check": "one"})
        tx.set_key_check({"check": "two"})
    assert postgres_store.key_check() == {"check": "two"}


# -- the audit trail -------------------------------------------------------------------------

def test_audit_entries_come_newest_first_per_workspace(postgres_store: PostgresStore) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with postgres_store.transaction() as tx:
        tx.record(audit("first", start))
        tx.record(audit("elsewhere", start, workspace_id="other"))
    with postgres_store.transaction() as tx:
        tx.record(audit("second", start + timedelta(seconds=1)))
    assert [e["action"] for e in postgres_store.audit_entries(WS)] == ["second", "first"]
    assert [e["action"] for e in postgres_store.audit_entries()] == [
        "second", "elsewhere", "first"]


def test_audit_entries_are_paged_in_order(postgres_store: PostgresStore) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    count = AUDIT_PAGE * 2 + 5
    with postgres_store.transaction() as tx:
        for n in range(count):
            tx.record(audit(str(n), start))
    assert [int(e["action"]) for e in postgres_store.audit_entries(WS)] == list(
        reversed(range(count)))


def test_the_audit_cutoff_drops_older_entries_but_keeps_unreadable_times(
        postgres_store: PostgresStore) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with postgres_store.transaction() as tx:
        tx.record(audit("old", start))
        tx.record({"workspace_id": WS, "action": "no time"})
    with postgres_store.transaction(audit_cutoff=start + timedelta(days=1)) as tx:
        tx.record(audit("new", start + timedelta(days=2)))
    assert [e["action"] for e in postgres_store.audit_entries(WS)] == ["new", "no time"]


# -- transactions ----------------------------------------------------------------------------

def test_an_exception_rolls_back_changes_and_audit_entries(
        postgres_store: PostgresStore) -> None:
    revision = postgres_store.revision()
    with pytest.raises(Boom), postgres_store.transaction() as tx:
        tx.insert_connection(connection())
        tx.put_member({"workspace_id": WS, "email": "a@example.com"})
        tx.set_key_check({"check": 1})
        tx.record(audit("created", datetime.now(UTC)))
        raise Boom
    assert postgres_store.connections() == (revision, [])
    assert postgres_store.members() == []
    assert postgres_store.key_check() is None
    assert list(postgres_store.audit_entries()) == []


def test_nested_transactions_join_the_outermost(postgres_store: PostgresStore) -> None:
    with pytest.raises(Boom), postgres_store.transaction() as outer:
        with postgres_store.transaction() as inner:
            assert inner is outer
            inner.insert_connection(connection())
        assert outer.connection(WS, "c1") is not None
        assert postgres_store.connections()[1] == [connection()]  # not committed yet:
        raise Boom  # the inner block's change goes with the outer one
    assert postgres_store.connections()[1] == []


def test_eight_threads_lose_no_increment(postgres_store: PostgresStore) -> None:
    with postgres_store.transaction() as tx:
        tx.insert_connection(connection("counter", count=0))
    threads = [threading.Thread(target=increment_counter, args=(postgres_store, 25))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert postgres_store.connections()[1][0]["count"] == 200


def test_two_processes_lose_no_increment(postgres: PostgresServer,
                                         postgres_database: str) -> None:
    dsn = postgres.dsn(postgres_database)
    with PostgresStore(dsn) as store, store.transaction() as tx:
        tx.insert_connection(connection("counter", count=0))
    script = textwrap.dedent("""
        import os
        from connections_core.postgres import PostgresStore
        from tests.postgres import increment_counter
        with PostgresStore(os.environ["DSN"]) as store:
            increment_counter(store, 50)
    """)
    environment = {**os.environ, "DSN": dsn}
    workers = [subprocess.Popen([sys.executable, "-c", script], env=environment)
               for _ in range(2)]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0]
    with PostgresStore(dsn) as store:
        assert store.connections()[1][0]["count"] == 100


# -- what the database itself refuses ----------------------------------------------------------

def test_the_database_refuses_a_second_default_written_with_sql(
        postgres: PostgresServer, postgres_database: str,
        postgres_store: PostgresStore) -> None:
    with postgres_store.transaction() as tx:
        tx.insert_connection(connection("a", is_default=True))
    with psycopg.connect(postgres.dsn(postgres_database)) as raw, pytest.raises(
            psycopg.errors.UniqueViolation, match="connections_one_default"):
        raw.execute("INSERT INTO connections (workspace_id, id, record, type, is_default, "
                    "active) VALUES (%s, 'b', '{}', 'openai', true, true)", (WS,))


def test_a_second_default_through_the_store_is_a_store_error(
        postgres_store: PostgresStore) -> None:
    with postgres_store.transaction() as tx:
        tx.insert_connection(connection("a", is_default=True))
        tx.insert_connection(connection("deleted", is_default=True,
                                        deleted_at="2026-01-01T00:00:00+00:00"))
        tx.insert_connection(connection("other type", type="anthropic", is_default=True))
    with pytest.raises(StoreError, match="refused a change.*connections_one_default.*"
                       "nothing was changed"), postgres_store.transaction() as tx:
        tx.insert_connection(connection("b", type="anthropic"))
        tx.insert_connection(connection("c", is_default=True))
    assert len(postgres_store.connections()[1]) == 3


# -- any record round-trips ----------------------------------------------------------------------

# Any text, NUL and lone surrogates (which Hypothesis never draws on its own) included.
any_text = st.text(st.characters() | st.sampled_from(["\x00", "\ud800", "\udfff", "\u00e9"]),
                   max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False)
    | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(any_text, json_values, max_size=6), type=json_values,
       deleted=json_values)
def test_any_record_round_trips(postgres_store: PostgresStore, fields: dict[str, Any],
                                type: Any, deleted: Any) -> None:
    written = {**fields, "workspace_id": WS, "id": "x", "type": type, "deleted_at": deleted}
    # What the TinyDB file holds: JSON reads two escaped surrogates that make a
    # pair back as the one character they encode.
    record = json.loads(json.dumps(written))
    with postgres_store.transaction() as tx:
        tx.remove_connections(WS, ["x"])
        tx.insert_connection(written)
        tx.record(written)
        assert tx.connections(WS, type=record["type"]) == [record]
    assert postgres_store.connections(WS)[1] == [record]
    assert next(postgres_store.audit_entries(WS)) == record


# -- migrations ----------------------------------------------------------------------------------

BUNDLED = [(migration.version, migration.name) for migration in bundled_migrations()]
LATEST = BUNDLED[-1][0]
#: A step after the package's own, as a newer version of connections would bring.
NEXT = Migration(LATEST + 1, "notes", "ALTER TABLE connections ADD COLUMN notes text")


def _versions(postgres: PostgresServer, database: str) -> list[tuple[int, str]]:
    with psycopg.connect(postgres.admin_dsn(database)) as raw:
        rows = raw.execute("SELECT version, name FROM connections_schema_migrations "
                           "ORDER BY version").fetchall()
    return [(version, name) for version, name in rows]


@pytest.fixture
def empty_database(postgres: PostgresServer) -> Iterator[str]:
    name = postgres.empty_database()
    yield name
    postgres.drop_database(name)


def test_two_stores_starting_at_once_migrate_once(postgres: PostgresServer,
                                                  empty_database: str) -> None:
    barrier, failures = threading.Barrier(4), []

    def start() -> None:
        barrier.wait(timeout=30)
        try:
            PostgresStore(postgres.dsn(empty_database)).close()
        except StoreError as error:  # pragma: no cover (shown by the assertion)
            failures.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert _versions(postgres, empty_database) == BUNDLED


def test_a_database_of_the_first_schema_gains_the_sign_outs(postgres: PostgresServer,
                                                            empty_database: str) -> None:
    dsn = postgres.dsn(empty_database)
    PostgresStore(dsn, migrations=bundled_migrations()[:1]).close()
    with psycopg.connect(dsn) as raw:  # a row as the code of the first schema wrote it
        raw.execute("INSERT INTO connections (workspace_id, id, record, type, is_default, "
                    "active) VALUES (%s, 'c1', %s, 'openai', false, true)",
                    (WS, json.dumps(connection())))
    with PostgresStore(dsn) as store:
        assert _versions(postgres, empty_database)[:2] == [(1, "initial"), (2, "sign_outs")]
        assert _versions(postgres, empty_database) == BUNDLED
        assert store.connections()[1] == [connection()]
        with store.transaction() as tx:
            tx.put_sign_out({"email": "ada@example.com", "at": "2026-01-01T00:00:00+00:00"})
        assert store.sign_out("ada@example.com") is not None


def test_an_older_database_is_upgraded(postgres: PostgresServer,
                                       postgres_database: str) -> None:
    dsn = postgres.dsn(postgres_database)
    with PostgresStore(dsn) as store, store.transaction() as tx:
        tx.insert_connection(connection())
    PostgresStore(dsn, migrations=[*bundled_migrations(), NEXT]).close()
    assert _versions(postgres, postgres_database) == [*BUNDLED, (LATEST + 1, "notes")]
    with PostgresStore(dsn, migrations=[*bundled_migrations(), NEXT]) as store:
        assert store.connections()[1] == [connection()]


def test_an_older_database_without_migrations_says_how_to_upgrade(
        postgres: PostgresServer, postgres_database: str) -> None:
    with pytest.raises(StoreError, match=f"database {postgres_database} on 127.0.0.1:.* schema "
                       f"version {LATEST}, older than .* needs \\({LATEST + 1}\\).*Start one "
                       "replica with migrations on"):
        PostgresStore(postgres.dsn(postgres_database), migrate=False,
                      migrations=[*bundled_migrations(), NEXT])


def test_a_database_newer_than_the_code_is_refused(postgres: PostgresServer,
                                                   postgres_database: str) -> None:
    dsn = postgres.dsn(postgres_database)
    PostgresStore(dsn, migrations=[*bundled_migrations(), NEXT]).close()
    with pytest.raises(StoreError, match=f"schema version {LATEST + 1} \\(notes\\), newer than "
                       f"this version of connections knows \\(up to {LATEST}\\).*Upgrade "
                       "connections"):
        PostgresStore(dsn)


# -- errors, and the password ----------------------------------------------------------------

def _refusal(dsn: str) -> str:
    with pytest.raises(StoreError) as raised:
        PostgresStore(dsn)
    message = str(raised.value)
    assert PASSWORD not in message and PASSWORD not in raised.value.path
    return message


def test_the_location_and_repr_never_show_the_password(postgres_store: PostgresStore) -> None:
    assert postgres_store.location.startswith("the PostgreSQL database test_")
    assert " on 127.0.0.1:" in postgres_store.location
    assert PASSWORD not in repr(postgres_store) and "127.0.0.1" in repr(postgres_store)


def test_a_wrong_password_is_refused_credentials(postgres: PostgresServer,
                                                 postgres_database: str) -> None:
    message = _refusal(postgres.dsn(postgres_database, password=PASSWORD + "-wrong"))
    assert f"on 127.0.0.1:{postgres.port} refused the credentials of user connections" in message
    assert "check the user name and password in CONNECTIONS_DATABASE_URL" in message


def test_a_missing_database_says_to_create_it(postgres: PostgresServer) -> None:
    message = _refusal(postgres.dsn("absent"))
    assert message.startswith(f"There is no database absent on 127.0.0.1:{postgres.port}: "
                              "create it (createdb absent)")


def test_an_unreachable_server_says_to_check_it(postgres: PostgresServer) -> None:
    free = _closed_port()  # nothing listens there
    message = _refusal(f"postgresql://connections:{PASSWORD}@127.0.0.1:{free}/db")
    assert message.startswith(f"Can't reach the PostgreSQL database db on 127.0.0.1:{free} "
                              "(Connection refused). Check that the server is running")


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_malformed_address_is_not_echoed() -> None:
    message = _refusal(f"host=db password={PASSWORD} port")
    assert "not a valid connection URL" in message


def test_a_connection_lost_mid_transaction_is_a_store_error(
        postgres: PostgresServer, postgres_database: str,
        postgres_store: PostgresStore) -> None:
    with pytest.raises(StoreError, match=f"Lost the connection to the PostgreSQL database "
                       f"{postgres_database} on 127.0.0.1:.*was not saved.*try again") as raised, \
            postgres_store.transaction() as tx:
        tx.insert_connection(connection())
        postgres.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = %s AND pid <> pg_backend_pid()", (postgres_database,))
        tx.connection(WS, "c1")
    assert PASSWORD not in str(raised.value)
    assert postgres_store.connections()[1] == []  # and the store still works


def test_the_size_is_the_database_size(postgres_store: PostgresStore) -> None:
    assert (postgres_store.size_bytes() or 0) > 1_000_000
