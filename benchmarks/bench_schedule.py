"""Scheduled checks held by two processes, run by hand:
python benchmarks/bench_schedule.py [--stores tinydb postgresql] [--size 1000] [--seconds 150]

The load of issue 20: 1,000 connections scheduled every minute, all due at the same
moment (the worst case: a burst of 1,000, then again a minute later), and two
processes running the scheduler over one store for about 2.5 minutes: two processes
over the data file, and two replicas over one PostgreSQL database.  The provider is
the suite's fake server in a process of its own, answering in ``--delay`` seconds
(default 0.2, a provider's usual answer), and recording when each key reached it.

Measured, for each store:

* exactly once: every connection's key reached the provider once per due time in
  the run (counted at the provider), none twice;
* the lag between a check's due time and its start (at the scheduler) and its
  arrival (at the provider): p50 and p95 (target: p95 under 5 s on this 2-core
  machine), and the slowest;
* against a baseline measured in the same run: one ``test_all()`` of the same
  1,000 connections in one process (how long checking them all once takes).

PostgreSQL is a throwaway server started with the tests' own PostgresServer
(Debian's binaries), unless --dsn names a scratch database (emptied first).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_stores import Databases  # noqa: E402

from connections_core import ConnectionService, KeyRing, TinyDBStore, generate_key  # noqa: E402
from connections_core.records import secret_context  # noqa: E402
from connections_core.storage import Store  # noqa: E402

#: The stand-in: the suite's fake server, its OpenAI models list canned (after ``delay``),
#: noting when each key arrived; a line on stdin asks for what it saw.
PROVIDER = """
import json, sys, time
from tests import fakes
fakes._HTTPServer.request_queue_size = 4096
server = fakes.FakeServer()
server.respond("/v1/models", 200, {"object": "list", "data": [{"id": "gpt-4o"}]},
               delay=float(sys.argv[1]))
arrivals = []
handle = server._handle
def noted(handler):
    arrivals.append((time.time(), handler.headers.get("authorization", "")[7:]))
    handle(handler)
server._handle = noted
print(server.openai_url, flush=True)
sys.stdin.readline()
print(json.dumps({"arrivals": arrivals, "peak": server.peak_in_flight}), flush=True)
"""

#: One scheduler process: a line per check recorded (id, due, started) in a file of its
#: own (a pipe nobody reads until the end would fill, and stop it), until stdin says stop.
WORKER = """
import json, sys
from connections_core import KeyRing, Scheduler, TinyDBStore
where, key, lines = sys.argv[1], sys.argv[2], open(sys.argv[3], "w")
if where.startswith("postgresql://"):
    from connections_core.postgres import PostgresStore
    store = PostgresStore(where)
else:
    store = TinyDBStore(where)
def show(check):
    print(json.dumps({"id": check.connection.id, "due": check.due_at.timestamp(),
                      "started": check.started_at.timestamp(),
                      "ok": check.result.success}), file=lines, flush=True)
