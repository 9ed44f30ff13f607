"""The check history's cost, run by hand: python benchmarks/bench_history.py [--records 1000000]

Keeping every check must not make a check cost more as the history grows, nor a
card's figures cost more than the list of connections it sits in.  Each figure
is a ratio against a baseline measured in the same run, on each store
(PostgreSQL on a throwaway server when Debian's binaries are there, as in
bench_stores.py; or --dsn a scratch database; --skip-postgresql to leave it out):

* appending: recording one check (status, audit entry and history record, one
  write) with N records in the history against with 1,000 (target: within 1.5x);
* health(): a connection's health over 30 days of per-minute checks (43,200
  records) against a list() of 1,000 connections right after a change, which
  is what a rerun costs once a check was recorded (target: no slower);
  list() unchanged, served from memory, is printed beside it;
* a rerun's cards: history(id, since=24 h ago) of 20 connections checked every
  minute, against the same list().
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_core import KEY, best
from connections_core import ConnectionService, KeyRing, TestResult, TinyDBStore, generate_key
from connections_core.records import Records
from connections_core.storage import Store

MONTH = 43_200  # per-minute checks over 30 days
DAY = 1_440
CARDS = 20
BATCH = 50_000  # records appended per transaction while filling


def check_records(ids: list[str], records: int, span: timedelta) -> Iterator[dict[str, Any]]:
    """``records`` check records spread evenly over the last ``span``, round the ids."""
    now = datetime.now(UTC)
    step = span / records
    for n in range(records):
        yield {"at": (now - span + step * (n + 1)).isoformat(), "workspace_id": "default",
               "connection_id": ids[n % len(ids)], "success": n % 50 != 0,
               "kind": "ok" if n % 50 else "timeout", "latency_ms": 40 + (n * 7919) % 400,
               "status_code": 200 if n % 50 else None, "source": "schedule"}


def fill(store: Store, ids: list[str], records: int, span: timedelta) -> None:
    if store.kind == "postgresql":
        fill_database(store, ids, records, span)
        return
    batch: list[dict[str, Any]] = []
    for record in check_records(ids, records, span):
        batch.append(record)
        if len(batch) == BATCH:
            with store.transaction() as tx:
                tx.append_checks(batch)
            batch = []
    if batch:
        with store.transaction() as tx:
            tx.append_checks(batch)


def fill_database(store: Store, ids: list[str], records: int, span: timedelta) -> None:
    """The same records, made by the server (a million rows through the driver would
    take minutes and measure nothing of ours)."""
    sql = ("INSERT INTO connections_check_history (workspace_id, connection_id, at, success, "
           "kind, latency_ms, status_code, source) SELECT 'default', (%s::text[])[1 + n %% %s], "
           "now() - %s * (1 - n::float8 / %s), n %% 50 <> 0, "
           "CASE WHEN n %% 50 <> 0 THEN 'ok' ELSE 'timeout' END, 40 + (n::bigint * 7919) %% 400, "
           "CASE WHEN n %% 50 <> 0 THEN 200 END, 'schedule' FROM generate_series(1, %s) n")
    with store.transaction() as tx:
        tx._db.execute(sql.encode(), (ids, len(ids), span, records, records))  # type: ignore[attr-defined]


# -- the stores -------------------------------------------------------------------------------

@contextmanager
def stores(postgresql: bool, dsn: str | None, folder: Path) -> Iterator[Any]:
    """``new(name)``: a new, empty store of each kind wanted, by kind."""
    if not postgresql:
        yield lambda kind, name: TinyDBStore(folder / name / "connections.json")
        return
    from benchmarks.bench_stores import Databases

    with Databases(dsn) as databases:
        def new(kind: str, name: str) -> Store:
            if kind == "tinydb":
                return TinyDBStore(folder / name / "connections.json")
            store = databases.new()
            with store.transaction() as tx:  # a --dsn database is reused: empty it
                tx._db.execute(b"TRUNCATE connections_check_history")  # type: ignore[attr-defined]
            return store

        new.settle = databases.settle  # type: ignore[attr-defined]
        yield new


def settle(new: Any, store: Store) -> None:
    if store.kind == "postgresql":
        new.settle()


def seeded(store: Store, keyring: KeyRing, size: int) -> tuple[ConnectionService, list[str]]:
    from benchmarks.bench_stores import seeded as seed

    service = seed(store, size, "http://127.0.0.1:9", keyring)
    return service, [connection.id for connection in service.list()]


# -- what is timed ------------------------------------------------------------------------------

def bench_append(new: Any, kind: str, records: int, repeat: int) -> None:
    """The two stores are timed in turns, so that the disk's moods (other work on this
    machine, the writeback of the fill) fall on both alike."""
    keyring = KeyRing(generate_key())
    appends, reads, opened = {}, {}, []
    for size in (1_000, records):
        store = new(kind, f"append-{size}")
        opened.append(store)
        service, ids = seeded(store, keyring, CARDS)
        fill(store, ids, size, timedelta(days=29))
        settle(new, store)
        under = Records(store, keyring, "default", clock=lambda: datetime.now(UTC),
                        audit_days=365, actor_name=lambda: "bench")
        record = under.record(ids[0])
        checked = TestResult(True, "Connected.", "ok", 42, (), 200)

        def append(record: dict[str, Any] = record, under: Records = under,
                   checked: TestResult = checked) -> None:
            under.record_results([(record, checked)], each="connection.tested",
                                 source="schedule")

        def read(service: ConnectionService = service, id: str = ids[0]) -> None:
            service.history(id, since=datetime.now(UTC) - timedelta(days=1), limit=1)

        appends[size], reads[size] = append, read
        started = time.perf_counter()
        read()  # the process's first read of the file
        first = time.perf_counter() - started
    os.sync()  # the fill's writeback done before anything is timed
    times: dict[int, list[float]] = {size: [] for size in appends}
    for n in range(repeat + 3):
        for size, append in appends.items():
            started = time.perf_counter()
            append()
            if n >= 3:  # the first few warm up
                times[size].append(time.perf_counter() - started)
    small, large = (statistics.median(times[size]) for size in (1_000, records))
    read_small, read_large = (best(reads[size], repeat) for size in (1_000, records))
    for store in opened:
        store.close()
    print(f"{kind:10} appending one check: at 1,000 records {small * 1000:7.2f} ms, at "
          f"{records:,} {large * 1000:7.2f} ms: {large / small:.2f}x (target <= 1.5x)\n"
          f"{'':10} the newest check, history(limit=1): at 1,000 {read_small * 1000:7.2f} ms, at "
          f"{records:,} {read_large * 1000:7.2f} ms: {read_large / read_small:.2f}x; the "
          f"process's first, at {records:,}: {first * 1000:.0f} ms")


def bench_reading(new: Any, kind: str, repeat: int) -> None:
    keyring = KeyRing(generate_key())
    store = new(kind, "reading")
    service, ids = seeded(store, keyring, 1_000)
    watched = ids[0]
    fill(store, [watched], MONTH, timedelta(days=30))
    fill(store, ids[1:CARDS], DAY * (CARDS - 1), timedelta(days=1))
    settle(new, store)
    names = count()

    def changed() -> None:
        service.create("openai", f"new {next(names)}", {"apiKey": KEY})

    list_cold = []
    for _ in range(repeat):
        changed()
        started = time.perf_counter()
        service.list()
        list_cold.append(time.perf_counter() - started)
    list_cold.sort()
    after_change = list_cold[len(list_cold) // 2]
    list_warm = best(service.list, repeat)
    month = datetime.now(UTC) - timedelta(days=30)
    started = time.perf_counter()
    health = service.health(watched, since=month)
    first = time.perf_counter() - started
    assert health.checks >= MONTH - 2, health
    warm = best(lambda: service.health(watched, since=month), repeat)

    def cards() -> None:
        day = datetime.now(UTC) - timedelta(days=1)
        for id in ids[:CARDS]:
            service.history(id, since=day)

    rerun = best(cards, repeat)
    print(f"{kind:10} list() of 1,000 after a change {after_change * 1000:7.2f} ms "
          f"(unchanged {list_warm * 1000:.3f} ms)\n"
          f"{'':10} health() over {health.checks:,} records {warm * 1000:7.2f} ms: "
          f"{warm / after_change:.2f}x that list() (target <= 1x); the process's first, "
          f"reading the history: {first * 1000:.0f} ms\n"
          f"{'':10} {CARDS} cards' history(since=24 h ago) {rerun * 1000:7.2f} ms: "
          f"{rerun / after_change:.2f}x that list()")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15, help="timings per figure (median)")
    parser.add_argument("--dsn", default=None, help="a scratch PostgreSQL database (emptied!)")
    parser.add_argument("--skip-postgresql", action="store_true")
    args = parser.parse_args()
    postgresql = not args.skip_postgresql
    if postgresql and args.dsn is None:
        from tests.postgres import _bindir

        if _bindir() is None:
            print("PostgreSQL's binaries are missing: TinyDB only.")
            postgresql = False
    kinds = ["tinydb", "postgresql"] if postgresql else ["tinydb"]
    with tempfile.TemporaryDirectory() as tmp, stores(postgresql, args.dsn, Path(tmp)) as new:
        for kind in kinds:
            bench_append(new, kind, args.records, args.repeat)
        for kind in kinds:
            bench_reading(new, kind, args.repeat)


if __name__ == "__main__":
    main()
