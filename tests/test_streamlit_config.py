"""The options in ``.streamlit/config.toml``, as written and against a real ``streamlit run``.

The WebSocket at ``/_stcore/stream`` drives the app: whoever opens it can click
every button.  Its handshake is sent here by hand, over a plain socket, with
the Host and Origin a browser would send from each kind of page.  A refused
handshake is answered ``403 Forbidden``; an accepted one ``101 Switching
Protocols``.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import socket
import subprocess
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from connections_core import ConnectionService, generate_key
from tests.browsers import READY, ROOT, streamlit_run
from tests.fakes import FakeServer
from tests.support import contrast, free_port

ACCEPTED, REFUSED = 101, 403
CONFIG = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
WHITE = "#ffffff"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, provider: FakeServer) -> dict[str, str]:
    """A data folder with an Ollama connection (its screen has tables), and a key."""
    env = {**os.environ, "CONNECTIONS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
           "ENCRYPTION_KEY": generate_key()}
    env.pop("STREAMLIT_SERVER_ALLOWED_HOSTS", None)
    ConnectionService.from_env(environ=env).create("ollama", "Local", {"baseUrl": provider.url})
    return env


@pytest.fixture(scope="module")
def port(env: dict[str, str]) -> Iterator[int]:
    """The app with the repository's config, on 127.0.0.1."""
    port = free_port()
    with streamlit_run(env, "127.0.0.1", port):
        yield port


def handshake(port: int, host: str, origin: str | None) -> int:
    """The status of a WebSocket handshake to the app on 127.0.0.1:``port``."""
    headers = [f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
               f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
               "Sec-WebSocket-Version: 13", *([f"Origin: {origin}"] if origin else [])]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall("\r\n".join(["GET /_stcore/stream HTTP/1.1", *headers, "", ""]).encode())
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def test_the_apps_own_page_may_open_the_websocket(port: int) -> None:
    assert handshake(port, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}") == ACCEPTED


def test_the_app_opened_as_localhost_may_open_the_websocket(port: int) -> None:
    assert handshake(port, f"localhost:{port}", f"http://localhost:{port}") == ACCEPTED


def test_a_page_of_another_origin_may_not(port: int) -> None:
    assert handshake(port, f"127.0.0.1:{port}", "http://evil.example") == REFUSED


def test_a_page_on_a_name_that_resolves_here_may_not(port: int) -> None:
    """DNS rebinding: evil.example's page, its name now resolving to this machine, is
    same-origin with the app it reaches, and Streamlit accepted it."""
    assert handshake(port, f"evil.example:{port}", f"http://evil.example:{port}") == REFUSED


def test_a_client_on_a_foreign_host_name_and_no_origin_may_not(port: int) -> None:
    assert handshake(port, f"evil.example:{port}", None) == REFUSED


def test_the_network_url_streamlit_prints_opens_the_app(port: int) -> None:
    """A colleague opens the app by this machine's address; the handshake got 403."""
    for address in machine_addresses():
        host = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        assert handshake(port, host, f"http://{host}") == ACCEPTED, address


def test_the_app_opened_by_this_machines_host_name_may_open_the_websocket(port: int) -> None:
    host = f"{socket.gethostname().lower()}:{port}"
    assert handshake(port, host, f"http://{host}") == ACCEPTED


def test_a_deployment_names_its_own_host_in_the_environment(env: dict[str, str]) -> None:
    """What the README tells a deployment behind a proxy to do: its list is the whole
    list, this machine's addresses not added."""
    port = free_port()
    named = {**env, "STREAMLIT_SERVER_ALLOWED_HOSTS": "dashboard.example.com"}
    with streamlit_run(named, "127.0.0.1", port):
        assert handshake(port, "dashboard.example.com", "https://dashboard.example.com") \
            == ACCEPTED
        assert handshake(port, f"evil.example:{port}", f"http://evil.example:{port}") == REFUSED
        address = machine_addresses()[0]
        assert handshake(port, f"{address}:{port}", f"http://{address}:{port}") == REFUSED


def machine_addresses() -> list[str]:
    """This machine's addresses other than loopback, as ``ip`` lists them (not as
    the code under test finds them)."""
    try:
        listed = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True,
                                check=False).stdout
    except FileNotFoundError:
        pytest.skip("no `ip` command to list this machine's addresses with")
    addresses = [word.split("/")[0] for line in listed.splitlines()
                 for kind, word in zip(line.split(), line.split()[1:], strict=False)
                 if kind in ("inet", "inet6")]
    found = [a for a in addresses if not ipaddress.ip_address(a).is_loopback]
    if not found:
        pytest.skip("this machine has no address but loopback")
    return found


def test_tables_offer_no_csv_download(browser: Any, port: int) -> None:
    """Streamlit's own CSV leaves a cell starting with ``=`` to a spreadsheet to run."""
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{port}/ollama_models")
    page.wait_for_selector(READY, timeout=20_000)
    page.get_by_test_id("stDataFrame").first.hover()
    toolbar = page.get_by_test_id("stElementToolbar").first
    expect(toolbar.get_by_role("button", name="Search")).to_be_visible(timeout=20_000)
    expect(toolbar.get_by_role("button", name="Download as CSV")).to_have_count(0)
    page.close()


# -- what the people using the dashboard see ----------------------------------------------------

def test_no_streamlit_menu_toolbar_or_running_widget() -> None:
    """ "viewer" still showed "Record screen", "Made with Streamlit" and "Running... Stop"."""
    assert CONFIG["client"]["toolbarMode"] == "minimal"


def test_the_top_bar_stays_for_the_sidebar_button_on_a_phone() -> None:
    assert not CONFIG.get("ui", {}).get("hideTopBar", False)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_white_text_on_the_primary_colour_meets_wcag_aa(theme: str) -> None:
    assert contrast(CONFIG["theme"][theme]["primaryColor"], WHITE) >= 4.5
