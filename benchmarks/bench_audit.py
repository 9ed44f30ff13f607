"""The audit trail's cost, run by hand: python benchmarks/bench_audit.py [--entries 100000]

Keeping the trail must not make a change cost more as the trail grows.  Each
figure is a ratio against a baseline measured in the same run:

* create() at 10,000 connections and N audit entries against one insert
  through TinyDB's stock JSONStorage at 10,000 connections (target: within 2x);
* the same create() against create() on the same store with an empty trail
  (the trail's own cost: about 1x whatever its length);
* audit(limit=100) at N entries against audit(limit=100) at 1,000.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_core import KEY, best, filled_service
from tinydb import TinyDB

from connections_core import ConnectionService


def fill_trail(service: ConnectionService, entries: int) -> None:
    """``entries`` audit entries over the last 300 days, appended in one transaction."""
    start = datetime.now(UTC) - timedelta(days=300)
    step = timedelta(days=299) / max(entries, 1)
    with service.store.transaction():
        for n in range(entries):
            service.store.record({
                "at": (start + n * step).isoformat(), "workspace_id": "default",
                "actor": "ada@example.com", "action": "connection.updated",
                "target_id": f"bench-{n % 10_000}", "target_name": f"conn {n % 10_000}",
                "details": {"fields": ["name"]}})


def run(connections: int, entries: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    try:
        service = filled_service(folder, connections, "https://api.openai.com/v1")
        names = count()

        def create() -> None:
            service.create("openai", f"new {next(names)}", {"apiKey": KEY})

        empty_trail = best(create, 7)
        shutil.copy(service.store.path, folder / "stock.json")
        stock = TinyDB(folder / "stock.json").table("connections")
        record = dict(stock.all()[0])
        baseline = best(lambda: stock.insert({**record, "id": f"stock-{next(names)}"}), 7)

        fill_trail(service, 1000)
        small = best(lambda: service.audit(limit=100), 7)
        fill_trail(service, entries - 1000)
        full_trail = best(create, 7)
        large = best(lambda: service.audit(limit=100), 7)
    finally:
        shutil.rmtree(folder)
    print(f"{connections:,} connections, {entries:,} audit entries")
    print(f"  create():        stock insert {baseline * 1000:7.2f} ms   create() "
          f"{full_trail * 1000:7.2f} ms   ratio {full_trail / baseline:4.2f}x (target <= 2x)")
    print(f"  trail's cost:    create() with an empty trail {empty_trail * 1000:7.2f} ms   "
          f"ratio {full_trail / empty_trail:4.2f}x")
    print(f"  audit(100):      at 1,000 entries {small * 1000:7.2f} ms   at {entries:,} "
          f"{large * 1000:7.2f} ms   ratio {large / small:4.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=100_000)
    arguments = parser.parse_args()
    run(arguments.connections, arguments.entries)


if __name__ == "__main__":
    main()
