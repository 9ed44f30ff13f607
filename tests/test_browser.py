"""The real thing: `streamlit run` on a loopback port, driven by headless Chromium.

Playwright can't download its own browser here, so it drives Debian's
``chromium``.  Without it the test is skipped, unless ``CI`` is set: there a
missing browser is a failure, not a silent skip.

The README's screenshots are taken from the demo (``tests/test_browser_demo.py``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from connections_core import ConnectionService, generate_key
from tests.browsers import READY, streamlit_run
from tests.fakes import API_KEY, FakeServer
from tests.support import free_port

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, provider: FakeServer) -> Iterator[str]:
    """The app on a free loopback port, over a fresh data folder with one Ollama connection."""
    data = tmp_path_factory.mktemp("data")
    env = {**os.environ, "CONNECTIONS_DATA_DIR": str(data), "ENCRYPTION_KEY": generate_key()}
    ConnectionService.from_env(environ=env).create("ollama", "Local Ollama",
                                                   {"baseUrl": provider.url})
    with streamlit_run(env, "127.0.0.1", free_port()) as url:
        yield url


@pytest.fixture
def page(browser: object, app: str) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    yield page
    context.close()


def _ready(page: object) -> None:
    page.wait_for_selector(READY, timeout=30_000)  # type: ignore[attr-defined]


def test_a_link_opens_its_screen_on_a_fresh_server(page: object, app: str) -> None:
    """Runs first, on a server nobody has visited: with the screens in a folder
    named pages/, Streamlit ran a linked screen without the entry point."""
    from playwright.sync_api import expect

    page.goto(f"{app}/settings")  # type: ignore[attr-defined]
    _ready(page)
    expect(page.get_by_role("heading", name="Settings").first).to_be_visible()  # type: ignore[attr-defined]
    expect(page.get_by_role("combobox", name="Workspace")).to_be_visible()  # type: ignore[attr-defined]


def test_add_an_openai_connection_test_it_and_never_show_the_key(
        page: object, app: str, provider: FakeServer) -> None:
    from playwright.sync_api import expect

    p = page  # Playwright's Page; typed loosely so the module imports without it
    p.goto(app)  # type: ignore[attr-defined]
    _ready(p)
    p.get_by_role("button", name="Add connection").first.click()  # type: ignore[attr-defined]
    dialog = p.get_by_role("dialog")  # type: ignore[attr-defined]
    expect(dialog).to_be_visible()
    dialog.get_by_role("textbox", name="Name", exact=True).fill("Team OpenAI")
    dialog.get_by_role("textbox", name="API key").fill(API_KEY)
    base_url = dialog.get_by_role("textbox", name="Base URL")
    base_url.fill(provider.openai_url)
    base_url.press("Tab")

    dialog.get_by_role("button", name="Test", exact=True).click()
    expect(dialog.get_by_text("Connected to OpenAI")).to_be_visible(timeout=20_000)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden(timeout=20_000)

    card = p.locator("[class*='st-key-conn_card_']").filter(has_text="Team OpenAI")  # type: ignore[attr-defined]
    expect(card).to_be_visible()
    # The dialog's Test passed for exactly this config: it is the saved status.
    expect(card.get_by_text(re.compile(r"Connected$"))).to_be_visible()
    card.get_by_role("button", name="Test", exact=True).click()
    # The badge: its text is the icon's name and "Connected".
    expect(card.get_by_text(re.compile(r"Connected$"))).to_be_visible(timeout=20_000)
    expect(card).to_contain_text("Checked just now")
    expect(card.get_by_text("••••WXYZ")).to_be_visible()

    assert API_KEY not in p.content()  # type: ignore[attr-defined]
    assert provider.requests_to("/v1/models"), "the checks reached the fake provider"

    # Opened by its address: a link clicked while the card's check was still being
    # followed (a fragment rerunning every 0.3 s) was once not followed, in CI; the
    # links themselves are test_a_link_opens_its_screen_on_a_fresh_server's.
    p.goto(f"{app}/ollama_models")  # type: ignore[attr-defined]
    # The models table draws on a canvas; its cells exist for screen readers.
    cell = p.get_by_role("gridcell", name="llama3.2:1b", include_hidden=True)  # type: ignore[attr-defined]
    expect(cell.first).to_be_attached(timeout=20_000)
    expect(p.locator("[data-testid='stDataFrame']").first).to_be_visible()  # type: ignore[attr-defined]

    p.get_by_role("link", name="Activity").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Activity")).to_be_visible(timeout=20_000)  # type: ignore[attr-defined]
    expect(p.get_by_text("entries, newest first")).to_be_visible(timeout=20_000)  # type: ignore[attr-defined]

    p.get_by_role("link", name="Settings").click()  # type: ignore[attr-defined]
    expect(p.get_by_role("heading", name="Settings")).to_be_visible(timeout=20_000)  # type: ignore[attr-defined]
    assert API_KEY not in p.content()  # type: ignore[attr-defined]

