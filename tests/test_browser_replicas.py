"""Two replicas of the app on one store, behind nginx, driven by two browsers.

Two ``streamlit run`` processes share one store (PostgreSQL when the test
server can be started, as a team deploys it; else one TinyDB data folder) and
sit behind nginx with the README's sticky sessions (:mod:`tests.nginx`).  Browser
A gets its replica cookie from nginx, as anyone does; browser B is given a cookie
that nginx sends to the other replica.  nginx's access log proves which replica
answered each request, the WebSocket included.  What A adds, B shows after a
reload; when both edit one connection at once, the first Save wins and the
second is told the connection was changed by someone else.

A missing nginx, Chromium or Playwright skips these tests, except in CI (``CI``
set), where it fails them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connections_core import Connection, ConnectionService, generate_key
from tests.browsers import READY, streamlit_run
from tests.fakes import FakeServer
from tests.nginx import COOKIE, PROXY, Nginx, nginx_in_front, nginx_missing
from tests.support import free_port

WAIT = 20_000  # ms: the bound of every wait on a condition

pytestmark = pytest.mark.timeout(240)


@dataclass
class Replicas:
    nginx: Nginx
    env: dict[str, str]
    shared: Connection  # the connection both browsers edit


@dataclass
class Browser:
    page: Any
    cookie: str   # its replica cookie
    replica: str  # the replica (host:port) that nginx sends it to


@pytest.fixture(scope="module")
def store_env(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Both replicas' environment: one store, one key.

    The store is a database of the test PostgreSQL server, as a team deploys it.
    Where that server can't run (outside CI), it is one data folder: two processes
    on one machine are two replicas of that store too.
    """
    env = {**os.environ, "CONNECTIONS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
           "ENCRYPTION_KEY": generate_key()}
    env.pop("CONNECTIONS_DATABASE_URL", None)
    try:
        postgres = request.getfixturevalue("postgres")
    except pytest.skip.Exception:
        return env
    env["CONNECTIONS_DATABASE_URL"] = postgres.dsn(postgres.fresh_database())
    return env


@pytest.fixture(scope="module")
def replicas(store_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
             provider: FakeServer) -> Iterator[Replicas]:
    missing = nginx_missing()
    if missing and os.environ.get("CI"):
        pytest.fail(f"CI needs the replicas test: {missing}")
    if missing:
        pytest.skip(missing)
    shared = ConnectionService.from_env(environ=store_env).create(
        "ollama", "Shared", {"baseUrl": provider.url})
    with ExitStack() as stack:
        urls = [stack.enter_context(streamlit_run(store_env, "127.0.0.1", free_port()))
                for _ in range(2)]
        nginx = stack.enter_context(nginx_in_front(
            [url.removeprefix("http://") for url in urls],
            tmp_path_factory.mktemp("nginx"), free_port()))
        yield Replicas(nginx, store_env, shared)


@pytest.fixture(scope="module")
def browsers(browser: Any, replicas: Replicas) -> Iterator[tuple[Browser, Browser]]:
    """A: a fresh browser, its cookie set by nginx; B: one sent to the other replica."""
    nginx = replicas.nginx
    with ExitStack() as stack:
        a = _open(browser, nginx, stack)
        a_cookie = _cookie(a)
        a_replica = nginx.replica_of(a_cookie)
        b_cookie = next(f"b-{n}" for n in range(100)
                        if nginx.replica_of(f"b-{n}") != a_replica)
        b = _open(browser, nginx, stack, cookie=b_cookie)
        yield (Browser(a, a_cookie, a_replica),
               Browser(b, b_cookie, nginx.replica_of(b_cookie)))


def _open(browser: Any, nginx: Nginx, stack: ExitStack, cookie: str | None = None) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    stack.callback(context.close)
    if cookie is not None:
        context.add_cookies([{"name": COOKIE, "value": cookie, "url": nginx.url}])
    page = context.new_page()
    page.goto(nginx.url)
    page.wait_for_selector(READY, timeout=30_000)
    return page


def _cookie(page: Any) -> str:
    [cookie] = [c["value"] for c in page.context.cookies() if c["name"] == COOKIE]
    return str(cookie)


def card(page: Any, name: str) -> Any:
    return page.locator("[class*='st-key-conn_card_']").filter(has_text=name)


