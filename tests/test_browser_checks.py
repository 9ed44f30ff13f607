"""In Chromium: a slow check survives a click on another card, Test all's results are
read whole and dated in the browser's time zone, "New workspace" closes once used, and
Undo after a delete is where the person is looking."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from connections_core import Connection, ConnectionService, generate_key
from tests.browsers import READY, streamlit_run
from tests.fakes import API_KEY, FakeServer
from tests.support import free_port

pytestmark = pytest.mark.timeout(180)
SLOW_SECONDS = 3.5
WAIT = 20_000  # ms: the bound of every wait on a condition
#: how far the page is scrolled, whichever element Streamlit scrolls
SCROLLED = ("Math.max(window.scrollY, ...Array.from(document.querySelectorAll("
            "'[data-testid=stMain], [data-testid=stAppViewContainer]'), e => e.scrollTop))")


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeServer, FakeServer]]:
    quick, slow = FakeServer(), FakeServer()
    slow.delay = SLOW_SECONDS
    yield quick, slow
    quick.close()
    slow.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("data")
    return {**os.environ, "CONNECTIONS_DATA_DIR": str(data), "ENCRYPTION_KEY": generate_key()}


@pytest.fixture(scope="module")
def app(env: dict[str, str]) -> Iterator[str]:
    with streamlit_run(env, "127.0.0.1", free_port()) as url:
        yield url


@pytest.fixture
def page(browser: object, app: str) -> Iterator[object]:
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin")
    yield context.new_page()
    context.close()


def connections(env: dict[str, str]) -> ConnectionService:
    return ConnectionService.from_env(environ=env)


def card(page: object, connection: Connection) -> object:
    return page.locator(f".st-key-conn_card_{connection.id}")  # type: ignore[attr-defined]


def test_a_slow_check_is_shown_after_testing_another_card(
        page: object, app: str, env: dict[str, str],
        servers: tuple[FakeServer, FakeServer]) -> None:
    from playwright.sync_api import expect

    quick_server, slow_server = servers
    service = connections(env)
    slow = service.create("openai", "Slow A", {"apiKey": API_KEY,
                                               "baseUrl": slow_server.openai_url})
    quick = service.create("openai", "Quick B", {"apiKey": API_KEY,
                                                 "baseUrl": quick_server.openai_url})
    p = page
    p.goto(app)  # type: ignore[attr-defined]
    p.wait_for_selector(READY, timeout=30_000)  # type: ignore[attr-defined]

    card(p, slow).get_by_role("button", name="Test", exact=True).click()  # type: ignore[attr-defined]
    expect(card(p, slow)).to_contain_text("Checking now")
    assert slow_server.wait_for_requests(1, timeout=10)
    card(p, quick).get_by_role("button", name="Test", exact=True).click()  # type: ignore[attr-defined]

    toasts = p.locator("[data-testid='stToast']")  # type: ignore[attr-defined]
    expect(toasts.filter(has_text="Quick B: connected")).to_be_visible(timeout=20_000)
    expect(toasts.filter(has_text="Slow A: connected")).to_be_visible(timeout=20_000)
    for connection in (slow, quick):
        expect(card(p, connection).get_by_text(re.compile(r"Connected$"))).to_be_visible(
            timeout=20_000)
        expect(card(p, connection)).to_contain_text("Checked just now")
    assert len(slow_server.requests_to("/v1/models")) == 1

    # Test all, with a connection whose error is long: its whole message can be read.
    wordy_server = FakeServer()
    try:
        wordy_server.respond("/v1/models", 400, {"error": {"message": "Your organisation "
                                                           "must be verified " + "x " * 80}})
        wordy = service.create("openai", "Wordy", {"apiKey": API_KEY,
                                                   "baseUrl": wordy_server.openai_url})
        p.get_by_role("button", name="Test all").click()  # type: ignore[attr-defined]
        results = p.get_by_test_id("stTable")  # type: ignore[attr-defined]
        expect(results).to_contain_text("Checking…", timeout=WAIT)
        expect(results).not_to_contain_text("Checking…", timeout=WAIT)
    finally:
        wordy_server.close()
    message = str(service.get(wordy.id).last_result.message)  # type: ignore[union-attr]
    cell = results.locator("td").filter(has_text="Your organisation must be verified")
    expect(cell).to_have_text(message)
    expect(cell).to_be_visible()
    assert cell.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), "nothing cut off"
    expect(p.get_by_text(re.compile(r"^Started .* CES?T\)\.$"))).to_be_visible()  # type: ignore[attr-defined]


def test_a_check_that_ends_on_another_screen_is_told_there(
        page: object, app: str, env: dict[str, str],
        servers: tuple[FakeServer, FakeServer]) -> None:
    from playwright.sync_api import expect

    _, slow_server = servers
    slow = connections(env).create("openai", "Slow C", {"apiKey": API_KEY,
                                                        "baseUrl": slow_server.openai_url})
    p = page
    p.goto(app)  # type: ignore[attr-defined]
    p.wait_for_selector(READY, timeout=30_000)  # type: ignore[attr-defined]
    card(p, slow).get_by_role("button", name="Test", exact=True).click()  # type: ignore[attr-defined]
    expect(card(p, slow)).to_contain_text("Checking now")

    p.get_by_role("link", name="Activity").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Activity")).to_be_visible()  # type: ignore[attr-defined]

    toasts = p.locator("[data-testid='stToast']")  # type: ignore[attr-defined]
    expect(toasts.filter(has_text="Slow C: connected")).to_be_visible(timeout=20_000)
    expect(p.get_by_role("heading", name="Activity")).to_be_visible()  # type: ignore[attr-defined]

    # "New workspace" stays open to say why a name can't be one, and closes once the
    # workspace is made, uncovering the sidebar.
    sidebar = p.get_by_test_id("stSidebar")  # type: ignore[attr-defined]
    sidebar.get_by_role("button", name="New workspace").click()
    name = p.get_by_role("textbox", name="Workspace name")  # type: ignore[attr-defined]
    for typed in ("   ", "scratch"):
        name.fill(typed)
        name.press("Tab")
        p.get_by_role("button", name="Create").click()  # type: ignore[attr-defined]
        if not typed.strip():
            expect(p.get_by_text("A workspace id is 1-100 characters.")).to_be_visible(  # type: ignore[attr-defined]
                timeout=WAIT)
            expect(name).to_be_visible()
    expect(toasts.filter(has_text="workspace scratch")).to_be_visible(timeout=WAIT)
    expect(name).to_be_hidden(timeout=WAIT)


def test_undo_after_deleting_a_card_low_on_the_page_is_in_view(
        page: object, app: str, env: dict[str, str], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    service = connections(env)
    for connection in service.list():
        service.delete(connection.id)
    made = [service.create("ollama", f"Server {n:02}", {"baseUrl": "http://localhost:11434"})
            for n in range(15)]
    p = page
    p.goto(app)  # type: ignore[attr-defined]
    p.wait_for_selector(READY, timeout=30_000)  # type: ignore[attr-defined]
    low = made[2]  # newest first: the third card from the bottom
    target = card(p, low)
    target.scroll_into_view_if_needed()  # type: ignore[attr-defined]
    assert p.evaluate(SCROLLED) > 900, "the card is below the first screenful"  # type: ignore[attr-defined]

    target.get_by_role("button", name="Delete").click()  # type: ignore[attr-defined]
    dialog = p.get_by_role("dialog")  # type: ignore[attr-defined]
    dialog.get_by_role("button", name="Delete").click()
    expect(dialog).to_be_hidden(timeout=20_000)

    undo = p.get_by_role("button", name="Undo")  # type: ignore[attr-defined]
    expect(undo).to_be_in_viewport(timeout=20_000)
    undo.click()
    expect(card(p, low)).to_be_visible(timeout=20_000)
    expect(p.get_by_role("button", name="Undo")).to_have_count(0)  # type: ignore[attr-defined]
    assert low.id in {c.id for c in connections(env).list()}
