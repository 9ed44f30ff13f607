"""What each role is offered: viewers check, editors change, and the core records who did.

Sign-in is on in every test here; ``ADA`` is the workspace's admin, ``EVE`` an
editor and ``VIC`` a viewer.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from connections_core import Connection
from tests.app_support import (
    OLLAMA,
    add,
    assert_clean,
    errors,
    field,
    open_app,
    run_checks,
    service,
)
from tests.fakes import API_KEY, FakeServer

ADA, EVE, VIC = "ada@example.com", "eve@example.com", "vic@example.com"
EDITOR_ONLY = "Needs the editor role"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "c", "client_secret": "s",
        "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}


def open_as(email: str, page: str | None = None) -> AppTest:
    """The app with sign-in on and ``email`` signed in (and switched to ``page``)."""
    user = {"is_logged_in": True, "email": email, "email_verified": True,
            "exp": time.time() + 3600}
    return open_app(page, secrets={"auth": AUTH}, user=user)


def refused(widget: Any) -> bool:
    """Off, with a tooltip naming the role it needs."""
    return bool(widget.disabled) and widget.help == EDITOR_ONLY


def last(action: str) -> Any:
    """The newest audit entry with ``action``."""
    [entry] = service().audit(1, action=action)
    return entry


@pytest.fixture
def team(data_dir: Any) -> None:
    core = service()
    core.set_member(ADA, "admin")
    core.set_member(EVE, "editor")
    core.set_member(VIC, "viewer")


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
