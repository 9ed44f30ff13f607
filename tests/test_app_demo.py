"""The demo on the dashboard: "Try the demo" opens it, every screen works on it and says
so at its top, Reset puts it back, Leave returns to the real workspace untouched, and
with sign-in on only instance admins may open it.

The demo is the process's (``open_demo``): each test starts from its starting state,
and reads it through the same ``open_demo`` the app uses.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connections_core import (
    DEMO_NOTICE,
    Connection,
    close_demo,
    open_demo,
    reset_demo,
    standins,
)
from connections_core.demo import WRONG_ANTHROPIC_KEY
from tests.app_support import (
    CONNECTIONS,
    OLLAMA,
    SETTINGS,
    add,
    assert_clean,
    card,
    errors,
    field,
    open_app,
    plain,
    rendered,
    run_checks,
    service,
    texts,
)

ACTIVITY = "app_pages/activity.py"
SCREENS = (CONNECTIONS, OLLAMA, ACTIVITY, SETTINGS)
STARTING = ["OpenAI (demo)", "Anthropic (demo)", "Ollama (demo)",
            "Ollama on the lab server (demo)"]
BOSS, EVE = "boss@example.com", "eve@example.com"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "c", "client_secret": "s",
        "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}


@pytest.fixture(autouse=True, scope="module")
def demo_closed_afterwards() -> Iterator[None]:
    yield
    close_demo()


@pytest.fixture(autouse=True)
def demo_as_it_starts() -> None:
    """The demo as it starts, whatever a test before did to it (nothing if not open)."""
    reset_demo()


def demo_connections() -> dict[str, Connection]:
    """The demo's connections now, by name (the same demo as the app's)."""
    return {connection.name: connection for connection in open_demo().list()}


def open_as(email: str, page: str | None = None) -> AppTest:
    """The app with sign-in on and ``email`` signed in (and switched to ``page``)."""
    user = {"is_logged_in": True, "email": email, "email_verified": True,
            "exp": time.time() + 3600}
    return open_app(page, secrets={"auth": AUTH}, user=user)


def enter(at: AppTest) -> AppTest:
    return at.button(key="demo_try").click().run()


def says_demo(at: AppTest) -> bool:
    """Whether the page says, at its top, that this is the demo."""
    return any(plain(info.value) == DEMO_NOTICE for info in at.main.info)


def offers_demo(at: AppTest) -> bool:
    return any(button.key in ("demo_try", "demo_try_settings") for button in at.button)


def sidebar_buttons(at: AppTest) -> list[str]:
    return [str(button.key) for button in at.sidebar.button]


def folder(path: Path) -> dict[str, bytes]:
    """Every file in the data folder, with its bytes (empty when there is no folder)."""
    return {str(file.relative_to(path)): file.read_bytes()
            for file in sorted(path.rglob("*")) if file.is_file()} if path.exists() else {}


def sockets_open() -> int:
    """How many sockets this process holds."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except FileNotFoundError:  # the listing's own descriptor, closed since
            pass
    return count


# -- Try the demo --------------------------------------------------------------------------

def test_try_the_demo_opens_it_on_the_empty_screen(data_dir: Path) -> None:
    at = open_app()
    assert not says_demo(at)

    enter(at)

    cards = demo_connections()
    assert list(cards) == STARTING
    assert "Connected" in card(at, cards["OpenAI (demo)"])
    assert "Anthropic rejected the API key (401)" in card(at, cards["Anthropic (demo)"])
    assert "Can't reach the server" in card(at, cards["Ollama on the lab server (demo)"])
    assert says_demo(at)
    assert {"demo_reset", "demo_leave"} <= set(sidebar_buttons(at))
    assert "Workspace" not in [box.label for box in at.sidebar.selectbox], "no real picker"
    assert not offers_demo(at)
    assert service().list() == []
    assert_clean(at)


