"""A scrape of /metrics, run by hand:
python benchmarks/bench_metrics.py [--size 1000] [--dsn postgresql://...]

On each store holding ``--size`` checked connections, what a scrape does (every
workspace's connections read and written in the Prometheus text format, as
server/routes.py does) against a cold list() of the same connections in the same
run (one workspace read anew, as after any change; target: within 3x, since a scrape
also formats three samples per connection).  PostgreSQL is a throwaway server
started with the tests' own PostgresServer unless --dsn names a scratch database.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402

from benchmarks.bench_core import best  # noqa: E402
from benchmarks.bench_stores import Databases, opened  # noqa: E402
from connections_core import ConnectionService  # noqa: E402
from server.routes import ConnectionsCollector  # noqa: E402


def checked(service: ConnectionService) -> None:
    """Give every connection a last check, as Test all would have, in one write."""
    _, rows = service.store.connections()
    with service.store.transaction() as tx:
        tx.update_connections((row["workspace_id"], row["id"], {
            "status": "connected", "last_checked_at": "2026-01-01T00:00:00+00:00",
            "last_result": {"success": True, "message": "Connected.", "kind": "ok",
                            "latency_ms": n, "status_code": 200}})
            for n, row in enumerate(rows))


def bench(kind: str, service: ConnectionService, size: int) -> str:
    checked(service)
    registry = CollectorRegistry()
    registry.register(ConnectionsCollector(service.list_every_workspace))
    samples = generate_latest(registry).decode().count("\nconnections_up{")
    assert samples == size, f"{samples} connections_up samples for {size} connections"

    def cold_list() -> None:
        ConnectionService(service.store, service.keyring).list()

    baseline = best(cold_list, 15)
    scrape = best(lambda: generate_latest(registry), 15)
    return (f"{kind:10} {size:6} connections   list() {baseline * 1000:7.2f} ms   "
            f"scrape {scrape * 1000:7.2f} ms   scrape / list() {scrape / baseline:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--dsn", help="a scratch PostgreSQL database (emptied first)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, Databases(arguments.dsn) as databases:
        for kind in ("tinydb", "postgresql"):
            with opened(kind, arguments.size, "https://api.openai.com/v1", databases,
                        Path(folder)) as service:
                print(bench(kind, service, arguments.size), flush=True)


if __name__ == "__main__":
    main()
