"""The Connections screen with check history: python benchmarks/bench_screen_history.py
[--size 1000] [--every 5]

Times a rerun of the screen (AppTest, the same script run Streamlit does) over
``--size`` connections that each have a week of checks, one every ``--every``
minutes (a few failed), against the same connections with no history at all, in
the same run, and prints the ratio (target: within 2x).  Each card on the page
reads its last 24 hours (uptime, and its sparkline's checks) and draws a chart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Clearing the cache outside a script run makes Streamlit warn; that is expected here.
os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")

import streamlit as st  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from benchmarks.bench_core import filled_service  # noqa: E402
from connections_core import ConnectionService, generate_key  # noqa: E402

RERUNS = 15
WEEK = timedelta(days=7)
FAILING = 50  # one check in this many fails


def with_history(service: ConnectionService, every: int) -> int:
    """A week of checks, one every ``every`` minutes, for each connection, written a
    hundred connections to a transaction; how many were written."""
    now = datetime.now(UTC)
    times = [(now - timedelta(minutes=every * n)).isoformat()
             for n in range(WEEK // timedelta(minutes=every))]
    ids = [connection.id for connection in service.list()]
    for first in range(0, len(ids), 100):
        with service.store.transaction() as tx:
            tx.append_checks(_checks(ids[first:first + 100], times))
    return len(ids) * len(times)


def _checks(ids: list[str], times: list[str]) -> list[dict[str, object]]:
    return [{"at": at, "workspace_id": "default", "connection_id": id,
             "success": n % FAILING != 7, "kind": "ok" if n % FAILING != 7 else "timeout",
             "latency_ms": 80 + n % 41, "status_code": 200 if n % FAILING != 7 else None,
             "source": "schedule"}
            for id in ids for n, at in enumerate(reversed(times))]


def rerun_times(folder: Path, size: int, every: int | None) -> tuple[float, float]:
    """Median seconds of a rerun of the Connections screen over ``size`` connections,
    with a week of history each when ``every`` is given: as a rerun finds the cards'
    last day (read within the minute, since the last check), and with every card
    reading it anew (a new minute, or another page)."""
    os.environ["CONNECTIONS_DATA_DIR"] = str(folder)
    os.environ["ENCRYPTION_KEY"] = key = generate_key()
    service = filled_service(folder, size, "http://127.0.0.1:9/v1", key=key)
    if every is not None:
        started = time.perf_counter()
        written = with_history(service, every)
        print(f"  wrote {written:,} check records in {time.perf_counter() - started:.1f} s")
    st.cache_resource.clear()
    st.cache_data.clear()  # the copies of the connections have the same ids in both runs
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    app.secrets["ENCRYPTION_KEY"] = key
    started = time.perf_counter()
    app.run()  # the first run opens the store, and reads the history file into its index
    assert not app.exception, app.exception
    print(f"  first run {time.perf_counter() - started:.1f} s")
    charts = len(app.get("vega_lite_chart"))
    assert charts == (20 if every is not None else 0), f"{charts} sparklines drawn"
    return _median_rerun(app, cold=False), _median_rerun(app, cold=True)


def _median_rerun(app: AppTest, *, cold: bool) -> float:
    times = []
    for _ in range(RERUNS):
        if cold:
            st.cache_data.clear()
        started = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--every", type=int, default=5, help="minutes between checks")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{options.size:,} connections without history")
        bare, bare_cold = rerun_times(Path(tmp) / "bare", options.size, None)
        print(f"{options.size:,} connections with a week of history, a check every "
              f"{options.every} min")
        full, full_cold = rerun_times(Path(tmp) / "history", options.size, options.every)
    print(f"Connections screen rerun: without history {bare * 1000:7.1f} ms   "
          f"with a week of history {full * 1000:7.1f} ms   ratio {full / bare:4.2f}x "
          "(target <= 2x)")
    print(f"  each card reading its day anew: without history {bare_cold * 1000:7.1f} ms   "
          f"with a week of history {full_cold * 1000:7.1f} ms   "
          f"ratio {full_cold / bare_cold:4.2f}x")


if __name__ == "__main__":
    main()
