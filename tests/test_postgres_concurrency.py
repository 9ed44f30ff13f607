"""Many writers on one PostgreSQL database, as several replicas are: 8 threads and
2 processes creating connections and moving the default at once lose nothing,
record one audit entry per change, and leave exactly one default."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from connections_core import ConnectionService, KeyRing, generate_key
from connections_core.postgres import PostgresStore
from tests.postgres import PostgresServer
from tests.together import at_once

ROOT = Path(__file__).resolve().parent.parent

WORKER = """
import sys
from connections_core import ConnectionService, KeyRing
from connections_core.postgres import PostgresStore

dsn, key, tag, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with PostgresStore(dsn) as store:
    service = ConnectionService(store, KeyRing(key))
    print("ready", flush=True)
    sys.stdin.readline()
    for n in range(count):
        created = service.create("ollama", f"{tag}-{n}", {})
        service.set_default(created.id)
"""


def start_worker(dsn: str, key: str, tag: str, count: int) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", WORKER, dsn, key, tag, str(count)],
                               cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def test_eight_threads_and_two_processes_lose_nothing(postgres: PostgresServer,
                                                     postgres_database: str) -> None:
    key, dsn = generate_key(), postgres.dsn(postgres_database)
    workers = [start_worker(dsn, key, f"p{n}", 15) for n in range(2)]
    with PostgresStore(dsn) as store:
        def work(n: int) -> None:
            service = ConnectionService(store, KeyRing(key))
            for i in range(5):
                created = service.create("ollama", f"t{n}-{i}", {})
                service.set_default(created.id)

        assert not at_once(work, 8, workers)

        service = ConnectionService(store, KeyRing(key))
        connections = service.list()
        assert len(connections) == 8 * 5 + 2 * 15
        assert sum(c.is_default for c in connections) == 1
        created = Counter(e.target_id for e in service.audit(limit=1000,
                                                             action="connection.created"))
        assert created == Counter({c.id: 1 for c in connections})
        assert len(service.audit(limit=1000, action="connection.default_set")) <= 70