def test_nginx_keeps_each_browser_on_its_replica(browsers: tuple[Browser, Browser],
                                                 replicas: Replicas) -> None:
    a, b = browsers
    assert a.replica != b.replica
    logged = replicas.nginx.requests()
    # A's first request had no cookie: it was sent by the id nginx then gave as its cookie.
    [first] = [r for r in logged if r.cookie == "" and r.replica_key == a.cookie]
    assert first.upstream == a.replica
    for browser in (a, b):
        upstreams = {r.upstream for r in logged if r.cookie == browser.cookie}
        assert upstreams == {browser.replica}


def test_what_one_replica_adds_the_other_shows_after_a_reload(
        browsers: tuple[Browser, Browser], replicas: Replicas, provider: FakeServer) -> None:
    from playwright.sync_api import expect

    a, b = browsers
    a.page.get_by_role("button", name="Add connection").first.click()
    dialog = a.page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=WAIT)
    dialog.get_by_role("combobox", name="Provider").click()
    a.page.get_by_role("option", name="Ollama").click()
    # The rerun swaps OpenAI's fields for Ollama's: until then both Base URL fields
    # may be on the page, and a fill could land in the one about to go.
    expect(dialog.get_by_role("textbox", name="API key")).to_have_count(0, timeout=WAIT)
    dialog.get_by_role("textbox", name="Name", exact=True).fill("Added on A")
    base_url = dialog.get_by_placeholder("http://localhost:11434")
    base_url.fill(provider.url)
    base_url.press("Tab")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden(timeout=WAIT)
    expect(card(a.page, "Added on A")).to_be_visible(timeout=WAIT)

    expect(card(b.page, "Added on A")).to_have_count(0)
    b.page.reload()
    b.page.wait_for_selector(READY, timeout=30_000)
    expect(card(b.page, "Added on A")).to_be_visible(timeout=WAIT)
    if "CONNECTIONS_DATABASE_URL" in replicas.env:  # it went through the database
        assert not list(Path(replicas.env["CONNECTIONS_DATA_DIR"]).iterdir())


def test_a_simultaneous_edit_gives_one_success_and_one_conflict(
        browsers: tuple[Browser, Browser], replicas: Replicas) -> None:
    from playwright.sync_api import expect

    dialogs = []
    for browser in browsers:
        card(browser.page, "Shared").get_by_role("button", name="Edit").click()
        dialog = browser.page.get_by_role("dialog")
        expect(dialog).to_be_visible(timeout=WAIT)
        dialog.get_by_role("textbox", name="Name", exact=True).fill(f"Shared ({browser.cookie})")
        dialogs.append(dialog)
    a, (first, second) = browsers[0], dialogs

    first.get_by_role("button", name="Save").click()
    expect(first).to_be_hidden(timeout=WAIT)
    expect(a.page.get_by_test_id("stToast")).to_contain_text("Saved", timeout=WAIT)

    second.get_by_role("button", name="Save").click()
    expect(second.get_by_text(re.compile("was changed by someone else"))).to_be_visible(
        timeout=WAIT)
    [shared] = [c for c in ConnectionService.from_env(environ=replicas.env).list()
                if c.id == replicas.shared.id]
    assert shared.name == f"Shared ({a.cookie})"


def test_each_websocket_stayed_on_its_replica(browsers: tuple[Browser, Browser],
                                              replicas: Replicas) -> None:
    """Last: it closes the browsers, since nginx logs a WebSocket when it closes."""
    for browser in browsers:
        browser.page.context.close()
    streams = _logged_streams(replicas.nginx, {browser.cookie for browser in browsers})
    for browser in browsers:
        assert {r.upstream for r in streams if r.cookie == browser.cookie} == {browser.replica}


def _logged_streams(nginx: Nginx, cookies: set[str], bound: float = 20) -> list[Any]:
    """The WebSocket requests logged for each of ``cookies``, once each has one."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        streams = [r for r in nginx.requests() if "/_stcore/stream" in r.request]
        if cookies <= {r.cookie for r in streams}:
            return streams
        time.sleep(0.1)  # a poll interval, not a wait for the condition
    raise TimeoutError(f"nginx logged no WebSocket for each of {cookies} within {bound} s")



def test_the_readme_shows_the_configuration_tested_here() -> None:
    """The README's nginx snippet is this test's, but for its addresses and paths."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    [snippet] = [block for block in readme.split("```nginx")[1:]
                 if "upstream connections {" in block]
    lines = {line.strip() for line in snippet.split("```")[0].splitlines()}
    missing = [line.strip() for line in PROXY.splitlines()
               if "{servers}" not in line and "{listen}" not in line
               and "{access_log}" not in line and line.strip() not in lines]
    assert not missing, "README's nginx snippet differs from tests/nginx.py's"
