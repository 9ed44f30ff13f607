"""The Ollama screen in a real browser, where only a browser shows it: what is on
screen while a slow server is read, and where a pull's progress is drawn.

As in ``tests/test_browser.py``, a missing Chromium or Playwright skips these
tests, except in CI (``CI`` set), where it fails them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from connections_core import ConnectionService, generate_key
from tests.browsers import READY, streamlit_run
from tests.fakes import FakeServer, ollama_model
from tests.support import free_port

WAIT = 20_000  # ms: the bound of every wait on a condition

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def fast() -> Iterator[FakeServer]:
    server = FakeServer()  # llama3.2:1b and qwen2.5:0.5b
    yield server
    server.close()


@pytest.fixture(scope="module")
def slow() -> Iterator[FakeServer]:
    """A server that answers only when the test lets it (see ``hold``), with models of
    its own: enough of them that their table fills most of a laptop's screen."""
    server = FakeServer()
    server.ollama_models = [ollama_model("mistral:7b", family="mistral"),
                            *(ollama_model(f"model-{n}:1b") for n in range(11))]
    yield server
    server.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, fast: FakeServer,
        slow: FakeServer) -> Iterator[str]:
    data = tmp_path_factory.mktemp("data")
    env = {**os.environ, "CONNECTIONS_DATA_DIR": str(data), "ENCRYPTION_KEY": generate_key()}
    service = ConnectionService.from_env(environ=env)
    service.create("ollama", "Fast", {"baseUrl": fast.url})
    service.create("ollama", "Slow", {"baseUrl": slow.url})
    with streamlit_run(env, "127.0.0.1", free_port()) as url:
        yield url


@pytest.fixture
def page(browser: Any, app: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})  # a laptop's
    yield context.new_page()
    context.close()


def model_cell(page: Any, name: str) -> Any:
    """A model's cell in a table (drawn on a canvas; its cells exist for screen readers)."""
    return page.get_by_role("gridcell", name=name, exact=True, include_hidden=True)


def test_a_slow_server_shows_loading_then_a_pull_shows_by_its_buttons(
        page: Any, app: str, slow: FakeServer) -> None:
    """Switching to a slow server showed the previous server's table, faded, under the
    new server's name until the new one answered.  And after Pull, only Cancel was
    in view at 1366x900: the progress was drawn below the fold."""
    from playwright.sync_api import expect

    page.goto(f"{app}/ollama_models")
    page.wait_for_selector(READY, timeout=WAIT)
    expect(model_cell(page, "llama3.2:1b")).to_be_attached(timeout=WAIT)

    slow.hold()  # what is on screen is looked at while the server has not answered
    page.get_by_role("combobox", name="Ollama connection").click()
    page.get_by_role("option", name=re.compile(r"^Slow ")).click()

    loading = page.get_by_text(re.compile(r"Reading the models on .* \(Slow\)"))
    expect(loading).to_be_visible(timeout=WAIT)
    expect(model_cell(page, "llama3.2:1b")).to_have_count(0)
    expect(page.locator("[data-testid='stDataFrame']")).to_have_count(0)
    expect(page.get_by_text("0.5.7", exact=True)).to_have_count(0)  # the last server's version
    assert slow.wait_for_in_flight(1), "the new server was asked"
    expect(loading).to_be_visible()  # all of the above was seen while it was still loading

    slow.release(1_000)
    expect(model_cell(page, "mistral:7b")).to_be_attached(timeout=WAIT)
    expect(loading).to_have_count(0)

    slow.pull_endless, slow.pull_delay = True, 0.05
    page.get_by_role("textbox", name="Model to pull").fill("phi3")
    page.get_by_role("button", name="Pull", exact=True).click()
    bar = page.get_by_test_id("stProgress")
    expect(bar).to_be_visible(timeout=WAIT)
    expect(bar).to_be_in_viewport()
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_in_viewport()
    cancel.click()
    expect(page.get_by_text(re.compile("Cancelled the pull of phi3"))).to_be_visible(timeout=WAIT)
    assert slow.stream_aborted.wait(5), "the server saw the connection closed"
