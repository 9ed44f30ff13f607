"""Helpers for the AppTest tests of the screens (``tests/test_app_*.py``).

Every test gets a real data folder in ``tmp_path`` and a real key through the
environment, exactly as ``streamlit run`` would; providers are the fake server
on 127.0.0.1 from :mod:`tests.fakes`.  The fixture ``data_dir`` is registered
for every test module by ``tests/conftest.py``; tests use it by its name.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from connections_core import Connection, ConnectionService
from ui.checks import CHECKS, TEST_ALL
from ui.connection_dialogs import TESTED
from ui.format import WORD_JOINER

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard.py")
CONNECTIONS = "app_pages/connections.py"
OLLAMA = "app_pages/ollama_models.py"
SETTINGS = "app_pages/settings.py"

#: the element kinds whose text a person reads
TEXT_KINDS = ("title", "header", "subheader", "markdown", "caption", "text", "info", "success",
              "warning", "error", "toast", "exception")


@pytest.fixture(name="data_dir")
def fixture_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str) -> Iterator[Path]:
    """A fresh data folder and key in the environment, and no service cached from before."""
    folder = tmp_path / "data"
    monkeypatch.setenv("CONNECTIONS_DATA_DIR", str(folder))
    monkeypatch.setenv("ENCRYPTION_KEY", key)
    for name in ("ENCRYPTION_SECRET", "ENCRYPTION_KEY_PREVIOUS", "CONNECTIONS_ADMINS"):
        monkeypatch.delenv(name, raising=False)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield folder
    st.cache_resource.clear()
    st.cache_data.clear()


def open_app(page: str | None = None, *, secrets: dict[str, Any] | None = None,
             query: dict[str, str] | None = None, user: dict[str, Any] | None = None) -> AppTest:
    """The app, run once (and switched to ``page``), as ``user`` (``st.user``'s claims)."""
    at = AppTest.from_file(APP, default_timeout=15)
    # With no secrets given, AppTest would read the real .streamlit/secrets.toml.
    for name, value in (secrets or {"APP_TEST": "1"}).items():
        at.secrets[name] = value
    if user is not None:
        at.user = user
    for name, value in (query or {}).items():
        at.query_params[name] = value
    at.run()
    if page is not None:
        at.switch_page(page).run()
    return at


def service(workspace: str = "default") -> ConnectionService:
    """A service over the same data file as the app's, for arranging a test."""
    return ConnectionService.from_env(workspace)


def add(type: str, name: str, **config: str) -> Connection:
    return service().create(type, name, config)


def texts(at: AppTest) -> str:
    """Everything a person can read on the page, as one string (Markdown escapes removed)."""
    return "\n".join(plain(element.value) for kind in TEXT_KINDS for element in getattr(at, kind))


def plain(markdown: object) -> str:
    """Markdown source as read: ``\\*`` is a ``*``, and :func:`ui.format.md`'s invisible
    word joiners are not there."""
    return re.sub(r"\\(.)", r"\1", str(markdown)).replace(WORD_JOINER, "")


def card(at: AppTest, connection: Connection) -> str:
    """The text of one connection's card."""
    block = at.get_by_key(f"conn_card_{connection.id}")
    return "\n".join(plain(element.value)
                     for kind in ("markdown", "caption") for element in getattr(block, kind))


def errors(at: AppTest) -> list[str]:
    return [plain(e.value) for e in at.error]


def field(at: AppTest, label: str) -> Any:
    """The (only) text input with this label."""
    found = [widget for widget in at.text_input if widget.label == label]
    assert len(found) == 1, f"{len(found)} text inputs labelled {label!r}"
    return found[0]


def rendered(at: AppTest) -> str:
    """Every element's value and everything it sends to the browser (its proto), as text."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        parts.append(str(getattr(node, "proto", "")))
        with contextlib.suppress(AttributeError, KeyError, ValueError, TypeError):
            parts.append(str(node.value))  # blocks, and some elements, have no value
        for child in getattr(node, "children", {}).values():
            walk(child)

    for root in (at.main, at.sidebar, *at.toast):
        walk(root)
    return "\n".join(parts)


def assert_clean(at: AppTest) -> None:
    """No uncaught exception, and nothing that looks like a traceback."""
    assert not at.exception, [e.value for e in at.exception]
    assert "Traceback" not in texts(at)


def run_checks(at: AppTest, button: str, bound: float = 15) -> list[str]:
    """Press ``button`` (a Test), wait at most ``bound`` s for the checks running off the
    script thread, then run the page again, as the fragment watching them would.

    :returns: the toasts of both runs (a fast check ends before the first is over).
    """
    at.button(key=button).click().run()
    toasts = [plain(t.value) for t in at.toast]
    wait_for_checks(at, bound)
    return toasts + [plain(t.value) for t in at.run().toast]


def press_test(at: AppTest, bound: float = 15) -> AppTest:
    """Press the open dialog's Test, wait at most ``bound`` s for its check (run off the
    script thread), then run the page again, as the fragment following it would."""
    at.button(key="conn_form_test").click().run()
    test = at.session_state[TESTED] if TESTED in at.session_state else None
    if test is not None:
        assert not futures.wait([test.check], bound).not_done, "the dialog's Test did not end"
    return at.run()


def wait_for_checks(at: AppTest, bound: float = 15) -> None:
    """Wait at most ``bound`` s for the session's checks running off the script thread
    (a card's Test, Test all) to end."""
    state = at.session_state
    checks = [check.check for check in (state[CHECKS] if CHECKS in state else {}).values()]
    assert not futures.wait(checks, bound).not_done, "a check did not end"
    if TEST_ALL in state and state[TEST_ALL] is not None:
        assert state[TEST_ALL].run.wait(bound), "Test all did not end"


def wait_for_test_all_results(at: AppTest, count: int, bound: float = 15) -> None:
    """Wait at most ``bound`` s until the session's Test all has ``count`` results."""
    run = at.session_state[TEST_ALL].run
    arrived = threading.Event()

    def follow() -> None:
        for seen, _ in enumerate(run.results(), start=1):
            if seen >= count:
                arrived.set()
                return

    threading.Thread(target=follow, daemon=True).start()
    assert arrived.wait(bound), f"Test all did not get {count} results"