scheduler = Scheduler(store, KeyRing(key), on_checked=show)
scheduler.start()
print("ready", flush=True)
sys.stdin.readline()
scheduler.stop(60)
print("stopped", flush=True)
"""


def key_of(n: int) -> str:
    return f"sk-bench-{n:05d}-0123456789abcdef"


def seed(service: ConnectionService, size: int, base_url: str) -> None:
    """``size`` OpenAI connections, each with a key of its own, in one transaction."""
    template = service.create("openai", "template", {"apiKey": key_of(0),
                                                     "baseUrl": base_url})
    record = service.store.connection(service.workspace_id, template.id)
    assert record is not None

    def copy(n: int) -> dict[str, Any]:
        id = f"bench-{n}"
        return {**record, "id": id, "name": f"conn {n}", "is_default": False,
                "config": {**record["config"], "apiKey": service.keyring.encrypt(
                    key_of(n), secret_context({**record, "id": id}, "apiKey"))}}

    with service.store.transaction() as tx:
        tx.insert_connections(copy(n) for n in range(1, size))


def schedule_all(store: Store, due: datetime) -> None:
    """Every connection checked every minute, all first due at ``due`` (what
    set_schedule(id, 1) writes, at one moment for all)."""
    with store.transaction() as tx:
        tx.update_connections((row["workspace_id"], row["id"], {
            "schedule_minutes": 1, "next_check_at": due.isoformat()})
            for row in tx.connections(None))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def bench(kind: str, where: str, store: Store, size: int, seconds: float,
          delay: float) -> None:
    key = generate_key()
    provider = subprocess.Popen([sys.executable, "-c", PROVIDER, str(delay)], cwd=ROOT,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert provider.stdout is not None and provider.stdin is not None
    base_url = provider.stdout.readline().strip()
    service = ConnectionService(store, KeyRing(key), timeout=15.0)
    seed(service, size, base_url)
    keys = {key_of(0) if c.name == "template" else key_of(int(c.name.split()[1])): c.id
            for c in service.list()}
    ids = set(keys.values())

    started = time.perf_counter()
    service.test_all()  # the baseline: checking them all once, in one process
    baseline = time.perf_counter() - started

    due = datetime.now(UTC) + timedelta(seconds=5)  # once both workers are up
    schedule_all(store, due)
    logs = [Path(tempfile.mkdtemp()) / "checks.jsonl" for _ in range(2)]
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, where, key, str(log)], cwd=ROOT,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for log in logs]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    end = due + timedelta(seconds=seconds)
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()))  # the run itself
    lines: list[dict[str, Any]] = []
    per_worker = []
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("stop\n")
        worker.stdin.flush()
    for worker, log in zip(workers, logs, strict=True):
        worker.communicate(timeout=120)
        ran = [json.loads(line) for line in log.read_text().splitlines()]
        per_worker.append(len(ran))
        lines += ran
    provider.stdin.write("stats\n")
    provider.stdin.flush()
    seen = json.loads(provider.stdout.readline())
    provider.stdin.close()
    provider.wait(10)

    rounds = [due + timedelta(minutes=k) for k in range(10)
              if due + timedelta(minutes=k) < end]
    # The baseline's checks came before the schedule: only later arrivals are scheduled.
    scheduled = [(at, sent) for at, sent in seen["arrivals"] if at >= due.timestamp()]
    by_key: dict[str, list[float]] = defaultdict(list)
    for at, sent in scheduled:
        by_key[sent].append(at)
    counts = {keys[k]: len(v) for k, v in by_key.items() if k in keys}
    once = all(counts.get(id, 0) == len(rounds) for id in ids)
    arrival_lags = [at - round_due.timestamp() for times in by_key.values()
                    for at, round_due in zip(sorted(times), rounds, strict=False)]
    start_lags = [line["started"] - line["due"] for line in lines]
    expected = len(rounds) * size

    print(f"\n{kind}: {size} connections due every minute, two processes, {seconds:g} s "
          f"({len(rounds)} rounds, provider answering in {delay:g} s)")
    print(f"  exactly once: {once}  (provider got {len(scheduled)} scheduled requests, "
          f"expected {expected}; most for one connection {max(counts.values())}, "
          f"least {min(counts.get(id, 0) for id in ids)}); recorded {len(lines)}; "
          f"the two processes ran {per_worker}")
    for name, lags in (("due -> started", start_lags), ("due -> at provider", arrival_lags)):
        print(f"  lag {name:<19} p50 {statistics.median(lags):6.2f} s   "
              f"p95 {percentile(lags, 0.95):6.2f} s   max {max(lags):6.2f} s")
    print(f"  baseline: test_all() of the {size} in one process {baseline:6.2f} s; "
          f"p95 lag / baseline {percentile(start_lags, 0.95) / baseline:.2f}x, "
          f"slowest start of a burst / baseline {max(start_lags) / baseline:.2f}x")
    print(f"  most requests in flight at the provider: {seen['peak']}")
    per_round = [sum(1 for at, _ in scheduled if r.timestamp() <= at < r.timestamp() + 60)
                 for r in rounds]
    print(f"  requests in each round: {per_round}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", nargs="+", default=["tinydb", "postgresql"],
                        choices=["tinydb", "postgresql"])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=150.0,
                        help="how long the two processes run after the first due time")
    parser.add_argument("--delay", type=float, default=0.2,
                        help="seconds the stand-in provider takes to answer")
    parser.add_argument("--dsn", default=None,
                        help="a scratch PostgreSQL database (emptied!) instead of a "
                             "throwaway server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if "tinydb" in args.stores:
            path = Path(tmp) / "data" / "connections.json"
            bench("TinyDB (one data file)", str(path), TinyDBStore(path), args.size,
                  args.seconds, args.delay)
        if "postgresql" in args.stores:
            with Databases(args.dsn) as databases:
                store = databases.new()
                try:
                    bench("PostgreSQL (two replicas)", databases._last or str(args.dsn),
                          store, args.size, args.seconds, args.delay)
                finally:
                    store.close()


if __name__ == "__main__":
    main()
