"""Markup planted in what people and servers write stays text, in a real browser.

A recording server on 127.0.0.1 is the attacker's address.  Images, links and
HTML pointing at it are planted in a workspace id in the URL (Settings, and the
too-long-name error), in connection names (their cards, a check's toast, the
edit-conflict error), in an Ollama base URL (its spinner) and in everything a
fake Ollama server says (its version, model names and details, and its error
messages).  Chromium visits each screen; the recording server must receive
nothing, and no ``<a href>`` or ``<img src>`` may point at it.

As in ``tests/test_browser.py``, a missing Chromium or Playwright skips these
tests, except in CI (``CI`` set), where it fails them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest

from connections_core import Connection, ConnectionService, generate_key
from tests.browsers import READY, streamlit_run
from tests.fakes import API_KEY, FakeServer, ollama_model
from tests.support import free_port

WAIT = 20_000  # ms: the bound of every wait on a condition

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def planted() -> Iterator[FakeServer]:
    """The attacker's address: a server that records every request it gets."""
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def image(planted: FakeServer) -> str:
    return f"![x]({planted.url}/t.png)"


@pytest.fixture(scope="module")
def link(planted: FakeServer) -> str:
    return f"[sign in again]({planted.url}/x)"


@pytest.fixture(scope="module")
def html(planted: FakeServer) -> str:
    return f"<img src={planted.url}/i.png>"


@pytest.fixture(scope="module")
def provider(image: str, link: str, html: str) -> Iterator[FakeServer]:
    """An Ollama (and OpenAI) server whose every word is the planted markup."""
    said = f"{image} {link} {html}"
    server = FakeServer()
    server.ollama_version = said
    server.ollama_models = [ollama_model(f"{image}{link.replace(' ', '-')}", family=said,
                                         parameter_size=said, quantization_level=said)]
    server.respond("/api/show", 502, {"error": said})  # told from /api/ps's by its status
    server.respond("/api/ps", 500, {"error": said})
    server.pull_events = [{"status": said}, {"error": said}]
    server.respond("/v1/models", 500, {"error": {"message": said, "type": "server_error"}})
    yield server
    server.close()


@pytest.fixture(scope="module")
def slow() -> Iterator[FakeServer]:
    """A server slow enough that the Ollama screen's spinner shows (after 0.5 s)."""
    server = FakeServer()
    server.delay = 1.5
    yield server
    server.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {**os.environ, "CONNECTIONS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
            "ENCRYPTION_KEY": generate_key()}


@pytest.fixture(scope="module")
def named(env: dict[str, str], image: str, link: str, html: str, provider: FakeServer,
          slow: FakeServer) -> Connection:
    """The connections, made before the app starts; the one whose name is planted."""
    service = ConnectionService.from_env(environ=env)
    service.create("ollama", f"{html} slow", {"baseUrl": f"{slow.url}/{image}"})  # the default
    service.create("ollama", f"{html} planted", {"baseUrl": provider.url})
    return service.create("openai", f"{image}{link}",
                          {"apiKey": API_KEY, "baseUrl": provider.openai_url})


@pytest.fixture(scope="module")
def app(env: dict[str, str], named: Connection) -> Iterator[str]:
    with streamlit_run(env, "127.0.0.1", free_port()) as url:
        yield url


@dataclass
class Visit:
    """A fresh page, and the requests it sent to the planted address, noted as sent."""

    page: Any
    sent: list[str] = field(default_factory=list)


@pytest.fixture
def visit(browser: Any, planted: FakeServer) -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    visit = Visit(context.new_page())

    def note(request: Any) -> None:
        if request.url.startswith(planted.url):
            visit.sent.append(request.url)

    visit.page.on("request", note)
    yield visit
    context.close()


def settle(page: Any) -> None:
    page.wait_for_selector(READY, timeout=WAIT)


