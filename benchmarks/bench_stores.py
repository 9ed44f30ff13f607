"""Both stores side by side, run by hand:
python benchmarks/bench_stores.py [--sizes 1000 10000 100000] [--dsn postgresql://...]

Each figure is a ratio against a baseline measured in the same run, because
this machine is shared and absolute times mean little:

* create() and list() at each size against the same store's figure at the
  smallest size (target on PostgreSQL: create() at 100,000 within 1.5x of
  1,000).  list() is timed cold, right after a change (its cache is then
  stale: everything is read again), and warm, unchanged since the last one;
* test_all() of 1,000 connections against a local fake server: PostgreSQL's
  time against TinyDB's (target: no slower, <= 1x);
* migrate_store() of 10,000 connections and 100,000 audit entries from the
  file into PostgreSQL, for scale (seconds, and against seeding the same
  records into an empty database).

Every store is seeded through the storage interface in one transaction, then
timed through the service.  PostgreSQL is a throwaway server started with the
tests' own PostgresServer (Debian's binaries), unless --dsn names a database
(emptied first: use a scratch one).  On TinyDB every create() rewrites the
whole file, so at 100,000 it is timed fewer times.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_core import KEY, best, fake_openai  # noqa: E402
from connections_core import ConnectionService, KeyRing, TinyDBStore, generate_key  # noqa: E402
from connections_core.migrate import migrate_store  # noqa: E402
from connections_core.postgres import PostgresStore  # noqa: E402
from connections_core.records import secret_context  # noqa: E402
from connections_core.storage import Store  # noqa: E402

RESET = ("TRUNCATE connections, connections_members, connections_key_check, connections_audit "
         "RESTART IDENTITY; UPDATE connections_revision SET n = 0")
SLOW_TINYDB = 50_000  # from this size on, TinyDB's create() is timed fewer times


# -- stores -----------------------------------------------------------------------------------

class Databases:
    """New PostgreSQL databases: on a throwaway server, or the one --dsn names (emptied)."""

    def __init__(self, dsn: str | None) -> None:
        self._dsn = dsn
        self._server: Any = None
        self._names = count(1)
        self._last = ""

    def __enter__(self) -> Databases:
        if self._dsn is None:
            from tests.postgres import PostgresServer, _bindir

            bindir = _bindir()
            if bindir is None:
                sys.exit("PostgreSQL's binaries are missing (apt-get install postgresql); "
                         "or pass --dsn postgresql://... of a scratch database.")
            self._server = PostgresServer(bindir)
            self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.stop()

    def new(self) -> PostgresStore:
        """An empty, migrated database."""
        if self._server is None:
            assert self._dsn is not None
            store = PostgresStore(self._dsn)
            with store.transaction() as tx:
                tx._db.execute(RESET.encode())  # type: ignore[attr-defined]
            return store
        name = f"bench_{next(self._names)}"
        self._server.admin(f'CREATE DATABASE "{name}" OWNER "connections"')
        self._last = self._server.dsn(name)
        return PostgresStore(self._last)

    def settle(self) -> None:
        """Vacuum and analyze the newest database, as autovacuum would after a bulk load:
        otherwise it runs during the timings, on this 2-core machine."""
        import psycopg

        with psycopg.connect(self._last if self._server else self._dsn,
                             autocommit=True) as connection:
            connection.execute(b"VACUUM ANALYZE")


def seeded(store: Store, size: int, base_url: str, keyring: KeyRing) -> ConnectionService:
    """A service whose store holds ``size`` OpenAI connections, each with its own
    sealed key, written through the interface in one transaction."""
    service = ConnectionService(store, keyring, timeout=10.0)
    template = service.create("openai", "template", {"apiKey": KEY, "baseUrl": base_url})
    record = store.connections()[1][0]
    assert template.is_default

    def copy(n: int) -> dict[str, Any]:
        id = f"bench-{n}"
        return {**record, "id": id, "name": f"conn {n}", "is_default": False,
                "config": {**record["config"], "apiKey": keyring.encrypt(
                    KEY, secret_context({**record, "id": id}, "apiKey"))},
                "created_at": f"2026-01-01T00:00:00.{n:06d}+00:00"}

    with store.transaction() as tx:
        tx.insert_connections(copy(n) for n in range(size - 1))
    return service


@contextmanager
def opened(kind: str, size: int, base_url: str, databases: Databases,
           folder: Path) -> Iterator[ConnectionService]:
    keyring = KeyRing(generate_key())
    store: Store = (TinyDBStore(folder / f"{size}" / "connections.json") if kind == "tinydb"
                    else databases.new())
    try:
        service = seeded(store, size, base_url, keyring)
        if kind == "postgresql":
            databases.settle()
        yield service
    finally:
        store.close()


# -- what is timed --------------------------------------------------------------------------

def measure(service: ConnectionService, repeat: int) -> dict[str, float]:
    """Median seconds of create(), of list() right after a change, of list() unchanged."""
    names = count()

    def create() -> None:
        service.create("openai", f"new {next(names)}", {"apiKey": KEY})

    for _ in range(3):  # warm: pools, caches, the first parse
        create()
    cold = []
    for _ in range(repeat):
        create()
        started = time.perf_counter()
        service.list()
        cold.append(time.perf_counter() - started)
    cold.sort()
    return {"create": best(create, repeat), "list cold": cold[len(cold) // 2],
            "list warm": best(service.list, max(repeat, 7))}


def bench_sizes(sizes: list[int], repeat: int, databases: Databases, folder: Path) -> None:
    figures: dict[str, dict[int, dict[str, float]]] = {"tinydb": {}, "postgresql": {}}
    # Warm the server first: the first database timed would otherwise pay for it.
    with opened("postgresql", 100, "http://127.0.0.1:9", databases, folder) as service:
        measure(service, repeat)
    for size in sizes:
        for kind in figures:
            times = repeat if kind == "postgresql" or size < SLOW_TINYDB else 3
            with opened(kind, size, "http://127.0.0.1:9", databases, folder) as service:
                figures[kind][size] = measure(service, times)
            print(f"  {kind:10} {size:>7} connections: measured ({times} times each)",
                  flush=True)
    base = sizes[0]
    for kind, by_size in figures.items():
        print(f"\n{kind}: median ms (ratio against {base:,} connections)")
        print(f"  {'connections':>11}  {'create()':>20}  {'list() cold':>20}  "
              f"{'list() warm':>20}")
        for size, times in by_size.items():
            cells = [f"{times[what] * 1000:9.2f} ({times[what] / by_size[base][what]:5.2f}x)"
                     for what in ("create", "list cold", "list warm")]
            print(f"  {size:>11,}  " + "  ".join(f"{cell:>20}" for cell in cells))
    top = sizes[-1]
    ratio = figures["postgresql"][top]["create"] / figures["postgresql"][base]["create"]
    print(f"\nPostgreSQL create() at {top:,} is {ratio:.2f}x its time at {base:,} "
          "(target <= 1.5x)")
    for size in sizes:
        against = (figures["postgresql"][size]["create"] / figures["tinydb"][size]["create"])
        print(f"  at {size:>7,}: PostgreSQL create() is {against:7.4f}x TinyDB's")


def bench_test_all(databases: Databases, folder: Path, size: int = 1000) -> None:
    with fake_openai() as url:
        times = {}
        for kind in ("tinydb", "postgresql"):
            with opened(kind, size, url, databases, folder / "test_all") as service:
                service.test_all()  # warm
                times[kind] = best(service.test_all, 3)
                assert all(c.status == "connected" for c in service.list())
    ratio = times["postgresql"] / times["tinydb"]
    print(f"\ntest_all() of {size:,} connections: TinyDB {times['tinydb']:.2f} s, PostgreSQL "
          f"{times['postgresql']:.2f} s: PostgreSQL is {ratio:.2f}x TinyDB's (target <= 1x)")


def bench_migrate(databases: Databases, folder: Path, connections: int = 10_000,
                  entries: int = 100_000) -> None:
    keyring = KeyRing(generate_key())
    source = TinyDBStore(folder / "migrate" / "connections.json")
    seeded(source, connections, "http://127.0.0.1:9", keyring)
    start = datetime.now(UTC) - timedelta(days=300)
    with source.transaction() as tx:
        tx.record_entries({
            "at": (start + timedelta(seconds=n)).isoformat(), "workspace_id": "default",
            "actor": "ada@example.com", "action": "connection.updated",
            "target_id": f"bench-{n % connections}", "target_name": f"conn {n % connections}",
            "details": {"fields": ["name"]}} for n in range(entries))
    records = source.connections()[1]
    trail = list(source.audit_entries())

    def seed_only() -> None:
        with databases.new() as empty, empty.transaction() as tx:
            tx.insert_connections(records)
            tx.record_entries(trail)

    seeding = timed(seed_only)
    with databases.new() as target:
        migrating = timed(lambda: migrate_store(source, target, keyring))
        again = timed(lambda: migrate_store(source, target, keyring))
    print(f"\nmigrate_store() of {connections:,} connections and {entries:,} audit entries: "
          f"{migrating:.1f} s ({migrating / seeding:.2f}x writing the same records into an "
          f"empty database, {seeding:.1f} s); again, copying nothing: {again:.1f} s")


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=15, help="timings per figure (median)")
    parser.add_argument("--dsn", default=None,
                        help="a scratch PostgreSQL database (emptied!) instead of a "
                             "throwaway server")
    parser.add_argument("--skip", nargs="*", default=[], choices=["sizes", "test_all",
                                                                   "migrate"])
    args = parser.parse_args()
    with Databases(args.dsn) as databases, tempfile.TemporaryDirectory() as tmp:
        if "sizes" not in args.skip:
            bench_sizes(sorted(args.sizes), args.repeat, databases, Path(tmp))
        if "test_all" not in args.skip:
            bench_test_all(databases, Path(tmp))
        if "migrate" not in args.skip:
            bench_migrate(databases, Path(tmp))


if __name__ == "__main__":
    main()
