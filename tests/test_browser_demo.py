"""The demo, as someone trying the product sees it: `streamlit run` on a fresh
data folder, no key and no provider, driven by headless Chromium.

The screenshots in ``docs/`` are taken here, from the demo, so that they can be
made again on any machine: ``SCREENSHOTS=1 python -m pytest tests/test_browser_demo.py``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browsers import READY, ROOT, streamlit_run
from tests.support import free_port

pytestmark = pytest.mark.timeout(240)

WAIT = 30_000  # ms: a bound for what a screen shows after a click


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app over a data folder that doesn't exist yet, with no key set."""
    data = tmp_path_factory.mktemp("home") / "data"
    env = {name: value for name, value in os.environ.items()
           if name not in ("ENCRYPTION_KEY", "ENCRYPTION_SECRET", "ENCRYPTION_KEY_PREVIOUS",
                           "CONNECTIONS_DEMO", "CONNECTIONS_ADMINS")}
    env["CONNECTIONS_DATA_DIR"] = str(data)
    with streamlit_run(env, "127.0.0.1", free_port()) as url:
        yield url, data


def files(folder: Path) -> dict[str, bytes] | None:
    """Every file under ``folder`` and its bytes; None when the folder doesn't exist."""
    if not folder.exists():
        return None
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def screenshot(page: Any, name: str, tmp_path: Path) -> None:
    folder = ROOT / "docs" if os.environ.get("SCREENSHOTS") else tmp_path
    folder.mkdir(exist_ok=True)
    page.wait_for_selector(READY, timeout=WAIT)
    # A toast from the step before would cover the demo's notice: leave it out.
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True,
                    style="[data-testid='stToastContainer'] { display: none; }")


def card(page: Any, name: str) -> Any:
    return page.locator("[class*='st-key-conn_card_']").filter(
        has=page.get_by_text(name, exact=True))


def model_cell(page: Any, name: str) -> Any:
    """A model's cells in the tables (drawn on a canvas; its cells exist for screen
    readers). A loaded model is in two: the models and those in memory."""
    return page.get_by_role("gridcell", name=name, exact=True, include_hidden=True)


def test_the_demo_story(browser: Any, app: tuple[str, Path], tmp_path: Path) -> None:
    """Try the demo on a fresh machine: a green card, a classified error, models to
    browse, a pull to 100% and a cancelled one; then leave it, the real data untouched."""
    from playwright.sync_api import expect

    url, data = app
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector(READY, timeout=WAIT)
    before = files(data)

    clicked = time.perf_counter()
    page.get_by_role("button", name="Try the demo").click()
    openai = card(page, "OpenAI (demo)")
    expect(openai.get_by_text(re.compile(r"Connected$"))).to_be_visible(timeout=WAIT)
    opened = time.perf_counter() - clicked
    notice = page.get_by_text(re.compile(r"^This is a demo"))
    expect(notice).to_be_visible()
    expect(card(page, "Anthropic (demo)")).to_contain_text("rejected the API key")
    expect(card(page, "Ollama on the lab server (demo)")).to_contain_text(re.compile("reach"))
    screenshot(page, "connections", tmp_path)
    print(f"\nfrom Try the demo to the first green card: {opened:.2f} s")

    # Its past week: the key revoked five hours ago shows in the History dialog.
    card(page, "Anthropic (demo)").get_by_role("button", name="History").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=WAIT)
    expect(dialog).to_contain_text("auth")
    screenshot(page, "history", tmp_path)
    dialog.get_by_role("button", name="Close", exact=True).last.click()
    expect(dialog).to_have_count(0, timeout=WAIT)

    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Ollama models").click()
    expect(model_cell(page, "llama3.2:1b").first).to_be_attached(timeout=WAIT)
    expect(notice).to_be_visible()

    # The pull takes a few seconds; its progress shows by itself, with no click.
    page.get_by_role("textbox", name="Model to pull").fill("gemma3:1b")
    page.get_by_role("button", name="Pull", exact=True).click()
    expect(page.get_by_text(re.compile("Pulling gemma3:1b")).first).to_be_visible(timeout=WAIT)
    expect(page.get_by_test_id("stProgress")).to_be_visible(timeout=WAIT)
    # The bar's last value before it makes way for "Pulled": every byte arrived.
    page.wait_for_function(
        "[...document.querySelectorAll('[role=progressbar]')]"
        ".some(bar => bar.getAttribute('aria-valuenow') === '100')"
        " || document.body.innerText.includes('Pulled gemma3:1b')", timeout=WAIT)
    expect(page.get_by_text(re.compile(r"Pulled gemma3:1b")).first).to_be_visible(timeout=WAIT)
    expect(model_cell(page, "gemma3:1b").first).to_be_attached(timeout=WAIT)
    screenshot(page, "ollama_models", tmp_path)

    page.get_by_role("textbox", name="Model to pull").fill("smollm2:135m")
    page.get_by_role("button", name="Pull", exact=True).click()
    expect(page.get_by_test_id("stProgress")).to_be_visible(timeout=WAIT)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text(re.compile("Cancelled the pull of smollm2:135m"))).to_be_visible(
        timeout=WAIT)
    expect(model_cell(page, "smollm2:135m")).to_have_count(0)

    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Activity").click()
    expect(page.get_by_role("heading", name="Activity")).to_be_visible(timeout=WAIT)
    expect(notice).to_be_visible()
    screenshot(page, "activity", tmp_path)
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible(timeout=WAIT)
    expect(notice).to_be_visible()
    screenshot(page, "settings", tmp_path)

    page.get_by_role("button", name="Leave the demo").click()
    expect(notice).to_have_count(0, timeout=WAIT)
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Connections").click()
    expect(page.get_by_role("button", name="Try the demo")).to_be_visible(timeout=WAIT)
    expect(page.locator("[class*='st-key-conn_card_']")).to_have_count(0)
    context.close()

    assert files(data) == before, "the real data folder is as it was before the demo"
