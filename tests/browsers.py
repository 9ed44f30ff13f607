"""Headless Chromium and ``streamlit run``, for the browser tests (``tests/test_browser*.py``).

Playwright can't download its own browser here, so it drives Debian's
``chromium``.  Without it the tests that need it are skipped, unless ``CI`` is
set: there a missing browser is a failure, not a silent skip.

The fixture ``browser`` (one Chromium per test module) is registered for every
test module by ``tests/conftest.py``; :func:`streamlit_run` starts the app on a
loopback port and waits until it is healthy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
READY = "[data-testid='stApp'][data-test-script-state='notRunning']"


def browser_missing() -> str | None:
    """Why the browser tests can't run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Chromium, one per test module (skipped where it is missing, but in CI)."""
    missing = browser_missing()
    if missing and os.environ.get("CI"):
        pytest.fail(f"CI needs the browser test: {missing}")
    if missing:
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], bound: float = 60, *,
                       name: str = "streamlit",
                       why_it_exited: Callable[[], str] = lambda: "") -> None:
    """Poll ``/_stcore/health`` (as Streamlit's own e2e tests do) until it says ok,
    through ``process`` (Streamlit itself, or a proxy in front of it)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}{why_it_exited()}")
        try:
            if requests.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening, or starting
            pass
        time.sleep(0.1)  # a poll interval, not a wait for the condition
    raise TimeoutError(f"{name} did not become healthy within {bound} s")


@contextmanager
def streamlit_run(env: dict[str, str], host: str, port: int, *options: str) -> Iterator[str]:
    """``streamlit run streamlit_app.py`` on ``host:port``, healthy; its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
         "--server.headless", "true", "--server.address", host,
         "--server.port", str(port), "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false", *options],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{host}:{port}"
    try:
        wait_until_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
