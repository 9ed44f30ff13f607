"""What the screens read only, and whom for: looking at an Ollama server records nothing,
changes no connection, and passes the same access rule as everything else.

Only an explicit Test (or Test all) on the Connections screen records a check and
sets a connection's status; the Ollama models screen, its Refresh and a model's
details are reads, each through the service as the person signed in.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from connections_core import Connection
from tests.app_support import (
    OLLAMA,
    ROOT,
    add,
    assert_clean,
    errors,
    open_app,
    service,
    texts,
)
from tests.fakes import FakeServer

ADA, VIC, BOB = "ada@example.com", "vic@example.com", "bob@example.com"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "c", "client_secret": "s",
        "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}


def open_as(email: str, page: str | None = None, *,
            query: dict[str, str] | None = None) -> AppTest:
    """The app with sign-in on and ``email`` signed in (and switched to ``page``)."""
    user = {"is_logged_in": True, "email": email, "email_verified": True,
            "exp": time.time() + 3600}
    return open_app(page, secrets={"auth": AUTH}, user=user, query=query)


def core_imports(path: Path) -> list[tuple[str, str]]:
    """What ``path`` imports from ``connections_core``: (module, name) pairs, with the
    name "" for a whole module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names
                      if alias.name.partition(".")[0] == "connections_core"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "connections_core"):
            found += [(str(node.module), alias.name) for alias in node.names]
    return found


def look_around(at: AppTest, model: str = "qwen2.5:0.5b") -> AppTest:
    """What someone who only looks does on the Ollama screen: Refresh, and a model's
    details."""
    at.button(key="ollama_refresh").click().run()
    at.selectbox(key="ollama_selected").select(model).run()
    assert [tab.label for tab in at.tabs] == ["Parameters", "Template", "License", "Model info"]
    return at


def as_stored(connection: Connection) -> tuple[Any, ...]:
    """What a check would change on a connection."""
    stored = service().get(connection.id)
    return (stored.status, stored.last_checked_at, stored.last_result, stored.available_models,
            stored.version)


@pytest.fixture
def local(data_dir: Any, fake_server: FakeServer) -> Connection:
    return add("ollama", "Local", baseUrl=fake_server.url)


@pytest.fixture
def team(local: Connection) -> Connection:
    """``local`` in a workspace where Ada is admin and Vic a viewer; Bob is in another."""
    core = service()
    core.set_member(ADA, "admin")
    core.set_member(VIC, "viewer")
    service("elsewhere").set_member(BOB, "admin")
    return local


def test_the_screens_reach_the_core_only_through_its_public_api() -> None:
    """The Ollama screen called the ``ollama`` module itself, past the access rule."""
    screens = [ROOT / "dashboard.py", *(ROOT / "app_pages").glob("*.py"),
               *(ROOT / "ui").glob("*.py")]
    imports = {path.relative_to(ROOT).as_posix(): core_imports(path) for path in screens}

    assert any(imports.values()), "the screens use the core"
    assert {where: [f"{module}:{name}" for module, name in found
                    if module != "connections_core" or name in ("", "ollama")]
            for where, found in imports.items()} == {where: [] for where in imports}


def test_looking_at_an_ollama_server_records_nothing(local: Connection,
                                                     fake_server: FakeServer) -> None:
    """Opening the screen was a check: it recorded "Tested a connection" in Activity and
    set the connection's status, though nobody pressed Test."""
    trail, before = service().audit(100), as_stored(local)

    look_around(open_app(OLLAMA))

    assert fake_server.requests_to("/api/tags") and fake_server.requests_to("/api/show")
    assert service().audit(100) == trail
    assert as_stored(local) == before
    assert before[:2] == ("unconfigured", None)


def test_a_viewer_reads_the_models_and_their_details_without_a_trace(
        team: Connection) -> None:
    trail, before = service().audit(100), as_stored(team)

    at = look_around(open_as(VIC, OLLAMA))

    assert [c.value for c in at.code] == ['stop "<|eot_id|>"', "{{ .Prompt }}"]
    assert service().audit(100) == trail  # nothing refused, nothing tested
    assert as_stored(team) == before
    assert_clean(at)


def test_a_models_details_are_read_again_for_another_person(
        team: Connection, fake_server: FakeServer) -> None:
    """Details were kept by server address for a few minutes, for everyone: one
    person's read, past the access rule, was served to the next."""
    look_around(open_as(ADA, OLLAMA))
    read_for_ada = len(fake_server.requests_to("/api/show"))

    look_around(open_as(VIC, OLLAMA))

    assert len(fake_server.requests_to("/api/show")) > read_for_ada


def test_a_models_details_are_kept_for_the_person_who_read_them(
        team: Connection, fake_server: FakeServer) -> None:
    at = look_around(open_as(VIC, OLLAMA))
    read = len(fake_server.requests_to("/api/show"))

    at.run()
    at.run()

    assert len(fake_server.requests_to("/api/show")) == read
    assert [tab.label for tab in at.tabs] == ["Parameters", "Template", "License", "Model info"]


def test_a_signed_in_stranger_reads_nothing_from_the_server(
        team: Connection, fake_server: FakeServer) -> None:
    at = open_as(BOB, OLLAMA, query={"workspace": "default"})

    assert "You don't have access to the workspace default" in texts(at).replace("**", "")
    assert not fake_server.requests
    assert not at.tabs and not at.dataframe


def test_a_refresh_that_cant_reach_the_server_says_so(local: Connection,
                                                      fake_server: FakeServer) -> None:
    """The error was dropped, and the models read before stayed on screen as if there."""
    at = open_app(OLLAMA)
    fake_server.respond("/api/tags", 500, {"error": "the disk is gone"})

    at.button(key="ollama_refresh").click().run()

    assert any("the disk is gone" in message for message in errors(at))
    assert not at.dataframe and not at.metric
    assert service().audit(100, action="connection.tested") == []


# -- the confirmation every delete shares ----------------------------------------------------

def test_a_delete_that_fails_says_why_in_the_dialog_which_stays_open(
        local: Connection) -> None:
    at = open_app()
    at.button(key=f"conn_delete_{local.id}").click().run()
    service().delete(local.id)  # meanwhile, elsewhere

    at.button(key="conn_delete_confirm").click().run()

    assert f"No connection with id '{local.id}' in this workspace." in texts(at)
    assert "conn_delete_cancel" in [button.key for button in at.button]
    at.button(key="conn_delete_cancel").click().run()
    assert "conn_delete_confirm" not in [button.key for button in at.button]
    assert_clean(at)


def asked(at: AppTest) -> list[tuple[str, str, str]]:
    """The buttons of the confirmation open: (label, kind, what its key ends with)."""
    return [(b.label, b.proto.type, str(b.key).rpartition("_")[2]) for b in at.button
            if str(b.key).endswith(("_delete_confirm", "_delete_cancel"))]


def test_both_deletes_ask_the_same_way(local: Connection) -> None:
    at = open_app()
    at.button(key=f"conn_delete_{local.id}").click().run()
    asked_for_a_connection = asked(at)
    at.button(key="conn_delete_cancel").click().run()

    at.switch_page(OLLAMA).run()
    at.selectbox(key="ollama_selected").select("qwen2.5:0.5b").run()
    at.button(key="ollama_delete").click().run()
    asked_for_a_model = asked(at)

    assert asked_for_a_connection == asked_for_a_model == [
        ("Delete", "primary", "confirm"), ("Cancel", "secondary", "cancel")]