def test_every_screen_says_it_is_the_demo_and_works_on_it(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a key generated for local use, its warning (about the real key) is not the
    demo's: Settings shows the demo's own data file and key, never the real ones."""
    monkeypatch.delenv("ENCRYPTION_KEY")
    at = open_app()
    assert "Using a key generated for local use" in texts(at)
    real_key_file = str(data_dir / "encryption.key")
    enter(at)

    for screen in SCREENS:
        at.switch_page(screen).run()
        page = texts(at)
        assert says_demo(at), screen
        assert "Using a key generated" not in page and str(data_dir) not in rendered(at), screen
        assert_clean(at)
    demo_file = str(open_demo().store.path)  # type: ignore[attr-defined]
    assert f"the demo's own data file {demo_file} (temporary" in page  # Settings, last
    assert "a key made for the demo" in page and "rotate-key" not in page
    assert "The demo sends no alerts" in page  # and no webhook field
    assert [box.label for box in at.text_input] == ["E-mail"]
    assert real_key_file not in page and "environment variable" not in page
    at.switch_page(OLLAMA).run()
    assert "llama3.2:1b" in str(at.dataframe[0].value)
    at.switch_page(ACTIVITY).run()
    assert "No activity yet" not in texts(at)


def test_test_all_and_a_cards_test_work_on_the_demo(data_dir: Path) -> None:
    at = enter(open_app())

    assert run_checks(at, "conn_test_all") == ["Tested 4 connections: 2 connected, 2 errors."]
    openai = demo_connections()["OpenAI (demo)"]
    toasts = run_checks(at, f"conn_test_{openai.id}")
    assert any(toast.startswith("**OpenAI (demo)**: connected (") for toast in toasts), toasts
    assert says_demo(at)
    assert_clean(at)


def test_edit_delete_and_undo_work_and_reset_puts_the_demo_back(data_dir: Path) -> None:
    at = enter(open_app())
    cards = demo_connections()

    at.button(key=f"conn_edit_{cards['OpenAI (demo)'].id}").click().run()
    field(at, "Name").set_value("OpenAI, renamed")
    at.button(key="conn_form_save").click().run()
    assert "OpenAI, renamed" in demo_connections()
    lab = cards["Ollama on the lab server (demo)"]
    at.button(key=f"conn_delete_{lab.id}").click().run()
    at.button(key="conn_delete_confirm").click().run()
    assert lab.name not in demo_connections()
    at.button(key="conn_undo_button").click().run()
    assert lab.name in demo_connections()
    at.button(key=f"conn_delete_{cards['Anthropic (demo)'].id}").click().run()
    at.button(key="conn_delete_confirm").click().run()

    at.button(key="demo_reset").click().run()

    assert list(demo_connections()) == STARTING
    assert "The demo is back as it started." in [plain(toast.value) for toast in at.toast]
    assert "Connected" in card(at, demo_connections()["OpenAI (demo)"])
    assert not any(button.key == "conn_undo_button" for button in at.button)
    assert says_demo(at)
    assert_clean(at)


# -- Leaving it: the real workspace, untouched ----------------------------------------------

def test_leaving_returns_to_a_fresh_data_folder_untouched(data_dir: Path) -> None:
    at = open_app()
    before = folder(data_dir)
    enter(at)
    run_checks(at, "conn_test_all")
    at.button(key=f"conn_delete_{demo_connections()['OpenAI (demo)'].id}").click().run()
    at.button(key="conn_delete_confirm").click().run()

    at.button(key="demo_leave").click().run()

    assert not says_demo(at)
    assert "Left the demo: back to workspace **default**." in [plain(t.value) for t in at.toast]
    assert offers_demo(at) and "No connections yet" in texts(at)
    assert service().list() == [] and service().list_deleted() == []
    assert folder(data_dir) == before
    assert_clean(at)


def test_a_real_workspace_called_demo_is_never_mixed_with_the_demo(data_dir: Path) -> None:
    """The real workspace ``demo`` (empty) is where the session goes back to, its data
    file byte-identical, and the demo's connections never show in it."""
    mine = add("ollama", "Mine", baseUrl="http://localhost:11434")
    at = open_app(query={"workspace": "demo"})
    before = folder(data_dir)
    enter(at)
    assert list(demo_connections()) == STARTING and "Mine" not in texts(at)

    at.button(key="demo_leave_top").click().run()  # the notice's own way out

    assert at.sidebar.selectbox(key="workspace").value == "demo"
    assert "No connections yet" in texts(at) and "OpenAI (demo)" not in texts(at)
    assert service("demo").list() == [] and [c.id for c in service().list()] == [mine.id]
    assert folder(data_dir) == before
    assert_clean(at)


def test_what_a_screen_kept_is_dropped_on_entering_and_leaving(data_dir: Path) -> None:
    """An edit dialog left open on a real connection was opened over the demo ("No
    connection with id ..."), and a search typed in the demo hid the real cards."""
    mine = add("ollama", "Mine", baseUrl="http://localhost:11434")
    at = open_app()
    at.button(key=f"conn_edit_{mine.id}").click().run()
    assert not offers_demo(at), "no Try the demo among someone's connections"
    at.switch_page(SETTINGS).run()

    at.button(key="demo_try_settings").click().run()  # Settings' quiet way in
    at.switch_page(CONNECTIONS).run()

    assert says_demo(at) and not errors(at)
    assert not any(button.key == "conn_form_save" for button in at.button), "no dialog"
    at.text_input(key="conn_search").input("Anthropic").run()
    at.button(key="demo_leave").click().run()
    assert "No connection matches" not in texts(at) and "Mine" in card(at, mine)
    assert_clean(at)


# -- CONNECTIONS_DEMO=1 ------------------------------------------------------------------------

def test_connections_demo_opens_the_app_straight_on_it(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTIONS_DEMO", "1")

    at = open_app()

    assert says_demo(at) and "Connected" in card(at, demo_connections()["OpenAI (demo)"])
    at.button(key="demo_leave").click().run()
    assert not says_demo(at) and offers_demo(at)
    assert_clean(at)


# -- Sign-in: instance admins only ----------------------------------------------------------

def test_with_sign_in_a_workspace_admin_who_is_no_instance_admin_gets_the_real_app(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTIONS_ADMINS", BOSS)
    service().set_member(EVE, "admin")
    at = open_as(EVE)
    assert "No connections yet" in texts(at) and not offers_demo(at)
    assert not offers_demo(at.switch_page(SETTINGS).run())

    monkeypatch.setenv("CONNECTIONS_DEMO", "1")
    at = open_as(EVE)

    assert not says_demo(at) and "demo_leave" not in sidebar_buttons(at)
    assert "No connections yet" in texts(at)
    assert [plain(toast.value) for toast in at.toast] == [
        "The demo is for instance admins while sign-in is on: here is your own workspace."]
    assert "CONNECTIONS_ADMINS" not in rendered(at), "the server's settings are not theirs"
    assert_clean(at)


def test_with_sign_in_an_instance_admin_may_open_it(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTIONS_ADMINS", BOSS)
    at = enter(open_as(BOSS))
    assert says_demo(at) and list(demo_connections()) == STARTING
    run_checks(at, "conn_test_all")
    assert open_demo().audit(1)[0].actor == BOSS

    monkeypatch.setenv("CONNECTIONS_DEMO", "1")
    at = open_as(BOSS)

    assert says_demo(at) and "demo_reset" in sidebar_buttons(at)
    assert service().audit() == [], "nothing of it in the real trail"
    assert_clean(at)


# -- No leaks --------------------------------------------------------------------------------

def test_fifty_reruns_in_the_demo_start_no_thread_and_open_no_socket(data_dir: Path) -> None:
    at = enter(open_app())
    at.run()  # warm-up
    threads, sockets = threading.active_count(), sockets_open()

    for _ in range(50):
        at.run()

    assert threading.active_count() <= threads and sockets_open() <= sockets
    assert says_demo(at)


def test_the_demos_keys_never_reach_the_page(data_dir: Path) -> None:
    running = standins.running() or standins.start()
    secrets = {running.openai_key, running.anthropic_key, WRONG_ANTHROPIC_KEY,
               open_demo().keyring._current.hex()}  # the demo's own encryption key
    at = enter(open_app())
    run_checks(at, "conn_test_all")
    pages: list[str] = []
    for screen in SCREENS:
        pages.append(rendered(at.switch_page(screen).run()))
    at.switch_page(CONNECTIONS).run()
    for name in ("OpenAI (demo)", "Anthropic (demo)"):
        at.button(key=f"conn_edit_{demo_connections()[name].id}").click().run()
        pages.append(rendered(at))
        at.button(key="conn_form_cancel").click().run()

    for secret in secrets:
        assert all(secret not in page for page in pages)
    assert_clean(at)

