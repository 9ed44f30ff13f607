"""Sign-in for real: `streamlit run` with an ``[auth]`` section, a real OpenID Connect
provider on this machine (``oidc-provider-mock``), and headless Chromium.

Nothing leaves the machine: the provider's sign-in page loads a stylesheet from
a public CDN, so Chromium resolves no name but ``localhost``.  The app is opened
at ``localhost``, the host of its ``redirect_uri``: Streamlit only accepts the
identity cookie from the origin the provider sends people back to.

As in ``tests/test_browser.py``, a missing Chromium or Playwright skips these
tests, except in CI (``CI`` set), where it fails them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connections_core import generate_key
from tests.browsers import CHROMIUM, CHROMIUM_FLAGS, READY, browser_missing, streamlit_run
from tests.fakes import API_KEY, FakeServer
from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
ADMIN, VIEWER, STRANGER = "root@example.com", "vera@example.com", "sam@example.com"
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"
WAIT = 20_000  # ms: the bound of every wait on a condition

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = browser_missing()
    try:
        import oidc_provider_mock  # noqa: F401
    except ImportError:
        missing = missing or "oidc-provider-mock is not installed"
    if missing and os.environ.get("CI"):
        pytest.fail(f"CI needs the sign-in browser test: {missing}")
    if missing:
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=[*CHROMIUM_FLAGS, OFFLINE])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def identity_provider(browser: Any) -> Iterator[str]:
    """An OpenID Connect provider on localhost that knows three people, e-mails verified."""
    from oidc_provider_mock import User, run_server_in_thread

    people = [User(sub=email, claims={"email": email, "email_verified": True})
              for email in (ADMIN, VIEWER, STRANGER)]
    with run_server_in_thread(port=0, user_claims=people) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The data folder and key, in the environment's form."""
    return {"CONNECTIONS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
            "ENCRYPTION_KEY": generate_key(), "CONNECTIONS_ADMINS": ADMIN}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, identity_provider: str,
        data: dict[str, str]) -> Iterator[str]:
    """The app with sign-in on, its ``[auth]`` section in a secrets file of its own
    (the repository's ``.streamlit/secrets.toml`` is neither read nor touched)."""
    port = free_port()
    url = f"http://localhost:{port}"
    secrets_file = tmp_path_factory.mktemp("secrets") / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "{url}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "connections-dashboard"\n'
        f'client_secret = "{secrets.token_hex(16)}"\n'
        f'server_metadata_url = "{identity_provider}/.well-known/openid-configuration"\n')
    env = {**os.environ, **data, "NO_PROXY": "localhost,127.0.0.1"}
    with streamlit_run(env, "localhost", port, "--secrets.files", str(secrets_file)) as running:
        yield running


@pytest.fixture
def new_page(browser: Any, app: str) -> Iterator[Any]:
    """A fresh page, with no cookies."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def _ready(page: Any) -> None:
    page.wait_for_selector(READY, timeout=WAIT)


def sign_in(page: Any, app: str, email: str) -> None:
    """From the app's sign-in page through the provider's, and back."""
    from playwright.sync_api import expect

    page.goto(app)
    expect(page.get_by_role("heading", name="connections")).to_be_visible(timeout=WAIT)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible(timeout=WAIT)
    page.get_by_role("button", name=email, exact=True).click()
    page.wait_for_url(f"{app}/**", timeout=WAIT)
    _ready(page)


def sign_out(page: Any, app: str) -> None:
    """Sign out here, end the session at the provider, and land on the sign-in page."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click(timeout=WAIT)
    page.wait_for_url(f"{app}/**", timeout=WAIT)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT)


def add_member(page: Any, email: str, role: str) -> None:
    from playwright.sync_api import expect

    field = page.get_by_role("textbox", name="E-mail")
    expect(field).to_be_visible(timeout=WAIT)
    field.fill(email)
    field.press("Tab")
    page.get_by_role("combobox", name="Role").last.click()
    page.get_by_role("option", name=role, exact=True).click()
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text(f"{email} is now {role.lower()}")).to_be_visible(timeout=WAIT)


def test_an_admin_shares_a_connection_with_a_viewer_who_cannot_change_it(
        new_page: Any, app: str, provider: FakeServer, browser: Any) -> None:
    from playwright.sync_api import expect

    page = new_page
    sign_in(page, app, ADMIN)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text(f"Signed in as {ADMIN}")).to_be_visible(timeout=WAIT)

    # The admin adds a connection...
    page.get_by_role("button", name="Add connection").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox", name="Name", exact=True).fill("Team OpenAI")
    dialog.get_by_role("textbox", name="API key").fill(API_KEY)
    base_url = dialog.get_by_role("textbox", name="Base URL")
    base_url.fill(provider.openai_url)
    base_url.press("Tab")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden(timeout=WAIT)
    expect(_card(page, "Team OpenAI")).to_be_visible(timeout=WAIT)

    # ...and, in Settings -> Members, themselves as its admin (a workspace with members
    # keeps one), then a viewer.
    page.get_by_role("link", name="Settings").click()
    add_member(page, ADMIN, "Admin")
    add_member(page, VIEWER, "Viewer")
    sign_out(page, app)

    # The viewer, in a browser of their own, sees it and can't change it.
    viewer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        sign_in(viewer, app, VIEWER)
        expect(viewer.get_by_test_id("stSidebar").get_by_text("Viewer in workspace default")) \
            .to_be_visible(timeout=WAIT)
        # On a phone a disabled button's tooltip never shows: the top of the page says it.
        expect(viewer.get_by_text(f"You are a viewer in default: you can see and test "
                                  f"connections. Ask an admin ({ADMIN}) to change them.")) \
            .to_be_in_viewport(timeout=WAIT)
        card = _card(viewer, "Team OpenAI")
        expect(card.get_by_role("button", name="Test", exact=True)).to_be_enabled(timeout=WAIT)
        for action in ("Edit", "Delete"):
            _cannot_press(card.get_by_role("button", name=action, exact=True))
        _cannot_press(viewer.get_by_role("button", name="Add connection"))
        assert API_KEY not in viewer.content()
    finally:
        viewer.context.close()


def test_a_stranger_is_told_whom_to_ask_and_can_sign_out(new_page: Any, app: str) -> None:
    from playwright.sync_api import expect

    sign_in(new_page, app, STRANGER)

    expect(new_page.get_by_text("you don't have access to any workspace yet")) \
        .to_be_visible(timeout=WAIT)
    expect(new_page.get_by_text(ADMIN)).to_be_visible()
    assert not new_page.get_by_text("Team OpenAI").count()
    sign_out(new_page, app)


def _card(page: Any, name: str) -> Any:
    return page.locator("[class*='st-key-conn_card_']").filter(has_text=name)


def _cannot_press(buttons: Any) -> None:
    """Absent, or there and turned off."""
    from playwright.sync_api import expect

    for index in range(buttons.count()):
        expect(buttons.nth(index)).to_be_disabled()
