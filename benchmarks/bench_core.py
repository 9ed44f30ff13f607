"""Core benchmarks, run by hand: python benchmarks/bench_core.py [--sizes 1000 10000]

Each figure is a ratio against a baseline measured in the same run, on the
same file, because this machine is shared and absolute times mean little:

* list():     a repeated list() of an unchanged file against json.load of it
              (target: at least 5x faster);
* create():   one create() against one insert through TinyDB's stock
              JSONStorage on a copy of the same file (target: within 2x);
* test_all(): every connection checked concurrently against one by one, on a
              local server; and 20 connections to a server that answers in
              200 ms (target: under 1 s).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinydb import TinyDB

from connections_core import Connection, ConnectionService, KeyRing, TinyDBStore, generate_key
from connections_core.records import secret_context

SERVER = """
import sys
from tests.fakes import FakeServer
server = FakeServer()
server.api_key, server.delay = sys.argv[1], float(sys.argv[2])
print(server.openai_url, flush=True)
sys.stdin.readline()
"""


@contextmanager
def fake_openai(delay: float = 0.0) -> Iterator[str]:
    """The test suite's fake server, in its own process so it doesn't share our GIL."""
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-c", SERVER, KEY, str(delay)], cwd=root,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdin is not None
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait(timeout=10)

KEY = "sk-bench-0123456789abcdef"


def best(action: Callable[[], object], repeat: int) -> float:
    """The median of ``repeat`` timings of ``action``, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def filled_service(folder: Path, size: int, base_url: str,
                   key: str | None = None) -> ConnectionService:
    """A service whose store holds ``size`` OpenAI connections, written in one go."""
    service = ConnectionService(TinyDBStore(folder / "connections.json"),
                                KeyRing(key or generate_key()))
    template = add_copies(service, size, base_url, prefix="bench")
    assert template.is_default
    return service


def add_copies(service: ConnectionService, size: int, base_url: str, prefix: str) -> Connection:
    """``size`` OpenAI connections in the service's workspace (on a TinyDB store): one
    made as a person would, then ``size - 1`` copies of it written in one go, each
    with its key sealed to it.  Returns the first."""
    template = service.create("openai", "template", {"apiKey": KEY, "baseUrl": base_url})
    with service.store.transaction():
        table = service.store.table("connections")
        record = next(dict(r) for r in table.all() if r["id"] == template.id)
        table.insert_multiple(
            {**record, "id": f"{prefix}-{n}", "name": f"conn {n}", "is_default": False,
             "config": {**record["config"], "apiKey": service.keyring.encrypt(
                 KEY, secret_context({**record, "id": f"{prefix}-{n}"}, "apiKey"))},
             "created_at": f"2026-01-01T00:00:00.{n:06d}+00:00"}
            for n in range(size - 1))
    return template


def bench_list(service: ConnectionService) -> str:
    path = service.store.path
    service.list()  # warm: the first read parses the file like anyone would

    def load() -> None:
        with open(path, encoding="utf-8") as file:
            json.load(file)

    baseline = best(load, 15)
    ours = best(service.list, 15)
    return (f"list():     json.load {baseline * 1000:8.2f} ms   list() {ours * 1000:8.3f} ms   "
            f"list() is {baseline / ours:6.1f}x faster")


def bench_create(service: ConnectionService, folder: Path) -> str:
    stock_path = folder / "stock.json"
    shutil.copy(service.store.path, stock_path)
    stock = TinyDB(stock_path).table("connections")
    record = dict(stock.all()[0])
    counter = iter(range(10**9))

    def stock_insert() -> None:
        stock.insert({**record, "id": f"stock-{next(counter)}"})

    def create() -> None:
        service.create("openai", f"new {next(counter)}", {"apiKey": KEY})

    baseline = best(stock_insert, 7)
    ours = best(create, 7)
    return (f"create():   stock insert {baseline * 1000:8.2f} ms   create() {ours * 1000:8.2f} ms"
            f"   ratio {ours / baseline:4.2f}x (target <= 2x)")


def bench_test_all(service: ConnectionService, sample: int) -> str:
    ids = [c.id for c in service.list()]
    one_by_one = best(lambda: [service.test(i) for i in ids[:sample]], 1) * len(ids) / sample
    together = best(service.test_all, 1)
    estimated = " (estimated from a sample)" if sample < len(ids) else ""
    return (f"test_all(): one by one {one_by_one:7.2f} s{estimated}   test_all() "
            f"{together:7.2f} s   {one_by_one / together:5.1f}x faster")


def bench_slow_server(folder: Path) -> str:
    with fake_openai(delay=0.2) as url:
        service = filled_service(folder, 20, url)
        together = best(service.test_all, 3)
        one = best(lambda: service.test(service.list()[0].id), 3)
        assert all(c.status == "connected" for c in service.list())
    return (f"20 connections to a 200 ms server: test() {one * 1000:6.0f} ms   test_all() "
            f"{together * 1000:6.0f} ms ({together / one:4.2f}x one check; target < 1 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(bench_slow_server(Path(tmp) / "slow"))
        for size in args.sizes:
            folder = Path(tmp) / str(size)
            with fake_openai() as url:
                service = filled_service(folder, size, url)
                print(f"\n{size} connections ({service.store.size_bytes() / 1e6:.1f} MB file)")
                print(bench_list(service))
                print(bench_create(service, folder))
                print(bench_test_all(service, sample=min(size, 200)))


if __name__ == "__main__":
    main()
