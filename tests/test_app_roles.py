"""What each role is offered: viewers check, editors change, and the core records who did.

Sign-in is on in every test here; ``ADA`` is the workspace's admin, ``EVE`` an
editor and ``VIC`` a viewer.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from connections_core import Connection, Member
from tests.app_support import (
    CONNECTIONS,
    OLLAMA,
    SETTINGS,
    add,
    assert_clean,
    errors,
    field,
    open_app,
    plain,
    rendered,
    run_checks,
    service,
    texts,
)
from tests.fakes import API_KEY, FakeServer
from ui.roles import admins_to_ask

ADA, EVE, VIC = "ada@example.com", "eve@example.com", "vic@example.com"
#: What a viewer's disabled control says, on hover (a tap shows the notice at the top).
EDITOR_ONLY = "You are a viewer in default: ask an admin to do this, or to make you an editor."
VIEWER_NOTICE = ("You are a viewer in **default**: you can see and test connections. Ask an "
                 f"admin (**{ADA}**) to change them.")
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "c", "client_secret": "s",
        "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}
NOW = datetime(2026, 12, 6, 4, 21, tzinfo=UTC)


def open_as(email: str, page: str | None = None) -> AppTest:
    """The app with sign-in on and ``email`` signed in (and switched to ``page``)."""
    user = {"is_logged_in": True, "email": email, "email_verified": True,
            "exp": time.time() + 3600}
    return open_app(page, secrets={"auth": AUTH}, user=user)


def refused(widget: Any) -> bool:
    """Off, with a tooltip saying why and what to do."""
    return bool(widget.disabled) and plain(widget.help) == EDITOR_ONLY


def notices(at: AppTest) -> list[str]:
    """The notices at the top of the page that say what the person's role lets them do."""
    return [plain(info.value) for info in at.main.info if "You are a" in plain(info.value)]


def last(action: str) -> Any:
    """The newest audit entry with ``action``."""
    [entry] = service().audit(1, action=action)
    return entry


def make_team() -> None:
    core = service()
    core.set_member(ADA, "admin")
    core.set_member(EVE, "editor")
    core.set_member(VIC, "viewer")


@pytest.fixture
def team(data_dir: Any) -> None:
    make_team()


