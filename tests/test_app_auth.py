"""Sign-in: the gate before every screen, who is signed in, and the workspaces they may open.

Sign-in is on when the secrets have an ``[auth]`` section; ``at.user`` plays
what Streamlit copies from the ID token into ``st.user``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.app_support import (
    assert_clean,
    errors,
    open_app,
    plain,
    rendered,
    service,
    texts,
)
from ui.auth import sign_in_status
from ui.format import md

ADA, BOB, ROOT = "ada@example.com", "bob@example.com", "root@example.com"
YEAR_2100 = 4_102_444_800  # seconds since the epoch
CLIENT_SECRET = "client-secret-never-shown-4242"
COOKIE_SECRET = "cookie-secret-never-shown-" + "7" * 32
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": COOKIE_SECRET,
        "client_id": "connections-dashboard", "client_secret": CLIENT_SECRET,
        "server_metadata_url": "https://login.example.com/.well-known/openid-configuration"}


def claims(email: str, **more: Any) -> dict[str, Any]:
    """``st.user`` after a sign-in: the ID token's claims, valid for an hour."""
    return {"is_logged_in": True, "email": email, "email_verified": True,
            "exp": int(time.time()) + 3600, **more}


def open_as(email: str | None, query: dict[str, str] | None = None, **more: Any) -> AppTest:
    """The app with sign-in on, as ``email`` (None: nobody signed in)."""
    user = {"email": "unused@example.com"} if email is None else claims(email, **more)
    return open_app(secrets={"auth": AUTH}, user=user, query=query)


def buttons(at: AppTest) -> list[str]:
    return [button.label for button in at.button]


def said(at: AppTest) -> str:
    """What a person reads, bold or not."""
    return texts(at).replace("**", "")


def refusals(at: AppTest) -> list[str]:
    return [error.replace("**", "") for error in errors(at)]


def sidebar_text(at: AppTest) -> str:
    return "\n".join(plain(caption.value) for caption in at.sidebar.caption).replace("**", "")


def may_make_workspaces(at: AppTest) -> bool:
    return any(field.key == "sidebar_new_workspace" for field in at.sidebar.text_input)


def file_bytes(data_dir: Path) -> bytes:
    return (data_dir / "connections.json").read_bytes()


@pytest.fixture
def admins(monkeypatch: pytest.MonkeyPatch) -> str:
    """Root is the instance admin."""
    monkeypatch.setenv("CONNECTIONS_ADMINS", ROOT)
    return ROOT


@pytest.fixture
def ada(data_dir: Path, admins: str) -> str:
    """Ada, the editor of the default workspace."""
    service().set_member(ROOT, "admin")
    service().set_member(ADA, "editor")
    return ADA


# -- the sign-in page ------------------------------------------------------------------------

def test_with_sign_in_on_a_visitor_gets_the_sign_in_page_and_nothing_else(data_dir: Path) -> None:
    at = open_as(None)

    assert at.title[0].value == "connections"
    assert buttons(at) == ["Sign in"]
    assert not at.sidebar.selectbox  # no workspace, no navigation
    assert not data_dir.exists()  # nothing was opened, let alone written
    assert_clean(at)


