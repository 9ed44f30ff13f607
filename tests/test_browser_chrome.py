"""The app's chrome in a real browser: tab titles and icon, the theme's colours,
the phone layout, and none of Streamlit's developer chrome.

The app runs with no ``ENCRYPTION_KEY``, so the key is generated for local use
and the page warns about it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connections_core import ConnectionService
from tests.browsers import READY, streamlit_run
from tests.fakes import FakeServer
from tests.support import free_port
from ui.chrome import FAVICON

pytestmark = pytest.mark.timeout(180)

PHONE = {"width": 390, "height": 844}
INDIGO = "rgb(79, 70, 229)"  # [theme.light] primaryColor, #4f46e5
DESTRUCTIVE_RED = "rgb(180, 35, 24)"  # ui/chrome.py, #b42318
#: Playwright's "iPhone 13" for Chromium: a phone's user agent
IPHONE = {"viewport": {"width": 390, "height": 664}, "device_scale_factor": 3,
          "is_mobile": True, "has_touch": True,
          "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 15_0 like Mac OS X) "
                        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.0 Mobile/15E148 "
                        "Safari/604.1"}
SCREENS = {"": "Connections", "ollama_models": "Ollama models", "activity": "Activity",
           "settings": "Settings"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, provider: FakeServer) -> Iterator[str]:
    """The app with no key set, over a data folder with an Ollama and an OpenAI connection."""
    env = {**os.environ, "CONNECTIONS_DATA_DIR": str(tmp_path_factory.mktemp("data"))}
    env.pop("ENCRYPTION_KEY", None)
    service = ConnectionService.from_env(environ=env)
    service.create("ollama", "Local Ollama", {"baseUrl": provider.url})
    service.create("openai", "Team OpenAI", {"apiKey": "sk-wrong-key-0000",
                                             "baseUrl": provider.openai_url})
    with streamlit_run(env, "127.0.0.1", free_port()) as url:
        yield url


def open_page(browser: Any, url: str, **context: Any) -> Any:
    page = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context}).new_page()
    page.goto(url)
    page.wait_for_selector(READY, timeout=30_000)
    return page


def background(page: Any, selector: str) -> str:
    return str(page.locator(selector).first.evaluate("e => getComputedStyle(e).backgroundColor"))


# -- 15: titles and icon --------------------------------------------------------------------

def test_each_screen_names_its_tab_opened_or_chosen(browser: Any, app: str) -> None:
    """Opened by its address (one page, each screen's address in turn), then chosen
    in the sidebar."""
    page = open_page(browser, app)
    for path, screen in SCREENS.items():
        if path:
            page.goto(f"{app}/{path}")
            page.wait_for_selector(READY, timeout=30_000)
        assert page.title() == f"{screen} · connections", path

    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Connections").click()
    page.wait_for_function("document.title === 'Connections · connections'", timeout=20_000)
    page.context.close()


def test_the_tab_shows_our_icon_served_by_the_app(browser: Any, app: str) -> None:
    """Not Streamlit's logo, and not a Material icon fetched from fonts.gstatic.com."""
    page = open_page(browser, app)

    [href] = page.evaluate("[...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    assert href.startswith(f"{app}/")
    assert requests.get(href, timeout=10).content == FAVICON.read_bytes()
    page.context.close()


# -- 16: no developer chrome ----------------------------------------------------------------

def test_no_streamlit_menu_deploy_button_or_branding(browser: Any, app: str) -> None:
    page = open_page(browser, app)

    assert page.get_by_test_id("stMainMenu").count() == 0
    assert page.get_by_role("button", name="Deploy").count() == 0
    text = page.locator("body").inner_text()
    for chrome in ("Record screen", "Made with Streamlit", "Deploy", "Clear cache", "Rerun"):
        assert chrome not in text
    page.context.close()


def test_a_slow_run_shows_no_running_stop_widget(browser: Any, app: str,
                                                 provider: FakeServer) -> None:
    """With toolbarMode "viewer", "Running... Stop" showed after half a second."""
    page = open_page(browser, app)
    page.evaluate("""() => {
        window.sawStatusWidget = false;
        new MutationObserver(() => {
            if (document.querySelector('[data-testid="stStatusWidget"]')) {
                window.sawStatusWidget = true;
            }
        }).observe(document.body, {childList: true, subtree: true});
    }""")
    provider.delay = 2.0  # the Ollama screen reads the models: a run of two seconds
    try:
        page.get_by_role("link", name="Ollama models").click()
        page.wait_for_selector("[data-testid='stApp'][data-test-script-state='running']",
                               timeout=20_000)
        page.wait_for_selector(READY, timeout=30_000)
    finally:
        provider.delay = 0.0
    assert provider.requests_to("/api/tags"), "the run did wait on the server"
    assert page.evaluate("window.sawStatusWidget") is False
    page.context.close()


# -- 17: theme -------------------------------------------------------------------------------

def test_the_main_action_is_indigo_and_a_delete_is_red(browser: Any, app: str) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, app)
    assert background(page, ".st-key-conn_add button") == INDIGO
    card_delete = page.locator("[class*='st-key-conn_delete_'] button").first
    assert card_delete.evaluate("e => getComputedStyle(e).color") == DESTRUCTIVE_RED

    card_delete.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=20_000)
    assert background(page, ".st-key-conn_delete_confirm button") == DESTRUCTIVE_RED
    assert background(page, ".st-key-conn_delete_cancel button") == "rgb(255, 255, 255)"
    page.context.close()


def test_errors_read_at_the_size_of_the_page_text(browser: Any, app: str) -> None:
    """A failed check is reported in a toast; Streamlit draws toasts at 14 px."""
    page = open_page(browser, app)
    card = page.locator("[class*='st-key-conn_card_']").filter(has_text="Team OpenAI")
    card.get_by_role("button", name="Test", exact=True).click()
    toast = page.get_by_test_id("stToastText").filter(has_text="rejected the API key")
    toast.first.wait_for(timeout=20_000)

    assert toast.first.evaluate("e => getComputedStyle(e).fontSize") == "16px"
    page.context.close()


# -- 12: on a phone --------------------------------------------------------------------------

def test_on_a_phone_the_key_warning_is_on_the_page(browser: Any, app: str) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, app, viewport=PHONE)

    expect(page.get_by_test_id("stSidebar")).to_have_attribute("data-collapsed", "true")
    expect(page.get_by_text("Using a key generated for local use")).to_be_in_viewport()
    page.context.close()


@pytest.mark.parametrize("device", [{"viewport": PHONE}, IPHONE], ids=["narrow window", "iphone"])
def test_on_a_phone_the_sidebar_closes_after_choosing_a_screen(
        browser: Any, app: str, device: dict[str, Any]) -> None:
    """Streamlit closed it only for a phone's user agent, not in a narrow window.
    On a phone both the app's script and Streamlit react to the click: it still
    ends closed, not opened again."""
    from playwright.sync_api import expect

    page = open_page(browser, app, **device)
    sidebar = page.get_by_test_id("stSidebar")
    # The page may be drawn before the sidebar's last element, the script, has run.
    page.wait_for_function("window.connectionsClosesSidebar === true", timeout=20_000)
    page.get_by_test_id("stExpandSidebarButton").click()
    expect(sidebar).to_be_in_viewport()

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings").first).to_be_in_viewport(timeout=20_000)
    expect(sidebar).not_to_be_in_viewport(timeout=20_000)
    expect(sidebar).to_have_attribute("data-collapsed", "true")
    page.context.close()
