"""What the demo costs, run by hand: python benchmarks/bench_demo.py [--runs 15]

* Start-up without the demo: ``import connections_core`` plus opening a fresh data
  folder's service and listing it (what the app does on start), with the demo
  module as it is against a stand-in module that holds nothing (the baseline, in
  the same run).  Target: no measurable difference, and no thread or socket made
  until the demo is opened.
* Opening the demo: the first ``open_demo()`` of a process (start the stand-ins,
  seed the store, run its real checks: the click to the first green card), a later
  ``open_demo()``, and ``reset_demo()``, against a Test all of the same four
  connections measured in the same process.
* A pull on the Ollama stand-in, start to "success".

Each scenario runs in fresh processes, so none inherits another's imports or caches.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STARTUP = """
import os, sys, threading, time
started = time.perf_counter()
if sys.argv[2] == "without":  # the baseline: a demo module that holds nothing
    import types
    stub = types.ModuleType("connections_core.demo")
    stub.DEMO_NOTICE = stub.DEMO_WORKSPACE = ""
    stub.close_demo = stub.demo_requested = stub.is_demo = stub.open_demo = None
    stub.reset_demo = None
    sys.modules["connections_core.demo"] = stub
from connections_core import ConnectionService
service = ConnectionService.from_env(environ={"CONNECTIONS_DATA_DIR": sys.argv[1]})
service.list()
took = time.perf_counter() - started
sockets = sum(os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
              for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}"))
started_standins = "connections_core.standins" in sys.modules
print(took, threading.active_count(), sockets, started_standins)
"""

OPENING = """
import json, time
started = time.perf_counter()
from connections_core import open_demo, reset_demo
imported = time.perf_counter()
service = open_demo()
opened = time.perf_counter()
assert any(c.status == "connected" for c in service.list())
again = time.perf_counter()
open_demo()
reopened = time.perf_counter()
reset_demo()
reset = time.perf_counter()
service.test_all()
tested = time.perf_counter()
id = next(c.id for c in service.list() if c.name == "Ollama (demo)")
pull_started = time.perf_counter()
steps = list(service.pull_model(id, "gemma3:1b"))
pulled = time.perf_counter()
print(json.dumps({"first_open": opened - imported, "open_again": reopened - again,
                  "reset": reset - reopened, "test_all": tested - reset,
                  "pull": pulled - pull_started, "pull_steps": len(steps)}))
"""


def python(code: str, *args: str) -> str:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, check=True,
                          capture_output=True, text=True, timeout=120).stdout.strip()


def bench_startup(runs: int) -> list[str]:
    times: dict[str, list[float]] = {"with": [], "without": []}
    seen: dict[str, tuple[str, str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(runs):
            for kind in ("without", "with"):  # interleaved: the machine's load hits both
                took, threads, sockets, standins = python(
                    STARTUP, str(Path(tmp) / f"{kind}-{n}"), kind).split()
                times[kind].append(float(took))
                seen[kind] = (threads, sockets, standins)
    with_demo, without = statistics.median(times["with"]), statistics.median(times["without"])
    return [
        f"start-up (import + from_env + list), median of {runs} fresh processes:",
        f"  without the demo module {without * 1000:7.1f} ms   with it {with_demo * 1000:7.1f} ms"
        f"   ratio {with_demo / without:4.2f}x (target: 1.00x, within noise)",
        f"  after start-up with the demo module: {seen['with'][0]} thread(s), "
        f"{seen['with'][1]} socket(s), stand-in modules imported: {seen['with'][2]} "
        f"(without: {seen['without'][0]} thread(s), {seen['without'][1]} socket(s))",
    ]


def bench_opening(runs: int) -> list[str]:
    found = [json.loads(python(OPENING)) for _ in range(runs)]

    def median(name: str) -> float:
        return statistics.median(run[name] for run in found)

    first, test_all = median("first_open"), median("test_all")
    return [
        f"opening the demo, median of {runs} fresh processes:",
        f"  first open_demo() (stand-ins + seed + real checks) {first * 1000:7.1f} ms   "
        f"= {first / test_all:4.1f}x a Test all of its 4 connections ({test_all * 1000:.1f} ms)",
        f"  open_demo() again {median('open_again') * 1000:7.2f} ms   reset_demo() "
        f"{median('reset') * 1000:7.1f} ms ({median('reset') / test_all:4.1f}x the Test all)",
        f"  a pull of gemma3:1b on the stand-in: {median('pull'):5.2f} s "
        f"({found[0]['pull_steps']} progress lines)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    for line in [*bench_startup(args.runs), "", *bench_opening(max(3, args.runs // 3))]:
        print(line)


if __name__ == "__main__":
    main()
