"""The connection cards in a real browser: what only a browser shows.

A base URL makes no link; a status badge reads as its word ("Connected"), not an
icon's name; each card's provider icon is an image named for its provider; the
search applies while typing, without Enter, and *Clear filters* undoes it; a card's
sparkline and its History dialog's charts are drawn, with failed checks in red.

As in ``tests/test_browser.py``, a missing Chromium or Playwright skips these
tests, except in CI (``CI`` set), where it fails them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connections_core import Connection, ConnectionService, generate_key
from tests.browsers import READY, streamlit_run
from tests.fakes import API_KEY, FakeServer
from tests.support import free_port
from ui.charts import FAILED_COLOUR

WAIT = 20_000  # ms: the bound of every wait on a condition

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory,
         provider: FakeServer) -> Iterator[tuple[str, dict[str, Connection]]]:
    """The app over an OpenAI connection that passed its check and an Ollama one."""
    env = {**os.environ, "CONNECTIONS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
           "ENCRYPTION_KEY": generate_key()}
    service = ConnectionService.from_env(environ=env)
    work = service.create("openai", "Work", {"apiKey": API_KEY, "baseUrl": provider.openai_url})
    local = service.create("ollama", "Local", {"baseUrl": provider.url})
    assert service.test(work.id).success
    with_a_day_of_checks(service, work)
    with streamlit_run(env, "127.0.0.1", free_port()) as url:
        yield url, {"work": work, "local": local}


def with_a_day_of_checks(service: ConnectionService, connection: Connection) -> None:
    """A check every 20 minutes over the last day, one in eight refused (401)."""
    now = datetime.now(UTC)
    with service.store.transaction() as tx:
        tx.append_checks({"at": (now - timedelta(minutes=20 * n)).isoformat(),
                          "workspace_id": "default", "connection_id": connection.id,
                          "success": n % 8 != 3, "kind": "ok" if n % 8 != 3 else "auth",
                          "latency_ms": 90 + 7 * (n % 5), "status_code": 200 if n % 8 != 3
                          else 401, "source": "schedule"} for n in range(1, 72))


@pytest.fixture
def page(browser: Any, made: tuple[str, dict[str, Connection]]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(made[0])
    page.wait_for_selector(READY, timeout=30_000)
    yield page
    context.close()


def card(page: Any, connection: Connection) -> Any:
    return page.locator(f".st-key-conn_card_{connection.id}")


def test_a_base_url_is_text_not_a_link(page: Any, made: Any, provider: FakeServer) -> None:
    from playwright.sync_api import expect

    work = card(page, made[1]["work"])
    url = work.locator("code", has_text=provider.openai_url)
    expect(url).to_be_visible(timeout=WAIT)
    expect(work.locator("a")).to_have_count(0)
    expect(card(page, made[1]["local"]).locator("a")).to_have_count(0)


def test_a_status_badge_reads_as_its_word(page: Any, made: Any) -> None:
    """It read "check_circle Connected": the icon's name, in an icon font."""
    from playwright.sync_api import expect

    work = card(page, made[1]["work"])
    badge = work.locator(".stMarkdownBadge", has_text="Connected")
    expect(badge).to_be_visible(timeout=WAIT)
    assert badge.inner_text().strip() == "Connected"
    # Streamlit draws a Markdown icon as role="img" named "<icon> icon"; none is left.
    expect(work.locator("[role='img'][aria-label$=' icon']")).to_have_count(0)
    assert "Default" in work.locator(".stMarkdownBadge").all_inner_texts()


def test_each_card_shows_its_providers_icon_by_name(page: Any, made: Any) -> None:
    from playwright.sync_api import expect

    for name, provider_name in (("work", "OpenAI"), ("local", "Ollama")):
        icon = card(page, made[1][name]).get_by_role("img", name=provider_name, exact=True)
        expect(icon).to_be_visible(timeout=WAIT)
        assert icon.get_attribute("src").startswith("data:image/svg+xml")


def test_search_applies_while_typing_and_clear_filters_undoes_it(page: Any, made: Any) -> None:
    from playwright.sync_api import expect

    work, local = card(page, made[1]["work"]), card(page, made[1]["local"])
    search = page.get_by_role("searchbox", name="Search by name")
    search.press_sequentially("loc")  # no Enter, no leaving the field

    expect(work).to_have_count(0, timeout=WAIT)
    expect(local).to_be_visible()
    expect(search).to_be_focused()

    page.get_by_role("button", name="Clear filters").click()
    expect(work).to_be_visible(timeout=WAIT)
    expect(local).to_be_visible()
    expect(search).to_have_value("")


def drawn_in_red(chart: Any) -> None:
    """Wait until ``chart`` (a Vega-Lite chart's element) is drawn, of some size, with
    marks of the failed checks' colour (Streamlit has Vega draw charts as SVG)."""
    from playwright.sync_api import expect

    drawing = chart.locator("svg.marks")
    expect(drawing).to_be_visible(timeout=WAIT)
    box = drawing.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0
    expect(drawing.locator(f"[fill='{FAILED_COLOUR}']").first).to_be_attached(timeout=WAIT)


def test_the_sparkline_and_the_history_charts_draw_failed_checks_in_red(
        page: Any, made: Any) -> None:
    from playwright.sync_api import expect

    work = card(page, made[1]["work"])
    expect(work.get_by_text("Last 24 h: 87.5% · 72 checks")).to_be_visible(timeout=WAIT)
    drawn_in_red(work.locator("[data-testid='stVegaLiteChart']"))

    work.get_by_role("button", name="History").click()
    dialog = page.get_by_role("dialog")
    charts = dialog.locator("[data-testid='stVegaLiteChart']")
    expect(charts).to_have_count(2, timeout=WAIT)  # latency, and the status timeline
    drawn_in_red(charts.nth(0))
    drawn_in_red(charts.nth(1))
    expect(dialog.get_by_text("auth: the provider refused the key (HTTP 401)").first
           ).to_be_visible()
