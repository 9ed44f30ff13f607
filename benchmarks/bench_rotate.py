"""Key rotation benchmark, run by hand: python benchmarks/bench_rotate.py [--sizes 1000 4000 10000]

rotate_keys() holds the store's lock while it runs, so its time is how long every
other writer waits.  It re-encrypts every secret in one pass over the table and
writes the file once, so its time should grow with the number of records, not
with their square.  Each store is an old one (unbound ``v1`` tokens, spread over
ten workspaces, a tenth deleted), which rotation rewrites into bound tokens.

For each size, as ratios against baselines measured in the same run:

* per record against the smallest size (target: about 1x, i.e. linear);
* against json.load of the same file (parsing it is the least a rotation does);
* against the previous way, one TinyDB update per record (up to --old-up-to
  records, since it grows with the square).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connections_core import ConnectionService, KeyRing, TinyDBStore, encrypt, generate_key
from connections_core.records import KEY_CHECK_PLAINTEXT

API_KEY = "sk-bench-0123456789abcdef"
BASE_URL = "https://api.openai.com/v1"


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def old_store(path: Path, size: int, key: str) -> None:
    """A data file as the version before bound tokens wrote it, filled in one write."""
    store = TinyDBStore(path)
    with store.transaction():
        store.table("meta").insert({"key_check": encrypt(KEY_CHECK_PLAINTEXT, key)})
        store.table("connections").insert_multiple({
            "id": f"bench-{n}", "workspace_id": f"team-{n % 10}", "type": "openai",
            "name": f"conn {n}", "config": {"apiKey": encrypt(API_KEY, key), "baseUrl": BASE_URL},
            "hints": {"apiKey": API_KEY[-4:]}, "is_default": n < 10, "status": "unconfigured",
            "last_checked_at": None, "last_result": None, "available_models": [],
            "created_at": f"2026-01-01T00:00:00.{n:06d}+00:00",
            "updated_at": f"2026-01-01T00:00:00.{n:06d}+00:00",
            "deleted_at": "2026-01-02T00:00:00+00:00" if n % 10 == 9 else None, "version": 1,
        } for n in range(size))


def fresh_service(original: Path, folder: Path, key: str) -> ConnectionService:
    """A service on a copy of ``original`` in a folder of its own (the store keeps one
    parsed copy per file, so each run starts from the file, as a new process would)."""
    folder.mkdir()
    shutil.copy(original, folder / original.name)
    return ConnectionService(TinyDBStore(folder / original.name), KeyRing(key))


def rotate_one_by_one(service: ConnectionService) -> None:
    """The previous rotate_keys(): one update per record, each reading the whole table."""
    with service.store.transaction():
        table = service.store.table("connections")
        ring = service.keyring
        for doc in table.all():
            resealed = ring.encrypt(ring.decrypt(doc["config"]["apiKey"]))
            table.update({"config": {**doc["config"], "apiKey": resealed}}, doc_ids=[doc.doc_id])


def bench(folder: Path, size: int, key: str, repeat: int, old: bool) -> dict[str, float]:
    original = folder / str(size) / "connections.json"
    original.parent.mkdir()
    old_store(original, size, key)
    runs = iter(range(10**6))

    def fresh() -> ConnectionService:
        return fresh_service(original, folder / f"{size}-run-{next(runs)}", key)

    def load() -> None:
        with open(original, encoding="utf-8") as file:
            json.load(file)

    rotations = []
    for _ in range(repeat):
        service = fresh()
        rotations.append(timed(service.rotate_keys))
        assert '"v1:' not in service.store.path.read_text()
    result = {"rotate": statistics.median(rotations),
              "load": statistics.median(timed(load) for _ in range(5)),
              "mb": original.stat().st_size / 1e6}
    if old:
        service = fresh()
        result["old"] = timed(lambda: rotate_one_by_one(service))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--old-up-to", type=int, default=4000,
                        help="time the previous way only up to this many records")
    args = parser.parse_args()
    key = generate_key()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sorted(args.sizes):
            results[size] = bench(Path(tmp), size, key, args.repeat, size <= args.old_up_to)
    smallest = min(results)
    per_record = results[smallest]["rotate"] / smallest
    print(f"rotate_keys() on an old store (median of {args.repeat}); per record against "
          f"{smallest:,} records (target ~1x)")
    for size, r in results.items():
        line = (f"{size:>7,} records ({r['mb']:5.1f} MB): rotate {r['rotate']:6.3f} s   "
                f"{r['rotate'] / size * 1e6:6.1f} us/record   "
                f"per record {r['rotate'] / size / per_record:4.2f}x   "
                f"{r['rotate'] / r['load']:5.1f}x json.load ({r['load'] * 1000:5.1f} ms)")
        if "old" in r:
            line += f"   one by one {r['old']:6.2f} s ({r['old'] / r['rotate']:5.1f}x slower)"
        print(line)


if __name__ == "__main__":
    main()
