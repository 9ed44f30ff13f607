"""Test all under load: python benchmarks/bench_checks_load.py [--sessions 20] [--size 200]

The load of issue 16: one person opens 20 sessions of the dashboard and presses
Test all in each, on a workspace of 200 connections, against a provider that
takes a second to answer (the suite's fake server, in a process of its own, so
that its threads don't count as the app's).  Each session does what its
version of the dashboard does: with the core's start_test_all() the session
keeps a handle and no thread; before it, a thread per session read
iter_test_all().  Measured, each against a baseline taken in the same run:

* the most requests in flight at the provider at once, and how many it got in all;
* the app's threads: idle (this process's, with the colleague's session open),
  and the most alive at once under the load;
* a colleague's page load (a rerun of the Connections screen, AppTest, as
  bench_screen.py times it) while the load runs, against the same page idle.

``--workspaces 20`` spreads the sessions over that many workspaces (each of
``--size`` connections), so that no Test all joins another: the bound alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
# Clearing the cache outside a script run makes Streamlit warn; that is expected here.
os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")

import streamlit as st  # noqa: E402
from bench_core import KEY, add_copies  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from connections_core import ConnectionService, KeyRing, TinyDBStore, generate_key  # noqa: E402

SERVER = """
import json, sys
from tests import fakes
fakes._HTTPServer.request_queue_size = 4096  # 640 connections at once must not wait for a retry
server = fakes.FakeServer()
server.api_key, server.delay = sys.argv[1], float(sys.argv[2])
print(server.openai_url, flush=True)
for line in sys.stdin:
    print(json.dumps({"peak": server.peak_in_flight, "requests": len(server.requests)}),
          flush=True)
"""
IDLE_RUNS = 10


@dataclass
class Provider:
    url: str
    process: subprocess.Popen[str]

    def stats(self) -> dict[str, int]:
        """The most requests it had in flight at once, and how many it got."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())  # type: ignore[no-any-return]


@contextmanager
def slow_provider(delay: float) -> Iterator[Provider]:
    process = subprocess.Popen([sys.executable, "-c", SERVER, KEY, str(delay)], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdin is not None
    try:
        yield Provider(process.stdout.readline().strip(), process)
    finally:
        process.stdin.close()
        process.wait(timeout=30)


class ThreadCount:
    """The most threads alive at once in this process, sampled every 5 ms."""

    def __init__(self) -> None:
        self.most = threading.active_count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.most = max(self.most, threading.active_count())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.most


def fill(folder: Path, workspaces: list[str], size: int, base_url: str, key: str) -> None:
    """``size`` OpenAI connections in each workspace, written in one go."""
    store = TinyDBStore(folder / "connections.json")
    for workspace in workspaces:
        add_copies(ConnectionService(store, KeyRing(key), workspace), size, base_url,
                   prefix=workspace)


def colleague(folder: Path, key: str) -> AppTest:
    """A colleague's session on the Connections screen, run once."""
    os.environ["CONNECTIONS_DATA_DIR"] = str(folder)
    os.environ["ENCRYPTION_KEY"] = key
    st.cache_resource.clear()
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
    app.secrets["ENCRYPTION_KEY"] = key
    app.run()
    assert not app.exception, app.exception
    return app


def page_load(app: AppTest) -> float:
    started = time.perf_counter()
    app.run()
    return time.perf_counter() - started


def press_test_all(services: list[ConnectionService]) -> list[threading.Thread]:
    """Each session presses Test all, as its version of the dashboard does."""
    if hasattr(ConnectionService, "start_test_all"):
        runs = [service.start_test_all() for service in services]
        waiter = threading.Thread(target=lambda: [run.wait() for run in runs])
        waiter.start()
        return [waiter]  # the benchmark's own, to know when the load ends
    readers = [threading.Thread(target=lambda s=service: [None for _ in s.iter_test_all()])
               for service in services]
    for reader in readers:
        reader.start()
    return readers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=200, help="connections in the workspace")
    parser.add_argument("--delay", type=float, default=1.0, help="the provider's seconds")
    parser.add_argument("--workspaces", type=int, default=1,
                        help="spread the sessions over this many workspaces")
    args = parser.parse_args()
    key = generate_key()
    workspaces = ["default", *(f"team-{n}" for n in range(1, args.workspaces))]
    with tempfile.TemporaryDirectory() as tmp, slow_provider(args.delay) as provider:
        folder = Path(tmp)
        fill(folder, workspaces, args.size, provider.url, key)
        app = colleague(folder, key)
        idle = statistics.median(page_load(app) for _ in range(IDLE_RUNS))
        idle_threads = threading.active_count()

        sessions = [ConnectionService(TinyDBStore(folder / "connections.json"), KeyRing(key),
                                      workspaces[n % len(workspaces)])
                    for n in range(args.sessions)]
        threads = ThreadCount()
        started = time.perf_counter()
        pressed = press_test_all(sessions)
        loaded = []
        while any(thread.is_alive() for thread in pressed):
            loaded.append(page_load(app))
        for thread in pressed:
            thread.join()
        took = time.perf_counter() - started
        most_threads = threads.stop()
        seen = provider.stats()
        statuses = {c.status for c in sessions[0].list()}

    under_load = statistics.median(loaded)
    where = f" in each of {len(workspaces)} workspaces" if len(workspaces) > 1 else ""
    print(f"{args.sessions} sessions pressing Test all on {args.size} connections{where}, "
          "provider "
          f"answering in {args.delay:g} s (CONNECTIONS_MAX_CHECKS="
          f"{os.environ.get('CONNECTIONS_MAX_CHECKS', 'unset')}); the load took {took:.1f} s, "
          f"statuses now {sorted(statuses)}")
    print(f"at the provider:  {seen['peak']:5d} requests in flight at most   "
          f"{seen['requests']:6d} requests in all "
          f"({seen['requests'] / (args.size * len(workspaces)):.1f} per connection)")
    print(f"the app's threads: {idle_threads:4d} idle   {most_threads:5d} at most under load "
          f"({most_threads - idle_threads:+d})")
    print(f"a colleague's page load: idle {idle * 1000:7.1f} ms   under load "
          f"{under_load * 1000:7.1f} ms (median of {len(loaded)}; worst "
          f"{max(loaded) * 1000:.0f} ms)   ratio {under_load / idle:5.1f}x")


if __name__ == "__main__":
    main()
