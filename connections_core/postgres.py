"""PostgreSQL storage, for several replicas of the dashboard on one database.

:class:`PostgresStore` keeps the same records as the TinyDB file, behind the
same :class:`~connections_core.storage.Store` interface, with the same
guarantees:

* **Serialised writes.**  Every write transaction first locks the one row of
  ``connections_revision``; the others queue on that lock.  Under READ
  COMMITTED each later statement sees everything committed before it, so a
  read-check-write can't lose another replica's write, exactly as the TinyDB
  file lock guarantees on one machine.
* **Whole records.**  A record is kept as the JSON text the TinyDB file would
  hold (every non-ASCII character escaped), so anything that file can hold
  round-trips, even text with NUL or lone surrogates; the key and index
  columns beside it are derived from it on every write.
* **One default per (workspace, type)** among undeleted connections, refused
  by the database itself (a partial unique index), whatever the interleaving.
* **The audit trail** is a table written in the same transaction as the change,
  and so is **the check history** (one row per check, indexed by connection and time).
* **The schema** is created and upgraded at start-up by the numbered SQL files
  in ``connections_core/migrations``, each recorded in
  ``connections_schema_migrations``, under an advisory lock so that two
  replicas starting at once don't both migrate.

This is the only module that imports ``psycopg``: the TinyDB path never needs it.
"""

from __future__ import annotations

import getpass
import json
import logging
import re
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from .errors import NotFoundError, StoreError
from .storage import Record, Revision, Store, Transaction, due_at

