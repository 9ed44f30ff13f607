"""Memory of open workspaces, run by hand: python benchmarks/bench_memory.py [--size 10000]

A dashboard keeps one service per workspace a person opens.  This measures the
Python heap (tracemalloc) held by 1, 8 and 64 open workspaces on one data file
of ``--size`` connections spread over 64 workspaces, each after a ``list()``;
the baseline, measured in the same run, is one ``json.load`` of the same file
(what parsing it once costs).  Each scenario runs in a fresh process, so one
doesn't inherit another's caches.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connections_core import ConnectionService, KeyRing, TinyDBStore, generate_key

ROOT = Path(__file__).resolve().parent.parent

WORKSPACES = 64

MEASURE = """
import gc, json, sys, tracemalloc
from connections_core import ConnectionService, KeyRing, TinyDBStore
path, key, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
tracemalloc.start()
if count == 0:
    with open(path, encoding="utf-8") as file:
        held = json.load(file)
else:
    store = TinyDBStore(path)
    held = [ConnectionService(store, KeyRing(key), f"team-{n}") for n in range(count)]
    for service in held:
        service.list()
gc.collect()
print(tracemalloc.get_traced_memory()[0])
"""


def build(path: Path, size: int, key: str) -> None:
    service = ConnectionService(TinyDBStore(path), KeyRing(key), "team-0")
    template = service.create("openai", "template", {"apiKey": "sk-bench-0123456789abcdef",
                                                     "baseUrl": "http://127.0.0.1:9/v1"})
    with service.store.transaction():
        table = service.store.table("connections")
        record = dict(table.all()[0])
        table.insert_multiple(
            {**record, "id": f"bench-{n}", "name": f"conn {n}",
             "workspace_id": f"team-{n % WORKSPACES}", "is_default": False,
             "created_at": f"2026-01-01T00:00:00.{n:06d}+00:00"}
            for n in range(size - 1))
    assert template.is_default


def heap(path: Path, key: str, count: int) -> int:
    output = subprocess.run([sys.executable, "-c", MEASURE, str(path), key, str(count)],
                            cwd=ROOT, capture_output=True, text=True, check=True, timeout=600)
    return int(output.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    size = parser.parse_args().size
    key = generate_key()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "connections.json"
        build(path, size, key)
        baseline = heap(path, key, 0)
        print(f"{size} connections in {WORKSPACES} workspaces, "
              f"{path.stat().st_size / 1e6:.1f} MB on disk")
        print(f"json.load of the file (baseline): {baseline / 1e6:7.1f} MB")
        for count in (1, 8, 64):
            used = heap(path, key, count)
            print(f"{count:3d} open workspace{'s' if count > 1 else ' '}: {used / 1e6:7.1f} MB"
                  f"   {used / baseline:5.2f}x the baseline")


if __name__ == "__main__":
    main()
