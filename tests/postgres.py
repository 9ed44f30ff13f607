"""A real PostgreSQL server for the tests, started once per session.

Debian's binaries (the ``postgresql`` package) run a throwaway cluster in a
temporary folder on 127.0.0.1 and a free port, tuned for speed rather than
durability (``fsync=off``).  ``initdb`` refuses to run as root, so as root the
server runs as the ``postgres`` user in a folder it owns.

Where the binaries are missing the tests that need them are skipped, with the
reason, except in CI (the ``CI`` variable set), where that is a failure: CI
installs the package.

Two roles: ``postgres``, trusted, for the fixture's own work (creating and
dropping databases), and ``connections``, which must give its password over
TCP, for the stores under test.  Each test gets its own database, copied from
a template in which the migrations already ran.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support import free_port

if TYPE_CHECKING:
    from connections_core.postgres import PostgresStore

USER = "connections"
#: Distinctive, so that a test can prove it never shows up in a message.
PASSWORD = "pw-Zq7xK2mVb9LtRr4e"
TEMPLATE = "connections_migrated"
START_TIMEOUT = 60  # seconds for pg_ctl -w
#: Empties a migrated database (much faster than creating one: see ``recycle``).
RESET = ("TRUNCATE connections, connections_members, connections_sign_outs, "
         "connections_key_check, connections_audit, connections_workspace_settings, "
         "connections_app_tokens "
         "RESTART IDENTITY; "
         "UPDATE connections_revision SET epoch = gen_random_uuid(), n = 0")


def _bindir() -> Path | None:
    """The folder of Debian's PostgreSQL binaries (the newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    try:
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(bindir) if (Path(bindir) / "initdb").exists() else None


def _unavailable(reason: str) -> None:
    """Skip, or fail in CI, where PostgreSQL must be there."""
    message = f"PostgreSQL tests need {reason}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI installs the postgresql package and psycopg)")
    pytest.skip(message)


class PostgresServer:
    """A running throwaway PostgreSQL cluster, and databases in it."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.host = "127.0.0.1"
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="connections-pg-"))
        self.data = self.folder / "data"
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)
        self._admin: Any = None  # one superuser connection, kept for the session
        self._admin_lock = threading.Lock()
        self._spare: list[str] = []  # emptied databases, ready for the next test
        self._template_versions = 0

    # -- addresses -------------------------------------------------------------------------

    def dsn(self, database: str, *, password: str = PASSWORD, user: str = USER) -> str:
        """The ``postgresql://`` URL of a database, as the store under test is given it."""
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{database}"

    def admin_dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    # -- databases -------------------------------------------------------------------------

    def fresh_database(self) -> str:
        """A new database with the current schema and no records; returns its name."""
        name = f"test_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}" OWNER "{USER}" '
                   "STRATEGY FILE_COPY")
        return name

    def empty_database(self) -> str:
        """A new database without even the schema (to test migrations on)."""
        name = f"empty_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}" OWNER "{USER}"')
        return name

    def clean_database(self) -> str:
        """A migrated database with no records: one a finished test left and
        :meth:`recycle` emptied (much cheaper than a new one), or a new one."""
        with self._admin_lock:
            spare = self._spare.pop() if self._spare else None
        return spare or self.fresh_database()

    def recycle(self, name: str) -> None:
        """Empty a database a test used, for the next test; drop it if that can't be
        done (a schema the test changed, a lock a leaked connection holds)."""
        import psycopg

        try:
            with psycopg.connect(self.admin_dsn(name), autocommit=True) as connection:
                connection.execute(b"SET lock_timeout = '5s'")
                (versions,), = connection.execute(
                    b"SELECT count(*) FROM connections_schema_migrations").fetchall()
                if versions == self._template_versions:
                    connection.execute(RESET.encode())
                    with self._admin_lock:
                        self._spare.append(name)
                    return
        except psycopg.Error:
            pass
        self.drop_database(name)

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def admin(self, sql: str, params: tuple[object, ...] = ()) -> None:
        """Run one statement as the superuser, outside a transaction."""
        import psycopg

        with self._admin_lock:
            if self._admin is None or self._admin.closed:
                self._admin = psycopg.connect(self.admin_dsn(), autocommit=True)
            self._admin.execute(sql.encode(), params)

    # -- the server ------------------------------------------------------------------------

    def start(self) -> None:
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        settings = {
            "listen_addresses": "'127.0.0.1'", "port": str(self.port),
            "unix_socket_directories": f"'{self.folder}'",
            "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
            "max_connections": "300", "shared_buffers": "32MB",
        }
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        (self.data / "pg_hba.conf").write_text(
            "local all postgres trust\n"
            "host all postgres 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-w", "-t", str(START_TIMEOUT), "start")
        self.admin(f"CREATE ROLE \"{USER}\" LOGIN PASSWORD '{PASSWORD}'")

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, program: str, *arguments: str) -> None:
        command = [str(self.bindir / program), *arguments]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                              cwd=self.folder)
        if done.returncode:
            raise RuntimeError(f"{program} failed ({done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A running PostgreSQL server, with a template database already migrated."""
    bindir = _bindir()
    if bindir is None:
        _unavailable("Debian's PostgreSQL binaries (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        _unavailable("psycopg (pip install 'psycopg[binary,pool]')")
    assert bindir is not None
    server = PostgresServer(bindir)
    try:
        server.start()
        _migrate_template(server)
        yield server
    finally:
        server.stop()


def _migrate_template(server: PostgresServer) -> None:
    from connections_core.postgres import PostgresStore, bundled_migrations

    server.admin(f'CREATE DATABASE "{TEMPLATE}" OWNER "{USER}"')
    PostgresStore(server.dsn(TEMPLATE)).close()
    server._template_versions = len(bundled_migrations())


@pytest.fixture
def postgres_database(postgres: PostgresServer) -> Iterator[str]:
    """The name of a migrated database with no records, for this test alone."""
    name = postgres.clean_database()
    yield name
    postgres.recycle(name)


@pytest.fixture
def postgres_store(postgres: PostgresServer, postgres_database: str) -> Iterator[PostgresStore]:
    """A :class:`PostgresStore` of a database of its own, closed after the test."""
    from connections_core.postgres import PostgresStore

    store = PostgresStore(postgres.dsn(postgres_database))
    yield store
    store.close()


def increment_counter(store: PostgresStore, times: int) -> None:
    """Add 1 to the ``count`` of the connection ``counter`` in the workspace ``default``,
    ``times`` times, a transaction each: what each thread or process of a test of lost
    updates does (a process imports it from here)."""
    for _ in range(times):
        with store.transaction() as tx:
            record = tx.connection("default", "counter")
            assert record is not None
            tx.update_connection("default", "counter", {"count": record["count"] + 1})