__all__ = ["Migration", "PostgresStore", "PostgresTransaction", "bundled_migrations"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5  # seconds to reach the server (libpq counts whole seconds, at least 2)
LOCK_TIMEOUT = "30s"  # how long a write waits for another replica's write
MIGRATION_LOCK_TIMEOUT = "120s"  # how long a replica waits for another one's migration
POOL_TIMEOUT = 30.0  # seconds to wait for a free connection from the pool
AUDIT_PAGE = 200  # audit entries read per query
#: Any fixed number: the advisory lock the replicas of one database migrate under.
MIGRATION_LOCK = 0x636F6E6E5F6D6967

_MIGRATION_FILE = re.compile(r"(\d{4})_(\w+)\.sql")


@dataclass(frozen=True)
class Migration:
    """One step of the schema: ``version`` 1, 2, ... applied in order, once."""

    version: int
    name: str
    sql: str


def bundled_migrations() -> list[Migration]:
    """The package's migrations (``migrations/0001_initial.sql`` ...), in order."""
    found = []
    for item in resources.files("connections_core.migrations").iterdir():
        matched = _MIGRATION_FILE.fullmatch(item.name)
        if matched:
            found.append(Migration(int(matched[1]), matched[2], item.read_text("utf-8")))
    return sorted(found, key=lambda migration: migration.version)


# -- records as rows ----------------------------------------------------------------------------

def _dumps(record: Mapping[str, Any]) -> str:
    # ASCII with escapes, as the TinyDB file writes it: any text round-trips.
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"))


def _loads(text: str) -> Record:
    record: Record = json.loads(text)
    return record


def _text(value: Any) -> str | None:
    """``value`` if it is text a PostgreSQL ``text`` column can hold, else None."""
    if not isinstance(value, str) or "\x00" in value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return None
    return value


def _key(record: Mapping[str, Any], field: str, what: str) -> str:
    value = _text(record.get(field))
    if value is None:
        raise StoreError(f"Can't store {what}: its {field} must be text without NUL characters "
                         "or broken (surrogate) characters. Nothing was changed.", "postgresql")
    return value


def _is_default(record: Mapping[str, Any]) -> bool:
    return record.get("is_default") is True


def _is_active(record: Mapping[str, Any]) -> bool:
    return record.get("deleted_at") is None


def _connection_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of a connection's row, derived from the record."""
    return {"workspace_id": _key(record, "workspace_id", "a connection"),
            "id": _key(record, "id", "a connection"), "record": _dumps(record),
            "type": _text(record.get("type")), "is_default": _is_default(record),
            "active": _is_active(record), "next_check_at": due_at(record)}


def _settings_rows(rows: Callable[[str, Sequence[Any]], list[Any]],
                   workspace_id: str | None) -> list[Record]:
    """The workspace settings records of one workspace (or every one), read with ``rows``."""
    if workspace_id is None:
        found = rows("SELECT record FROM connections_workspace_settings", ())
    else:
        found = rows("SELECT record FROM connections_workspace_settings WHERE workspace_id = %s",
                     (_text(workspace_id),))
    return [_loads(text) for text, in found]


def _token_rows(rows: Callable[[str, Sequence[Any]], list[Any]],
                workspace_id: str | None) -> list[Record]:
    """The application tokens of one workspace (or every one), read with ``rows``."""
    if workspace_id is None:
        found = rows("SELECT record FROM connections_app_tokens", ())
    else:
        found = rows("SELECT record FROM connections_app_tokens WHERE workspace_id = %s",
                     (_text(workspace_id),))
    return [_loads(text) for text, in found]


def _audit_time(entry: Mapping[str, Any]) -> datetime | None:
    """The entry's time (None when it has none that can be read: such entries are kept)."""
    at = entry.get("at")
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            return None
    if not isinstance(at, datetime):
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _audit_row(entry: Mapping[str, Any]) -> tuple[str | None, datetime | None, str]:
    """The columns of an audit entry's row, derived from the entry."""
    return _text(entry.get("workspace_id")), _audit_time(entry), _dumps(entry)


def _check_row(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    """The columns of a check record's row."""
    at = _audit_time(entry)
    if at is None:
        raise StoreError("Can't store a check record without its time. Nothing was changed.",
                         "postgresql")
    return (_key(entry, "workspace_id", "a check record"),
            _key(entry, "connection_id", "a check record"), at, entry["success"] is True,
            _key(entry, "kind", "a check record"), int(entry["latency_ms"]),
            entry.get("status_code"), _key(entry, "source", "a check record"))


# -- the transaction ------------------------------------------------------------------------------

_INSERT_CONNECTION = (
    b"INSERT INTO connections (workspace_id, id, record, type, is_default, active, "
    b"next_check_at) VALUES (%(workspace_id)s, %(id)s, %(record)s, %(type)s, "
    b"%(is_default)s, %(active)s, %(next_check_at)s)")
_INSERT_AUDIT = b"INSERT INTO connections_audit (workspace_id, at, entry) VALUES (%s, %s, %s)"
_INSERT_CHECK = (
    b"INSERT INTO connections_check_history (workspace_id, connection_id, at, success, kind, "
    b"latency_ms, status_code, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)")
_UPDATE_CONNECTION = (
    b"UPDATE connections SET workspace_id = %(workspace_id)s, id = %(id)s, "
    b"record = %(record)s, type = %(type)s, is_default = %(is_default)s, "
    b"active = %(active)s, next_check_at = %(next_check_at)s "
    b"WHERE workspace_id = %(old_workspace_id)s AND id = %(old_id)s")


class PostgresTransaction(Transaction):
    """The changes of one :meth:`PostgresStore.transaction`, on one server connection."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._db = connection
        self._revision_bumped = False
        self._recorded = False
        self._checks_cutoff: datetime | None = None

    def _rows(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        return self._db.execute(sql.encode(), params).fetchall()

    def _changed_connections(self) -> None:
        """Bump the revision, once per transaction that changes connections."""
        if not self._revision_bumped:
            self._db.execute(b"UPDATE connections_revision SET n = n + 1")
            self._revision_bumped = True

    # -- connections -------------------------------------------------------------------------

    def connection(self, workspace_id: str, id: str) -> Record | None:
        rows = self._rows("SELECT record FROM connections WHERE workspace_id = %s AND id = %s",
                          (_text(workspace_id), _text(id)))
        return _loads(rows[0][0]) if rows else None

    def connections(self, workspace_id: str | None, *, type: str | None = None,
                    active: bool = False, ids: Collection[str] | None = None) -> list[Record]:
        clauses: list[str] = []
        params: list[Any] = []
        if workspace_id is not None:
            clauses.append("workspace_id = %s")
            params.append(_text(workspace_id))
        if active:
            clauses.append("active")
        if ids is not None:
            clauses.append("id = ANY(%s)")
            params.append([text for text in map(_text, ids) if text is not None])
        if type is not None:
            # A type the column can't hold is NULL there: look among those.
            clauses.append("type = %s" if _text(type) is not None else "type IS NULL")
            params += [type] if _text(type) is not None else []
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        records = [_loads(text) for text, in self._rows(
            f"SELECT record FROM connections{where}", params)]  # noqa: S608 (constant parts)
        if type is not None and _text(type) is None:
            records = [record for record in records if record.get("type") == type]
        return records

    def default_connection(self, workspace_id: str, type: str) -> Record | None:
        if _text(type) is not None:
            # The one-default index finds it: reading every connection of the type
            # would make each create() cost more as the store grows.
            rows = self._rows(
                "SELECT record FROM connections WHERE workspace_id = %s AND type = %s "
                "AND is_default AND active", (_text(workspace_id), type))
            return _loads(rows[0][0]) if rows else None
        found = [record for record in self.connections(workspace_id, type=type, active=True)
                 if _is_default(record)]
        return found[0] if found else None

    def insert_connection(self, record: Mapping[str, Any]) -> None:
        self._changed_connections()
        self._db.execute(_INSERT_CONNECTION, _connection_row(record))

    def insert_connections(self, records: Iterable[Mapping[str, Any]]) -> None:
        rows = [_connection_row(record) for record in records]
        if rows:
            self._changed_connections()
            with self._db.cursor() as cursor:
                cursor.executemany(_INSERT_CONNECTION, rows)

    def update_connection(self, workspace_id: str, id: str, changes: Mapping[str, Any]) -> None:
        stored = self.connection(workspace_id, id)
        if stored is None:
            raise NotFoundError(f"No connection {id} in workspace {workspace_id}.", id)
        self._write_connection(workspace_id, id, {**stored, **changes})

    def update_connections(self, updates: Iterable[tuple[str, str, Mapping[str, Any]]]
                           ) -> None:
        # One read and one batched write, however many records change.
        by_workspace: dict[str, dict[str, Mapping[str, Any]]] = {}
        for workspace_id, id, changes in updates:
            by_workspace.setdefault(workspace_id, {})[id] = changes
        rows = []
        for workspace_id, changes in by_workspace.items():
            for stored in self.connections(workspace_id, ids=changes):
                id = stored["id"]
                row = _connection_row({**stored, **changes.pop(id)})
                rows.append({**row, "old_workspace_id": workspace_id, "old_id": id})
            if changes:
                id = next(iter(changes))
                raise NotFoundError(f"No connection {id} in workspace {workspace_id}.", id)
        if rows:
            self._changed_connections()
            with self._db.cursor() as cursor:
                cursor.executemany(_UPDATE_CONNECTION, rows)

    def replace_connection(self, record: Mapping[str, Any]) -> None:
        workspace_id = _key(record, "workspace_id", "a connection")
        id = _key(record, "id", "a connection")
        if self.connection(workspace_id, id) is None:
            raise NotFoundError(f"No connection {id} in workspace {workspace_id}.", id)
        self._write_connection(workspace_id, id, record)

    def _write_connection(self, workspace_id: str, id: str, record: Mapping[str, Any]) -> None:
        self._changed_connections()
        self._db.execute(_UPDATE_CONNECTION,
                         {**_connection_row(record), "old_workspace_id": workspace_id,
                          "old_id": id})

    def remove_connections(self, workspace_id: str, ids: Iterable[str]) -> None:
        wanted = [text for text in map(_text, ids) if text is not None]
        if wanted:
            self._changed_connections()
            self._db.execute(
                b"DELETE FROM connections WHERE workspace_id = %s AND id = ANY(%s)",
                (_text(workspace_id), wanted))
            self._db.execute(b"DELETE FROM connections_check_history WHERE workspace_id = %s "
                             b"AND connection_id = ANY(%s)", (_text(workspace_id), wanted))

    # -- members -----------------------------------------------------------------------------

    def members(self, workspace_id: str) -> list[Record]:
        return [_loads(text) for text, in self._rows(
            "SELECT record FROM connections_members WHERE workspace_id = %s",
            (_text(workspace_id),))]

    def put_member(self, record: Mapping[str, Any]) -> None:
        self._db.execute(
            b"INSERT INTO connections_members (workspace_id, email, record) VALUES (%s, %s, %s) "
            b"ON CONFLICT (workspace_id, email) DO UPDATE SET record = EXCLUDED.record",
            (_key(record, "workspace_id", "a member"), _key(record, "email", "a member"),
             _dumps(record)))

    def remove_member(self, workspace_id: str, email: str) -> None:
        self._db.execute(
            b"DELETE FROM connections_members WHERE workspace_id = %s AND email = %s",
            (_text(workspace_id), _text(email)))

    # -- sign-outs ---------------------------------------------------------------------------

    def sign_out(self, email: str) -> Record | None:
        rows = self._rows("SELECT record FROM connections_sign_outs WHERE email = %s",
                          (_text(email),))
        return _loads(rows[0][0]) if rows else None

    def put_sign_out(self, record: Mapping[str, Any]) -> None:
        self._db.execute(
            b"INSERT INTO connections_sign_outs (email, record) VALUES (%s, %s) "
            b"ON CONFLICT (email) DO UPDATE SET record = EXCLUDED.record",
            (_key(record, "email", "a sign-out"), _dumps(record)))

    # -- the key check -----------------------------------------------------------------------

    def key_check(self) -> Record | None:
        rows = self._rows("SELECT record FROM connections_key_check")
        return _loads(rows[0][0]) if rows else None

    def set_key_check(self, record: Mapping[str, Any]) -> None:
        self._db.execute(
            b"INSERT INTO connections_key_check (record) VALUES (%s) "
            b"ON CONFLICT (only_row) DO UPDATE SET record = EXCLUDED.record", (_dumps(record),))

    def remove_key_check(self) -> None:
        self._db.execute(b"DELETE FROM connections_key_check")

    # -- the audit trail ---------------------------------------------------------------------

    def record(self, entry: Mapping[str, Any]) -> None:
        self._db.execute(_INSERT_AUDIT, _audit_row(entry))
        self._recorded = True

    def record_entries(self, entries: Iterable[Mapping[str, Any]]) -> None:
        rows = [_audit_row(entry) for entry in entries]
        if rows:
            with self._db.cursor() as cursor:
                cursor.executemany(_INSERT_AUDIT, rows)
            self._recorded = True

    # -- the check history -------------------------------------------------------------------

    def append_checks(self, entries: Iterable[Mapping[str, Any]], *,
                      cutoff: datetime | None = None) -> None:
        rows = [_check_row(entry) for entry in entries]
        if rows:
            with self._db.cursor() as cursor:
                cursor.executemany(_INSERT_CHECK, rows)
        if cutoff is not None:
            self._checks_cutoff = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=UTC)
    # -- workspace settings ------------------------------------------------------------------

    def workspace_settings(self, workspace_id: str | None) -> list[Record]:
        return _settings_rows(self._rows, workspace_id)

    def put_workspace_settings(self, record: Mapping[str, Any]) -> None:
        self._db.execute(
            b"INSERT INTO connections_workspace_settings (workspace_id, record) VALUES (%s, %s) "
            b"ON CONFLICT (workspace_id) DO UPDATE SET record = EXCLUDED.record",
            (_key(record, "workspace_id", "a workspace's settings"), _dumps(record)))

    # -- application tokens ------------------------------------------------------------------

    def app_tokens(self, workspace_id: str | None) -> list[Record]:
        return _token_rows(self._rows, workspace_id)

    def put_app_token(self, record: Mapping[str, Any]) -> None:
        self._db.execute(
            b"INSERT INTO connections_app_tokens (workspace_id, id, hash, record) "
            b"VALUES (%s, %s, %s, %s) ON CONFLICT (workspace_id, id) DO UPDATE "
            b"SET hash = EXCLUDED.hash, record = EXCLUDED.record",
            (_key(record, "workspace_id", "an application token"),
             _key(record, "id", "an application token"),
             _key(record, "hash", "an application token"), _dumps(record)))
    # -- scheduled checks --------------------------------------------------------------------

    def due_connections(self, now: datetime, limit: int) -> list[Record]:
        # The index on next_check_at finds them.  The transaction's lock on the revision
        # row already keeps other writers out; SKIP LOCKED says what a claim means by
        # itself: rows another transaction holds are another replica's, never waited for.
        return [_loads(text) for text, in self._rows(
            "SELECT record FROM connections WHERE next_check_at <= %s "
            "ORDER BY next_check_at LIMIT %s FOR UPDATE SKIP LOCKED", (now, limit))]

    def finish(self, audit_cutoff: datetime | None) -> None:
        """Drop audit entries older than ``audit_cutoff`` if this transaction recorded any,
        and check records older than the cutoff given with new ones."""
        if audit_cutoff is not None and self._recorded:
            if audit_cutoff.tzinfo is None:
                audit_cutoff = audit_cutoff.replace(tzinfo=UTC)
            self._db.execute(b"DELETE FROM connections_audit WHERE at < %s", (audit_cutoff,))
        if self._checks_cutoff is not None:
            # The index on ``at`` finds them: nothing to drop costs one probe.
            self._db.execute(b"DELETE FROM connections_check_history WHERE at < %s",
                             (self._checks_cutoff,))


# -- where the database is ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Address:
    """The parts of a DSN that may be shown: never its password."""

    host: str
    port: str
    database: str
    user: str

    @classmethod
    def of(cls, dsn: str) -> _Address:
        try:
            parts = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            # libpq's message quotes the text it choked on, which may hold the password.
            raise StoreError("The PostgreSQL address is not a valid connection URL: write it "
                             "as postgresql://USER:PASSWORD@HOST:PORT/DATABASE (in "
                             "CONNECTIONS_DATABASE_URL).", "postgresql") from None
        user = str(parts.get("user") or getpass.getuser())
        host = str(parts.get("host") or parts.get("hostaddr") or "/var/run/postgresql")
        return cls(host=host, port=str(parts.get("port") or 5432),
                   database=str(parts.get("dbname") or user), user=user)

    @property
    def server(self) -> str:
        if self.host.startswith("/"):
            return f"the Unix socket in {self.host}"
        return f"{self.host}:{self.port}"

    @property
    def location(self) -> str:
        return f"the PostgreSQL database {self.database} on {self.server}"

    @property
    def url(self) -> str:
        """The address without its password, for repr and ``StoreError.path``."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


class PostgresStore(Store):
    """Connections, members, sign-outs, the key check and the audit trail in a PostgreSQL
    database.

    :param dsn: ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE`` (or any libpq
        connection string).
    :param migrate: bring the schema up to date at construction (the default);
        without it, an older schema is refused with a :class:`StoreError`.
    :param migrations: the schema's steps (the package's own by default).
    :param pool_size: at most this many connections to the server.
    :raises StoreError: the server can't be reached, refuses the credentials, has
        no such database, or its schema is newer than this code (or older, when
        ``migrate`` is off).
    """

    kind = "postgresql"

    def __init__(self, dsn: str, *, migrate: bool = True,
                 migrations: Sequence[Migration] | None = None, pool_size: int = 10) -> None:
        self._address = _Address.of(dsn)
        self._local = threading.local()
        self._connect_options: dict[str, Any] = {"application_name": "connections"}
        if "connect_timeout" not in conninfo_to_dict(dsn):
            self._connect_options["connect_timeout"] = CONNECT_TIMEOUT
        with self._errors("open"), psycopg.connect(
                dsn, autocommit=True, **self._connect_options) as connection:
            self._migrate(connection, bundled_migrations() if migrations is None
                          else sorted(migrations, key=lambda m: m.version), migrate)
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            dsn, min_size=1, max_size=pool_size, open=False, timeout=POOL_TIMEOUT,
            kwargs={**self._connect_options, "autocommit": True},
            # A pooled connection the server dropped (a restart, a fail-over) is
            # replaced when it is next taken, not reported as an error.
            check=ConnectionPool.check_connection,
            configure=_configure, name=f"connections {self._address.database}")
        self._pool.open(wait=False)
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore({self._address.url!r})"

    @property
    def location(self) -> str:
        return self._address.location

    # -- the schema ------------------------------------------------------------------------

    def _migrate(self, connection: psycopg.Connection[Any], migrations: Sequence[Migration],
                 migrate: bool) -> None:
        """Apply the migrations the database lacks, once, whoever else starts now."""
        missing = self._missing(connection, migrations)
        if not missing:
            return
        if not migrate:
            raise self._older_error(connection, migrations)
        with connection.transaction():
            connection.execute(f"SET LOCAL lock_timeout = '{MIGRATION_LOCK_TIMEOUT}'".encode())
            connection.execute(b"SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            connection.execute(
                b"CREATE TABLE IF NOT EXISTS connections_schema_migrations ("
                b"version integer PRIMARY KEY, name text NOT NULL, "
                b"applied_at timestamptz NOT NULL DEFAULT now())")
            # Another replica may have migrated while this one waited for the lock.
            for migration in self._missing(connection, migrations):
                log.info("Migrating %s to schema version %d (%s)", self.location,
                         migration.version, migration.name)
                connection.execute(migration.sql.encode())
                connection.execute(
                    b"INSERT INTO connections_schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name))

    def _missing(self, connection: psycopg.Connection[Any],
                 migrations: Sequence[Migration]) -> list[Migration]:
        """The migrations not applied yet (refusing a schema newer than the code)."""
        applied = _applied(connection)
        known = {migration.version for migration in migrations}
        unknown = sorted(set(applied) - known)
        if unknown:
            raise StoreError(
                f"{self._location_capitalised} has schema version {unknown[-1]} "
                f"({applied[unknown[-1]]}), newer than this version of connections knows "
                f"(up to {max(known, default=0)}): a newer version of the app migrated it. "
                "Upgrade connections here to the version the other replicas run.",
                self._address.url)
        return [migration for migration in migrations if migration.version not in applied]

    def _older_error(self, connection: psycopg.Connection[Any],
                     migrations: Sequence[Migration]) -> StoreError:
        current = max(_applied(connection), default=0)
        return StoreError(
            f"{self._location_capitalised} has schema version {current}, older than this "
            f"version of connections needs ({migrations[-1].version}), and migrations are "
            "turned off here. Start one replica with migrations on (the default) to upgrade "
            "it, then this one.", self._address.url)

    @property
    def _location_capitalised(self) -> str:
        return self.location[0].upper() + self.location[1:]

    # -- transactions ----------------------------------------------------------------------

    def _current(self) -> PostgresTransaction | None:
        """This thread's transaction under way, if any."""
        current: PostgresTransaction | None = getattr(self._local, "transaction", None)
        return current

    @contextmanager
    def transaction(self, *, audit_cutoff: datetime | None = None
                    ) -> Iterator[PostgresTransaction]:
        current = self._current()
        if current is not None:
            yield current
            return
        with self._errors("change"), self._pool.connection(timeout=POOL_TIMEOUT) as connection:
            with connection.transaction():
                # The lock every writer queues on: from here on, this transaction sees
                # everything committed before, and nobody else writes until it ends.
                connection.execute(b"SELECT n FROM connections_revision FOR UPDATE")
                transaction = self._local.transaction = PostgresTransaction(connection)
                try:
                    yield transaction
                    transaction.finish(audit_cutoff)
                finally:
                    self._local.transaction = None

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn psycopg's exceptions into a :class:`StoreError` that says what to do."""
        try:
            yield
        except PoolTimeout:
            raise StoreError(f"Can't reach {self.location}: no connection to it within "
                             f"{POOL_TIMEOUT:g} s. Check that the server is running and "
                             "reachable from here; nothing was changed.",
                             self._address.url) from None
        except psycopg.Error as error:
            raise self._error(action, error) from None

    def _error(self, action: str, error: psycopg.Error) -> StoreError:
        where, url = self.location, self._address.url
        said = _reason(error)
        if isinstance(error, pg_errors.LockNotAvailable):
            return StoreError(f"{self._location_capitalised} stayed locked by another change "
                              f"for {LOCK_TIMEOUT}; nothing was changed. Try again.", url)
        if isinstance(error, psycopg.IntegrityError):
            return StoreError(f"{self._location_capitalised} refused a change ({said}); "
                              "nothing was changed.", url)
        if action == "open" and isinstance(error, psycopg.OperationalError):
            return StoreError(self._connect_message(said), url)
        if _connection_lost(error):
            return StoreError(f"Lost the connection to {where} ({said}). A change under way "
                              "was not saved if it had not finished. Check that the server is "
                              "running and try again.", url)
        return StoreError(f"Can't {action} {where}: {said}. Nothing was changed.", url)

    def _connect_message(self, said: str) -> str:
        address = self._address
        lowered = said.lower()
        if "password" in lowered or "authentication" in lowered or "pg_hba" in lowered:
            return (f"PostgreSQL on {address.server} refused the credentials of user "
                    f"{address.user} for the database {address.database}: check the user "
                    "name and password in CONNECTIONS_DATABASE_URL.")
        if "database" in lowered and "does not exist" in lowered:
            return (f"There is no database {address.database} on {address.server}: create it "
                    f"(createdb {address.database}) or fix the database name in "
                    "CONNECTIONS_DATABASE_URL.")
        return (f"Can't reach {self.location} ({said}). Check that the server is running and "
                "that the host and port in CONNECTIONS_DATABASE_URL are right.")

    # -- reading ---------------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """One statement's rows: in this thread's transaction if one is under way
        (so it sees its own changes), else on a pooled connection, on its own."""
        current = self._current()
        if current is not None:
            return current._rows(sql, params)
        with self._errors("read"), self._pool.connection(timeout=POOL_TIMEOUT) as connection:
            return connection.execute(sql.encode(), params).fetchall()

    def revision(self) -> Revision:
        if self._current() is not None:
            return None  # uncommitted changes: no revision names them
        (epoch, n), = self._rows("SELECT epoch, n FROM connections_revision")
        return (str(epoch), n)

    def connections(self, workspace_id: str | None = None) -> tuple[Revision, list[Record]]:
        # One statement reads one snapshot, so the revision and the rows agree.  The
        # records come back as one JSON array, parsed at once: row by row, building
        # and parsing each row cost twice as much at 10,000 records.
        where = "" if workspace_id is None else " WHERE workspace_id = %s"  # constant parts
        sql = ("SELECT r.epoch, r.n, (SELECT '[' || coalesce(string_agg(record, ','), '') "  # noqa: S608
               "|| ']' FROM connections" + where + ") FROM connections_revision r")
        [(epoch, n, records)] = self._rows(
            sql, () if workspace_id is None else (_text(workspace_id),))
        revision = None if self._current() is not None else (str(epoch), n)
        found: list[Record] = json.loads(records)
        return revision, found

    def connection(self, workspace_id: str, id: str) -> Record | None:
        rows = self._rows("SELECT record FROM connections WHERE workspace_id = %s AND id = %s",
                          (_text(workspace_id), _text(id)))
        return _loads(rows[0][0]) if rows else None

    def members(self, workspace_id: str | None = None) -> list[Record]:
        if workspace_id is None:
            rows = self._rows("SELECT record FROM connections_members")
        else:
            rows = self._rows("SELECT record FROM connections_members WHERE workspace_id = %s",
                              (_text(workspace_id),))
        return [_loads(text) for text, in rows]

    def sign_out(self, email: str) -> Record | None:
        rows = self._rows("SELECT record FROM connections_sign_outs WHERE email = %s",
                          (_text(email),))
        return _loads(rows[0][0]) if rows else None

    def key_check(self) -> Record | None:
        rows = self._rows("SELECT record FROM connections_key_check")
        return _loads(rows[0][0]) if rows else None

    def audit_entries(self, workspace_id: str | None = None) -> Iterator[Record]:
        return self._audit_pages(workspace_id)

    def _audit_pages(self, workspace_id: str | None) -> Iterator[Record]:
        """Newest first, a page per query, holding no connection between pages."""
        clauses = ["seq < %s"]
        params: list[Any] = [2**63 - 1]
        if workspace_id is not None:
            # An id the column can't hold is NULL there: look among those.
            clauses.append("workspace_id = %s" if _text(workspace_id) is not None
                           else "workspace_id IS NULL")
            params += [workspace_id] if _text(workspace_id) is not None else []
        sql = (f"SELECT seq, entry FROM connections_audit WHERE {' AND '.join(clauses)} "  # noqa: S608
               f"ORDER BY seq DESC LIMIT {AUDIT_PAGE}")
        while True:
            rows = self._rows(sql, params)
            for _, text in rows:
                entry = _loads(text)
                if workspace_id is None or entry.get("workspace_id") == workspace_id:
                    yield entry
            if len(rows) < AUDIT_PAGE:
                return
            params[0] = rows[-1][0]

    # -- the check history -----------------------------------------------------------------

    def checks(self, workspace_id: str, connection_id: str, *, since: datetime,
               limit: int | None) -> list[Record]:
        rows = self._rows(
            "SELECT at, success, kind, latency_ms, status_code, source "
            "FROM connections_check_history WHERE workspace_id = %s AND connection_id = %s "
            "AND at >= %s ORDER BY at DESC, seq DESC LIMIT %s",
            (_text(workspace_id), _text(connection_id), _aware(since), limit))
        return [{"at": at, "workspace_id": workspace_id, "connection_id": connection_id,
                 "success": success, "kind": kind, "latency_ms": latency,
                 "status_code": status, "source": source}
                for at, success, kind, latency, status, source in rows]

    def check_summary(self, workspace_id: str, connection_id: str, *,
                      since: datetime) -> Record:
        # Counted by the server over the index's range: 30 days of per-minute checks
        # never cross the network.  percentile_disc is the nearest rank, as the file's.
        [(checks, failures, p50, p95, last_success, last_failure)] = self._rows(
            "SELECT count(*), count(*) FILTER (WHERE NOT success), "
            "percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE success), "
            "percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE success), "
            "max(at) FILTER (WHERE success), max(at) FILTER (WHERE NOT success) "
            "FROM connections_check_history WHERE workspace_id = %s AND connection_id = %s "
            "AND at >= %s", (_text(workspace_id), _text(connection_id), _aware(since)))
        return {"checks": checks, "failures": failures,
                "latency_p50_ms": None if p50 is None else int(p50),
                "latency_p95_ms": None if p95 is None else int(p95),
                "last_success_at": last_success, "last_failure_at": last_failure}
    # -- workspace settings ----------------------------------------------------------------

    def workspace_settings(self, workspace_id: str | None = None) -> list[Record]:
        return _settings_rows(self._rows, workspace_id)

    # -- application tokens ----------------------------------------------------------------

    def app_token(self, hash: str) -> Record | None:
        found = self._rows("SELECT record FROM connections_app_tokens WHERE hash = %s",
                           (_text(hash),))
        return _loads(found[0][0]) if found else None

    def app_tokens(self, workspace_id: str | None = None) -> list[Record]:
        return _token_rows(self._rows, workspace_id)
    # -- scheduled checks ------------------------------------------------------------------

    def next_check_at(self) -> datetime | None:
        (when,), = self._rows("SELECT min(next_check_at) FROM connections")
        return when if isinstance(when, datetime) else None

    # -- about the store -------------------------------------------------------------------

    def size_bytes(self) -> int | None:
        (size,), = self._rows("SELECT pg_database_size(current_database())")
        return int(size)

    @property
    def closed(self) -> bool:
        return getattr(self, "_closed", True)

    def close(self) -> None:
        if not getattr(self, "_closed", True):
            self._closed = True
            self._pool.close()


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _configure(connection: psycopg.Connection[Any]) -> None:
    """Set up each new pooled connection: a write waits this long for another's."""
    connection.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'".encode())


def _applied(connection: psycopg.Connection[Any]) -> dict[int, str]:
    """The migrations recorded in the database: ``{version: name}``."""
    exists, = connection.execute(
        b"SELECT to_regclass('connections_schema_migrations') IS NOT NULL").fetchone() or (False,)
    if not exists:
        return {}
    rows = connection.execute(b"SELECT version, name FROM connections_schema_migrations")
    return {version: name for version, name in rows.fetchall()}


def _connection_lost(error: psycopg.Error) -> bool:
    """Whether the connection to the server broke (rather than the server refusing
    one statement, such as a write to a full disk, which is an OperationalError too)."""
    if not isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    # No SQLSTATE: libpq lost the connection; class 08 is a connection exception,
    # 57P the server shutting down or terminating this session.
    return error.sqlstate is None or error.sqlstate.startswith(("08", "57P"))


def _reason(error: psycopg.Error) -> str:
    """What went wrong, in the server's or libpq's words (which never hold a password)."""
    lines = str(error).strip().splitlines()
    # libpq's first line ends with the reason: "connection to server at ... failed: X".
    text = error.diag.message_primary or (lines[0].rsplit(" failed: ", 1)[-1] if lines else "")
    text = text.strip().removeprefix("FATAL:").strip()
    return text.rstrip(".") or error.__class__.__name__
