"""What a person or a server wrote reaches Streamlit's Markdown escaped, on every screen.

Each test plants :data:`PAYLOAD` (an image, a link and an HTML image, all to a
loopback address) where the issue found it unescaped, and reads every element
that Streamlit renders as Markdown.  ``tests/test_browser_markdown.py`` proves
the same in Chromium, where it counts: no request leaves for the address.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from connections_core import Connection
from tests.app_support import (
    OLLAMA,
    SETTINGS,
    add,
    errors,
    open_app,
    plain,
    run_checks,
    service,
)
from tests.fakes import API_KEY, FakeServer, ollama_model

PAYLOAD = ("![x](http://127.0.0.1:9/t)[sign in again](http://127.0.0.1:9/x)"
           "<img src=http://127.0.0.1:9/i>")  # at most 100 characters: a name's limit
#: The payload as a model name may be (no spaces), for a server to list.
MODEL = "![x](http://127.0.0.1:9/t)[sign-in-again](http://127.0.0.1:9/x)"
#: What the payload's parts look like when they are Markdown or HTML rather than text.
RAW = ("![x](http", "[sign in again](http", "[sign-in-again](http", "<img src=http")
#: Elements that show text as it is (cells, options, typed values, code), never Markdown.
PLAIN_KINDS = {"code", "dataframe", "json", "text", "selectbox", "multiselect", "text_input",
               "date_input"}


def markdown_sources(at: AppTest) -> list[str]:
    """Everything Streamlit renders as Markdown, as sent (each element's message)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if getattr(node, "type", None) in PLAIN_KINDS:
            return
        found.append(str(getattr(node, "proto", "")))
        for child in getattr(node, "children", {}).values():
            walk(child)

    for root in (at.main, at.sidebar, *at.toast):
        walk(root)
    return found


def assert_escaped(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    unescaped = [source for source in markdown_sources(at) if any(raw in source for raw in RAW)]
    assert not unescaped


def test_a_workspace_id_in_the_url_is_text_on_settings(data_dir: Path) -> None:
    at = open_app(SETTINGS, query={"workspace": PAYLOAD})

    assert {m.label: plain(m.value) for m in at.metric}["Workspace"] == PAYLOAD
    assert_escaped(at)


def test_a_workspace_id_too_long_is_text_in_its_error(data_dir: Path) -> None:
    at = open_app(query={"workspace": PAYLOAD * 2})

    assert errors(at)[0].startswith(f"'{PAYLOAD * 2}' can't be a workspace")
    assert_escaped(at)


def test_a_connection_name_is_text_on_its_card_and_in_a_check(data_dir: Path,
                                                              fake_server: FakeServer) -> None:
    named = add("openai", PAYLOAD, apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_app()
    toasts = run_checks(at, f"conn_test_{named.id}")

    assert any(toast.startswith(f"**{PAYLOAD}**: connected") for toast in toasts)
    assert_escaped(at)


def test_a_connection_name_is_text_in_the_edit_conflict(data_dir: Path,
                                                       fake_server: FakeServer) -> None:
    work = add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_app()
    at.button(key=f"conn_edit_{work.id}").click().run()
    service().update(work.id, work.version, name=PAYLOAD)
    at.button(key="conn_form_save").click().run()

    assert errors(at)[0].startswith(f"'{PAYLOAD}' was changed by someone else")
    assert_escaped(at)


def test_a_base_url_is_text_on_the_ollama_screen(data_dir: Path) -> None:
    """(Its spinner is gone by the end of the run: the browser test sees that one.)"""
    add("ollama", "Planted", baseUrl=f"http://127.0.0.1:9/{MODEL}")
    at = open_app(OLLAMA)

    assert errors(at), "nothing listens there"
    assert_escaped(at)


@pytest.fixture
def planted_ollama(data_dir: Path, fake_server: FakeServer) -> Connection:
    """An Ollama server whose version, model names and details are all the payload."""
    fake_server.ollama_version = PAYLOAD
    fake_server.ollama_models = [ollama_model(MODEL, family=PAYLOAD,
                                              parameter_size=PAYLOAD,
                                              quantization_level=PAYLOAD)]
    return add("ollama", "Local", baseUrl=fake_server.url)


def test_an_ollama_servers_version_and_models_are_text(planted_ollama: Connection) -> None:
    at = open_app(OLLAMA)
    at.selectbox(key="ollama_selected").set_value(MODEL).run()

    assert {m.label: plain(m.value) for m in at.metric}["Server version"] == PAYLOAD
    assert_escaped(at)


def test_an_ollama_servers_error_is_text(planted_ollama: Connection,
                                         fake_server: FakeServer) -> None:
    fake_server.respond("/api/show", 500, {"error": PAYLOAD})
    fake_server.respond("/api/ps", 500, {"error": PAYLOAD})
    fake_server.pull_events = [{"status": PAYLOAD}, {"error": PAYLOAD}]
    at = open_app(OLLAMA)
    at.selectbox(key="ollama_selected").set_value(MODEL).run()
    at.text_input(key="ollama_pull_name").set_value("phi3")
    at.button(key="ollama_pull_start").click().run()

    assert sum(PAYLOAD in message for message in errors(at)) == 3  # details, running, pull
    assert_escaped(at)
