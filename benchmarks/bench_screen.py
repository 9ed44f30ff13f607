"""How a rerun of the Connections screen scales: python benchmarks/bench_screen.py

Times a rerun of the screen (AppTest, the same script run Streamlit does)
with 10 and with 1,000 connections in the workspace, and prints the ratio.
Cards are paged, so the 1,000 case should stay within 2x of the 10 case.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
# Clearing the cache outside a script run makes Streamlit warn; that is expected here.
os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")

import streamlit as st  # noqa: E402
from bench_core import filled_service  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from connections_core import generate_key  # noqa: E402

RERUNS = 15


def rerun_time(size: int, folder: Path) -> float:
    """Median seconds of a rerun of the Connections screen over ``size`` connections."""
    os.environ["CONNECTIONS_DATA_DIR"] = str(folder)
    os.environ["ENCRYPTION_KEY"] = key = generate_key()
    filled_service(folder, size, "http://127.0.0.1:9/v1", key=key)
    st.cache_resource.clear()
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    app.secrets["ENCRYPTION_KEY"] = key
    app.run()  # the first run opens the store and parses the file
    assert not app.exception, app.exception
    times = []
    for _ in range(RERUNS):
        started = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        small = rerun_time(10, Path(tmp) / "10")
        large = rerun_time(1000, Path(tmp) / "1000")
    print(f"Connections screen rerun: 10 connections {small * 1000:7.1f} ms   "
          f"1,000 connections {large * 1000:7.1f} ms   ratio {large / small:4.2f}x "
          "(target <= 2x)")


if __name__ == "__main__":
    main()
