"""Settings: the workspace's members and their roles, and whether sign-in is on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_support import (
    SETTINGS,
    assert_clean,
    errors,
    open_app,
    plain,
    rendered,
    service,
    texts,
)
from ui.members import SIGN_IN_OFF

ADA, BOB = "ada@example.com", "bob@example.com"
CLIENT_SECRET = "client-secret-never-shown-4242"
COOKIE_SECRET = "cookie-secret-never-shown-" + "7" * 32
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": COOKIE_SECRET,
        "client_id": "connections-dashboard", "client_secret": CLIENT_SECRET,
        "server_metadata_url": "https://login.example.com/.well-known/openid-configuration"}


def open_as(email: str, page: str = SETTINGS) -> AppTest:
    """The app with sign-in on and ``email`` signed in, switched to ``page``."""
    user = {"is_logged_in": True, "email": email, "email_verified": True,
            "exp": time.time() + 3600}
    return open_app(page, secrets={"auth": AUTH}, user=user)


def roles() -> dict[str, str]:
    return {member.email: member.role for member in service().members()}


def member_controls(at: AppTest) -> list[str]:
    return [widget.key for widget in (*at.text_input, *at.selectbox, *at.button)
            if widget.key and widget.key.startswith("settings_member")]


@pytest.fixture
def ada(data_dir: Path) -> str:
    """Ada, the default workspace's admin."""
    service().set_member(ADA, "admin")
    return ADA


def add_member(at: AppTest, email: str, role: str) -> AppTest:
    at.text_input(key="settings_member_email").set_value(email)
    at.selectbox(key="settings_member_role").select(role)
    return at.button(key="settings_member_add").click().run()


# -- members ---------------------------------------------------------------------------------

def test_an_admin_adds_a_member_with_a_role(ada: str) -> None:
    at = add_member(open_as(ADA), BOB, "editor")

    assert roles() == {ADA: "admin", BOB: "editor"}
    assert [plain(t.value) for t in at.toast] == [f"**{BOB}** is now editor."]
    assert at.selectbox(key=f"settings_member_role_{BOB}").value == "editor"
    assert at.text_input(key="settings_member_email").value == ""
    assert_clean(at)


def test_an_invalid_email_shows_the_error_under_the_field(ada: str) -> None:
    at = add_member(open_as(ADA), "bob at example", "editor")

    assert errors(at) == ["This is not an e-mail address; enter one like ada@example.com."]
    assert at.text_input(key="settings_member_email").value == "bob at example"
    assert roles() == {ADA: "admin"}


def test_an_admin_changes_a_role(ada: str) -> None:
    service().set_member(BOB, "viewer")
    at = open_as(ADA)

    at.selectbox(key=f"settings_member_role_{BOB}").select("editor").run()

    assert roles()[BOB] == "editor"
    assert at.selectbox(key=f"settings_member_role_{BOB}").value == "editor"
    assert [plain(t.value) for t in at.toast] == [f"**{BOB}** is now editor."]


def test_a_role_changed_elsewhere_is_shown_and_not_sent_back(ada: str) -> None:
    service().set_member(BOB, "viewer")
    at = open_as(ADA)
    service().set_member(BOB, "editor")

    at.run()

    assert at.selectbox(key=f"settings_member_role_{BOB}").value == "editor"
    assert roles()[BOB] == "editor"


def test_the_last_admin_cant_step_down_and_is_told_why(ada: str) -> None:
    service().set_member(BOB, "viewer")
    at = open_as(ADA)

    at.selectbox(key=f"settings_member_role_{ADA}").select("viewer").run()

    assert any(e.startswith("A workspace with members keeps at least one admin")
               for e in errors(at))
    assert roles()[ADA] == "admin"
    assert at.selectbox(key=f"settings_member_role_{ADA}").value == "admin"
    assert_clean(at)


def test_an_admin_removes_a_member(ada: str) -> None:
    service().set_member(BOB, "editor")
    at = open_as(ADA)

    at.button(key=f"settings_member_remove_{BOB}").click().run()

    assert roles() == {ADA: "admin"}
    assert [plain(t.value) for t in at.toast] == [f"Removed **{BOB}**."]
    assert f"settings_member_remove_{BOB}" not in member_controls(at)


def test_a_viewer_sees_the_members_without_controls(ada: str) -> None:
    service().set_member(BOB, "viewer")
    at = open_as(BOB)

    assert ADA in texts(at) and BOB in texts(at)
    assert member_controls(at) == []
    assert_clean(at)


# -- sign-in ---------------------------------------------------------------------------------

def test_with_sign_in_off_it_warns_before_the_url_is_shared(data_dir: Path) -> None:
    at = open_app(SETTINGS)

    assert SIGN_IN_OFF in [w.value for w in at.main.warning]
    assert SIGN_IN_OFF == ("Anyone who can open this page can change the connections and where "
                           "the application's requests go; turn on sign-in before sharing the "
                           "URL.")
    assert "settings_member_add" in member_controls(at)  # open: everyone is trusted


def test_with_sign_in_on_it_names_the_provider_and_no_secret(ada: str) -> None:
    at = open_as(ADA)

    assert any(plain(s.value).startswith("Sign-in is on: people sign in with "
                                         "**login.example.com**") for s in at.success)
    assert SIGN_IN_OFF not in texts(at)
    page = rendered(at)
    assert CLIENT_SECRET not in page and COOKIE_SECRET not in page