@pytest.fixture
def team_on_a_local_key(data_dir: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The team, with the key generated for local use (its file's path is shown)."""
    monkeypatch.delenv("ENCRYPTION_KEY")
    make_team()


@pytest.fixture
def work(team: None, fake_server: FakeServer) -> Connection:
    return add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)


@pytest.fixture
def local(team: None, fake_server: FakeServer) -> Connection:
    return add("ollama", "Local", baseUrl=fake_server.url)


# -- connections -----------------------------------------------------------------------------

def test_a_viewer_can_test_but_not_add_edit_or_delete(work: Connection,
                                                     fake_server: FakeServer) -> None:
    backup = add("openai", "Backup", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_as(VIC)

    assert not at.button(key=f"conn_test_{work.id}").disabled
    assert not at.button(key="conn_test_all").disabled
    assert refused(at.button(key="conn_add"))
    assert refused(at.button(key=f"conn_edit_{work.id}"))
    assert refused(at.button(key=f"conn_delete_{work.id}"))
    assert refused(at.button(key=f"conn_default_{backup.id}"))
    assert_clean(at)


def test_a_viewers_test_is_recorded_as_theirs(work: Connection) -> None:
    at = open_as(VIC)

    toasts = run_checks(at, f"conn_test_{work.id}")

    assert any(toast.startswith("**Work**: connected (") for toast in toasts)
    entry = last("connection.tested")
    assert (entry.actor, entry.target_id) == (VIC, work.id)


def test_a_viewer_cant_restore_a_deleted_connection(work: Connection) -> None:
    service().delete(work.id)
    at = open_as(VIC)

    assert refused(at.button(key="conn_add_first"))
    assert refused(at.button(key=f"conn_restore_{work.id}"))


def test_an_editor_can_add_a_connection(team: None, fake_server: FakeServer) -> None:
    at = open_as(EVE)
    assert not at.button(key="conn_add_first").disabled

    at.button(key="conn_add_first").click().run()
    field(at, "Name").set_value("Work")
    field(at, "API key").set_value(API_KEY)
    field(at, "Base URL").set_value(fake_server.openai_url)
    at.button(key="conn_form_save").click().run()

    [created] = service().list()
    assert created.name == "Work"
    entry = last("connection.created")
    assert (entry.actor, entry.target_id) == (EVE, created.id)
    assert not at.button(key=f"conn_edit_{created.id}").disabled
    assert_clean(at)


def test_a_dialog_opened_before_the_role_was_lowered_closes(work: Connection) -> None:
    at = open_as(EVE)
    at.button(key=f"conn_edit_{work.id}").click().run()
    assert any(b.key == "conn_form_save" for b in at.button)

    service().set_member(EVE, "viewer")
    at.run()

    assert not any(b.key == "conn_form_save" for b in at.button)
    assert refused(at.button(key=f"conn_edit_{work.id}"))


# -- what a role can't do is said once, at the top -------------------------------------------

def test_a_viewer_is_told_at_the_top_what_they_can_do_and_which_admin_to_ask(
        work: Connection) -> None:
    """A viewer saw only greyed-out buttons, whose tooltips a phone never shows."""
    service().set_member("bob@example.com", "admin")
    at = open_as(VIC)

    assert notices(at) == [VIEWER_NOTICE.replace(f"**{ADA}**",
                                                 f"**{ADA}** or **bob@example.com**")]
    first_below_the_title = at.main.children[2]  # the title, its caption, then this
    assert "You are a viewer" in plain(first_below_the_title.value)
    assert_clean(at)


def test_the_ollama_screen_says_it_too(local: Connection) -> None:
    at = open_as(VIC, OLLAMA)

    assert notices(at) == [f"You are a viewer in **default**: you can see the models on its "
                           f"Ollama servers. Ask an admin (**{ADA}**) to pull or delete them."]


@pytest.mark.parametrize("email", [ADA, EVE])
def test_whoever_can_change_things_gets_no_notice(work: Connection, email: str) -> None:
    for page in (CONNECTIONS, OLLAMA):
        assert notices(open_as(email, page)) == []


def test_with_sign_in_off_nobody_gets_a_notice(work: Connection) -> None:
    for page in (None, OLLAMA):
        assert "You are a" not in texts(open_app(page))


def test_the_admins_to_ask_are_the_workspaces_else_the_instance_admins() -> None:
    members = [Member(VIC, "viewer", ADA, NOW), Member(EVE, "admin", ADA, NOW),
               Member(ADA, "admin", ADA, NOW)]

    assert admins_to_ask(members, frozenset({"root@example.com"})) == [ADA, EVE]
    assert admins_to_ask(members[:1], frozenset({"root@example.com"})) == ["root@example.com"]
    assert admins_to_ask(members[:1], frozenset()) == []


# -- Settings: the server's details are for admins ----------------------------------------------

@pytest.mark.parametrize("email", [EVE, VIC])
def test_settings_shows_no_server_details_but_to_admins(team_on_a_local_key: None, email: str,
                                                        data_dir: Any) -> None:
    """Viewers and editors were shown the data file's path and size, the key file's
    path, and how to rotate the key on the server."""
    at = open_as(email, SETTINGS)

    page = rendered(at) + texts(at)
    for detail in (str(data_dir), "rotate-key", "ENCRYPTION_KEY", "CONNECTIONS_ADMINS"):
        assert detail not in page, detail
    assert "Size" not in [metric.label for metric in at.metric]
    assert "Admins see where the data and the encryption key are kept" in texts(at)
    assert ADA in texts(at), "the members are still listed"
    assert str(data_dir) not in rendered(open_as(email)), "nor on the other screens"
    assert_clean(at)


def test_an_admin_sees_the_server_details(team_on_a_local_key: None, data_dir: Any) -> None:
    at = open_as(ADA, SETTINGS)

    assert str(data_dir / "encryption.key") in texts(at)
    assert "rotate-key" in texts(at)
    assert "Size" in [metric.label for metric in at.metric]


# -- Ollama models ---------------------------------------------------------------------------

def test_a_viewer_cant_pull_or_delete_models(local: Connection) -> None:
    at = open_as(VIC, OLLAMA)
    at.selectbox(key="ollama_selected").select("qwen2.5:0.5b").run()

    assert refused(at.button(key="ollama_pull_start"))
    assert refused(at.button(key="ollama_delete"))
    assert not at.button(key="ollama_refresh").disabled
    assert_clean(at)


def test_an_editors_pull_goes_through_the_service_and_is_recorded(local: Connection) -> None:
    at = open_as(EVE, OLLAMA)
    at.text_input(key="ollama_pull_name").set_value("phi3")
    at.button(key="ollama_pull_start").click().run()

    assert [t.value for t in at.toast] == ["Pulled **phi3**."]
    entry = last("ollama.model_pulled")
    assert (entry.actor, entry.target_id, dict(entry.details)) == (EVE, local.id,
                                                                   {"model": "phi3"})
    assert_clean(at)


def test_an_editors_delete_goes_through_the_service_and_is_recorded(
        local: Connection, fake_server: FakeServer) -> None:
    at = open_as(EVE, OLLAMA)
    at.selectbox(key="ollama_selected").select("qwen2.5:0.5b").run()
    at.button(key="ollama_delete").click().run()
    at.button(key="ollama_delete_confirm").click().run()

    assert [m["name"] for m in fake_server.ollama_models] == ["llama3.2:1b"]
    entry = last("ollama.model_deleted")
    assert (entry.actor, entry.target_id, dict(entry.details)) == (EVE, local.id,
                                                                   {"model": "qwen2.5:0.5b"})
    assert_clean(at)


def test_a_delete_the_core_refuses_is_a_short_error(local: Connection,
                                                    fake_server: FakeServer) -> None:
    """The role was lowered while the dialog was open: the core refuses, and says why."""
    at = open_as(EVE, OLLAMA)
    at.selectbox(key="ollama_selected").select("qwen2.5:0.5b").run()
    at.button(key="ollama_delete").click().run()
    service().set_member(EVE, "viewer")

    at.button(key="ollama_delete_confirm").click().run()

    assert errors(at) == [
        "Your role in workspace 'default' is viewer; delete model needs the editor role."]
    assert len(fake_server.ollama_models) == 2
    assert service().audit(1, action="access.denied")[0].details == {"operation": "delete_model"}
    assert_clean(at)