def assert_nothing_points_at(planted: FakeServer, visit: Visit) -> None:
    """No request sent there, and no link or image on the page that would send one."""
    pointing = visit.page.locator(f"a[href^='{planted.url}'], img[src^='{planted.url}'], "
                                  f"[srcset*='{planted.url}']")
    assert pointing.count() == 0, [pointing.nth(i).evaluate("e => e.outerHTML")
                                   for i in range(pointing.count())]
    assert visit.sent == []
    assert planted.requests == []


def test_a_workspace_id_in_the_url_on_settings(visit: Visit, app: str, planted: FakeServer,
                                               image: str, link: str) -> None:
    from playwright.sync_api import expect

    page = visit.page
    page.goto(f"{app}/settings?workspace={quote(image + link)}")
    settle(page)
    expect(page.get_by_test_id("stMetricValue").filter(has_text="sign in again")).to_be_visible()
    assert_nothing_points_at(planted, visit)


def test_a_workspace_id_in_the_too_long_name_error(visit: Visit, app: str, planted: FakeServer,
                                                   image: str, link: str, html: str) -> None:
    from playwright.sync_api import expect

    page = visit.page
    page.goto(f"{app}/?workspace={quote((image + link + html) * 2)}")
    settle(page)
    expect(page.get_by_text("can't be a workspace")).to_be_visible(timeout=WAIT)
    assert_nothing_points_at(planted, visit)


def test_a_connection_name_on_its_card_in_a_check_and_in_the_edit_conflict(
        visit: Visit, app: str, planted: FakeServer, named: Connection, env: dict[str, str],
        image: str) -> None:
    from playwright.sync_api import expect

    page = visit.page
    page.goto(app)
    settle(page)
    card = page.locator(f".st-key-conn_card_{named.id}")
    card.get_by_role("button", name="Test", exact=True).click()  # the server's error, too
    expect(page.get_by_test_id("stToast")).to_contain_text("sign in again", timeout=WAIT)
    settle(page)
    assert_nothing_points_at(planted, visit)

    card.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=WAIT)
    ConnectionService.from_env(environ=env).update(named.id, named.version, name=f"{image} 2")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_text(re.compile("was changed by someone else"))).to_be_visible(
        timeout=WAIT)
    assert_nothing_points_at(planted, visit)


def test_an_ollama_base_url_in_its_spinner(visit: Visit, app: str,
                                           planted: FakeServer) -> None:
    from playwright.sync_api import expect

    page = visit.page
    page.goto(f"{app}/ollama_models")  # the slow server's connection is the default
    expect(page.get_by_text("Reading the models on")).to_be_visible(timeout=WAIT)
    assert_nothing_points_at(planted, visit)
    expect(page.get_by_test_id("stAlertContentError").first).to_be_visible(timeout=WAIT)
    settle(page)
    assert_nothing_points_at(planted, visit)


def test_what_an_ollama_server_says(visit: Visit, app: str, planted: FakeServer) -> None:
    """Its version, its models' names and details, and its errors about a model's
    details, the running models and a pull."""
    from playwright.sync_api import expect

    page = visit.page
    page.goto(f"{app}/ollama_models")
    settle(page)
    page.get_by_role("combobox", name="Ollama connection").click()
    page.get_by_role("option", name=re.compile("planted")).click()
    expect(page.get_by_test_id("stMetricValue").first).to_contain_text("sign in again",
                                                                        timeout=WAIT)
    settle(page)
    assert_nothing_points_at(planted, visit)

    page.get_by_role("combobox", name="Model details").click()
    page.get_by_role("option").first.click()
    expect(page.get_by_test_id("stAlertContentError").filter(has_text="(502)")).to_be_visible(
        timeout=WAIT)
    settle(page)
    assert_nothing_points_at(planted, visit)

    page.get_by_role("textbox", name="Model to pull").fill("phi3")
    page.get_by_role("button", name="Pull", exact=True).click()
    expect(page.get_by_text("Could not pull phi3")).to_be_visible(timeout=WAIT)
    settle(page)
    assert_nothing_points_at(planted, visit)