def test_sign_in_hands_over_to_the_identity_provider(data_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``st.login()`` redirects the browser (tests/test_browser_auth.py follows it for real)."""
    logins: list[tuple[Any, ...]] = []
    monkeypatch.setattr(st, "login", lambda *args: logins.append(args))
    at = open_as(None)

    at.button(key="auth_sign_in").click().run()

    assert logins == [()]  # the [auth] section's own provider


def test_a_session_past_its_token_expiry_signs_in_again(ada: str) -> None:
    at = open_as(ADA, exp=int(time.time()) - 60)

    assert "Your session expired. Sign in again to continue." in said(at)
    assert buttons(at) == ["Sign in"]
    assert ADA not in rendered(at)


def test_a_token_with_no_expiry_counts_as_expired(ada: str) -> None:
    at = open_as(ADA, exp=None)

    assert "Your session expired" in texts(at)


def test_an_unverified_email_is_refused(ada: str) -> None:
    at = open_as(ADA, email_verified=False)

    assert f"has not verified {ADA}" in refusals(at)[0]
    assert buttons(at) == ["Sign out"]
    assert not at.sidebar.selectbox


@pytest.mark.parametrize("verified", [0, "0", "no", None, "False ", "true", 1])
def test_only_a_boolean_true_verifies_the_email(verified: Any) -> None:
    """Only ``false`` (or "false" in any case) was refused: ``0``, ``"0"``, ``"no"``,
    ``null`` and ``"False "`` let an address the provider did not verify in."""
    assert sign_in_status(claims(ADA, email_verified=verified), time.time()) == "unverified"


def test_an_email_verified_of_no_gets_the_refusal(ada: str) -> None:
    at = open_as(ADA, email_verified="no")

    assert f"has not verified {ADA}" in refusals(at)[0]
    assert not at.sidebar.selectbox


def test_a_sign_in_without_an_email_is_refused(data_dir: Path) -> None:
    at = open_as("")

    assert "sent no e-mail address" in errors(at)[0]
    assert buttons(at) == ["Sign out"]


@pytest.mark.parametrize(("claims_", "status"), [
    ({}, "signed_out"),
    ({"is_logged_in": False, "email": ADA}, "signed_out"),
    # Built when the tests are collected: a minute ahead would have passed by the time
    # this runs after slower tests.
    (claims(ADA, exp=str(YEAR_2100)), "signed_in"),
    (claims(ADA, exp="soon"), "expired"),
    (claims(ADA, exp=True), "expired"),
    (claims(ADA, email_verified="false"), "unverified"),
    ({k: v for k, v in claims(ADA).items() if k != "email_verified"}, "signed_in"),
])
def test_sign_in_status(claims_: dict[str, Any], status: str) -> None:
    assert sign_in_status(claims_, time.time()) == status


# -- a bad [auth] section ----------------------------------------------------------------------

@pytest.mark.parametrize(("change", "named"), [
    ({"client_id": None}, "`client_id` is missing in the `[auth]` section."),
    ({"cookie_secret": ""}, "`cookie_secret` is empty in the `[auth]` section."),
    ({"cookie_secret": "short"}, "`cookie_secret` is too short"),
    ({"client_secret": 42}, "`client_secret` in the `[auth]` section must be text"),
    ({"redirect_uri": "http://localhost:8501/"}, "`redirect_uri` must be this app's address "
                                                 "followed by `/oauth2callback`"),
    ({"server_metadata_url": "login.example.com"}, "`server_metadata_url` must be an http"),
])
def test_a_bad_auth_section_names_the_setting_and_stops(data_dir: Path, change: dict[str, Any],
                                                        named: str) -> None:
    auth = {name: value for name, value in {**AUTH, **change}.items() if value is not None}
    at = open_app(secrets={"auth": auth}, user=claims(ADA))

    assert at.title[0].value == "Sign-in is not set up correctly"
    assert any(named in error for error in errors(at)), errors(at)
    assert "[auth]" in texts(at)  # what a good section looks like
    assert CLIENT_SECRET not in rendered(at) and COOKIE_SECRET not in rendered(at)
    assert not at.button and not at.sidebar.selectbox
    assert_clean(at)


def test_an_auth_section_that_is_not_a_section_is_explained(data_dir: Path) -> None:
    at = open_app(secrets={"auth": "on"}, user=claims(ADA))

    assert "`auth` must be a section" in errors(at)[0]


# -- signed in ---------------------------------------------------------------------------------

def test_a_member_gets_the_app_with_who_they_are_and_sign_out(ada: str) -> None:
    at = open_as(ADA)

    assert at.title[0].value == "Connections"
    assert f"Signed in as {ADA}" in sidebar_text(at)
    assert "Editor in workspace default." in sidebar_text(at)
    assert at.sidebar.button(key="sidebar_sign_out").label == "Sign out"
    assert_clean(at)


def test_the_email_is_compared_in_lower_case(ada: str) -> None:
    at = open_as("Ada@Example.COM")

    assert at.title[0].value == "Connections"
    assert f"Signed in as {ADA}" in sidebar_text(at)


def test_a_kelvin_sign_is_not_a_k(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unicode lower-cases the Kelvin sign to "k": someone whose provider verified
    ``\\u212aim@example.com`` was signed in as kim@example.com, an instance admin."""
    kim, kelvin = "kim@example.com", "\u212aim@example.com"
    monkeypatch.setenv("CONNECTIONS_ADMINS", kim)
    service().set_member(kim, "admin")
    at = open_as(kelvin)

    assert f"You are signed in as {kelvin}, but you don't have access to any workspace " \
        "yet." in said(at)
    assert not at.sidebar.selectbox
    assert_clean(at)


def test_sign_out_signs_out(ada: str, monkeypatch: pytest.MonkeyPatch) -> None:
    logouts: list[bool] = []
    monkeypatch.setattr(st, "logout", lambda: logouts.append(True))
    at = open_as(ADA)

    at.sidebar.button(key="sidebar_sign_out").click().run()

    assert logouts == [True]


def test_with_sign_in_off_nobody_is_named_and_there_is_no_sign_out(data_dir: Path) -> None:
    at = open_app()

    assert at.title[0].value == "Connections"
    assert "Signed in as" not in sidebar_text(at)
    assert "Sign out" not in buttons(at)


def test_instance_admins_can_come_from_the_secrets(data_dir: Path) -> None:
    at = open_app(secrets={"auth": AUTH, "CONNECTIONS_ADMINS": [ROOT]}, user=claims(ROOT))

    assert at.title[0].value == "Connections"
    assert "Instance admin" in sidebar_text(at)


# -- signing out ends every session -------------------------------------------------------------

@pytest.fixture
def logouts(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """``st.logout()`` calls (it redirects the browser: tests/test_browser_auth.py follows it)."""
    calls: list[bool] = []
    monkeypatch.setattr(st, "logout", lambda: calls.append(True))
    return calls


def an_hour_ago() -> int:
    return int(time.time()) - 3600


def test_signing_out_in_one_tab_ends_the_others(ada: str, logouts: list[bool]) -> None:
    """``st.logout()`` ends only the tab it runs in (Streamlit keeps no session on the
    server): another tab, or a copy of the cookie, stayed signed in until the token's exp."""
    here, there = open_as(ADA, iat=an_hour_ago()), open_as(ADA, iat=an_hour_ago())

    here.sidebar.button(key="sidebar_sign_out").click().run()
    there.run()

    assert logouts == [True]
    assert "This session has ended: you signed out in another tab or browser" in said(there)
    assert buttons(there) == ["Sign in"]
    assert not there.sidebar.selectbox and ADA not in rendered(there)
    assert_clean(there)


def test_signing_in_again_after_signing_out_gets_in(ada: str, logouts: list[bool]) -> None:
    open_as(ADA, iat=an_hour_ago()).sidebar.button(key="sidebar_sign_out").click().run()

    at = open_as(ADA, iat=int(time.time()) + 1)  # issued after the sign-out

    assert at.title[0].value == "Connections"
    assert f"Signed in as {ADA}" in sidebar_text(at)


def test_removing_a_member_ends_their_open_session(ada: str) -> None:
    """A removed member's open tab went on (to the no-access page, or their other
    workspaces) until the token's exp."""
    service("team-a").set_member(ROOT, "admin")
    service("team-a").set_member(ADA, "viewer")
    at = open_as(ADA, iat=an_hour_ago())

    service().remove_member(ADA)
    at.run()

    assert "This session has ended" in said(at)
    assert buttons(at) == ["Sign in"]


def test_a_token_without_an_issue_time_ends_at_a_sign_out(ada: str) -> None:
    """Its age can't be told, so once its person has signed out it counts as from before."""
    assert open_as(ADA).title[0].value == "Connections"  # no iat: fine until a sign-out
    service().sign_out(ADA)

    assert "This session has ended" in said(open_as(ADA))


def test_someone_in_no_workspace_signs_out_everywhere(ada: str, logouts: list[bool]) -> None:
    there = open_as(BOB, iat=an_hour_ago())

    open_as(BOB, iat=an_hour_ago()).button(key="auth_no_access_sign_out").click().run()
    there.run()

    assert "This session has ended" in said(there)


def test_an_unverified_identity_signs_out_here_only(ada: str, logouts: list[bool]) -> None:
    """Its address is not proven to be theirs: recording a sign-out for it would let
    anyone end the sessions of the address's owner."""
    owner = open_as(ADA, iat=an_hour_ago())

    open_as(ADA, email_verified=False).button(key="auth_refused_sign_out").click().run()

    assert logouts == [True]
    assert owner.run().title[0].value == "Connections"
    assert service().signed_out_at(ADA) is None


def test_a_sign_out_is_in_the_activity(ada: str, logouts: list[bool]) -> None:
    open_as(ADA, iat=an_hour_ago()).sidebar.button(key="sidebar_sign_out").click().run()

    entry = service().audit(limit=1)[0]
    assert (entry.actor, entry.action) == (ADA, "session.signed_out")


# -- no access ---------------------------------------------------------------------------------

def test_someone_in_no_workspace_is_told_whom_to_ask(ada: str) -> None:
    at = open_as(BOB)

    assert f"You are signed in as {BOB}, but you don't have access to any workspace yet." \
        in said(at)
    assert f"Ask an admin of this dashboard to add you to a workspace: {ROOT}." in said(at)
    assert buttons(at) == ["Sign out"]
    assert not at.sidebar.selectbox  # no app around it
    assert_clean(at)


def test_with_no_instance_admin_the_page_says_how_to_name_one(data_dir: Path) -> None:
    service().set_member(ADA, "admin")
    at = open_as(BOB)

    assert "CONNECTIONS_ADMINS" in texts(at)


def test_a_link_to_a_workspace_you_cannot_open_says_so_and_writes_nothing(
        ada: str, data_dir: Path) -> None:
    service("team-b").set_member(ROOT, "admin")
    service("team-b").create("ollama", "Team B's server", {})
    before = file_bytes(data_dir)
    at = open_as(ADA, query={"workspace": "team-b"})

    assert refusals(at) == ["You don't have access to the workspace team-b. Ask one of its "
                            "admins to add you, or open one of yours."]
    assert "Team B's server" not in rendered(at)
    assert file_bytes(data_dir) == before
    assert_clean(at)

    at.button(key="workspace_open_default").click().run()

    assert at.title[0].value == "Connections" and not errors(at)
    assert at.sidebar.selectbox(key="workspace").value == "default"


def test_a_workspace_name_in_a_refusal_is_shown_as_written(ada: str) -> None:
    name = "**bold** [x](http://evil.example)"
    at = open_as(ADA, query={"workspace": name})

    assert f"the workspace **{md(name)}**." in at.error[0].value


# -- the workspace picker ------------------------------------------------------------------------

def test_the_picker_offers_only_the_workspaces_you_may_open(ada: str) -> None:
    service("team-a").set_member(ROOT, "admin")
    service("team-a").set_member(ADA, "viewer")
    service("team-b").set_member(ROOT, "admin")
    at = open_as(ADA)

    assert at.sidebar.selectbox(key="workspace").options == ["default", "team-a"]


def test_someone_without_the_default_workspace_lands_in_their_own(ada: str) -> None:
    service("team-a").set_member(ROOT, "admin")
    service("team-a").set_member(BOB, "viewer")
    at = open_as(BOB)

    assert at.sidebar.selectbox(key="workspace").value == "team-a"
    assert at.title[0].value == "Connections" and not errors(at)
    assert "Viewer in workspace team-a." in sidebar_text(at)


def test_choosing_a_workspace_opens_it(ada: str) -> None:
    service("team-a").set_member(ROOT, "admin")
    service("team-a").set_member(ADA, "viewer")
    service("team-a").create("ollama", "Team A's server", {})
    at = open_as(ADA)

    at.sidebar.selectbox(key="workspace").select("team-a").run()

    assert "Team A's server" in texts(at)
    assert "Viewer in workspace team-a." in sidebar_text(at)


def test_only_instance_admins_may_make_a_workspace(ada: str) -> None:
    assert not may_make_workspaces(open_as(ADA))
    assert may_make_workspaces(open_as(ROOT))


def test_a_new_workspace_makes_its_creator_its_admin_and_opens_it(ada: str) -> None:
    at = open_as(ROOT)

    at.sidebar.text_input(key="sidebar_new_workspace").set_value("team-c")
    at.sidebar.button(key="sidebar_new_workspace_create").click().run()

    assert [(m.email, m.role) for m in service("team-c").members()] == [(ROOT, "admin")]
    assert at.sidebar.selectbox(key="workspace").value == "team-c"
    assert "Created workspace team-c." in said(at)
    assert_clean(at)


def test_a_new_workspace_needs_a_name(ada: str) -> None:
    at = open_as(ROOT)

    at.sidebar.button(key="sidebar_new_workspace_create").click().run()

    assert "A workspace id is 1-100 characters." in errors(at)
    assert at.sidebar.selectbox(key="workspace").value == "default"


def test_with_sign_in_off_anyone_may_open_a_new_workspace(data_dir: Path) -> None:
    at = open_app()

    at.sidebar.text_input(key="sidebar_new_workspace").set_value("scratch")
    at.sidebar.button(key="sidebar_new_workspace_create").click().run()

    assert at.sidebar.selectbox(key="workspace").value == "scratch"
    assert "Workspace scratch" in said(at)
    assert may_make_workspaces(at)
