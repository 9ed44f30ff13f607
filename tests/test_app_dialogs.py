"""The Add and Edit dialogs' Test, and what the Edit dialog says about the key.

A Test's result, passed or failed, is saved with the connection when it is of
exactly the values saved; the Test runs off the script thread, so Cancel closes
the dialog at once whatever the server does, and the Test is then forgotten;
once a new base URL means the key must be typed again, every text says so.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from connections_core import Connection
from tests.app_support import (
    add,
    assert_clean,
    card,
    field,
    open_app,
    plain,
    press_test,
    service,
    texts,
)
from tests.fakes import API_KEY, FakeServer

OTHER_KEY = "sk-fake-another-key-4321LMNO"  # the fake server rejects it (401)
PROMPT = 3.0  # s: a bound far below the check's timeout and the server's hold


@pytest.fixture
def hanging_server() -> Iterator[FakeServer]:
    """A provider that answers nothing until released (at most 10 s)."""
    server = FakeServer()
    server.hold()
    yield server
    server.close()



def open_add(at: AppTest, key: str, base_url: str) -> AppTest:
    at.button(key="conn_add_first").click().run()
    at.selectbox(key="conn_form_type").select("openai").run()
    field(at, "Name").set_value("Work")
    field(at, "API key").set_value(key)
    field(at, "Base URL").set_value(base_url)
    return at


def open_edit(connection: Connection) -> AppTest:
    at = open_app()
    at.button(key=f"conn_edit_{connection.id}").click().run()
    return at


def timed(run: Any) -> float:
    started = time.monotonic()
    run()
    return time.monotonic() - started


def dialog_open(at: AppTest) -> bool:
    return any(button.key == "conn_form_save" for button in at.button)


# -- 3. a failed Test is saved with the connection, as a passed one is ---------------------

def test_a_failed_test_in_the_add_dialog_is_saved_as_an_error(
        data_dir: Any, fake_server: FakeServer) -> None:
    """It was forgotten: the card said "Not checked yet" after the Test said why it failed."""
    at = press_test(open_add(open_app(), OTHER_KEY, fake_server.openai_url))
    assert any("rejected the API key (401)" in plain(e.value) for e in at.error)

    at.button(key="conn_form_save").click().run()

    [saved] = service().list()
    assert saved.status == "error" and saved.last_checked_at is not None
    assert saved.last_result is not None and saved.last_result.kind == "auth"
    assert "rejected the API key (401)" in saved.last_result.message
    text = card(at, saved)
    assert ":red-badge[Error]" in text and "rejected the API key (401)" in text
    assert "Not checked yet." not in text
    assert "Added **Work**." in [plain(t.value) for t in at.toast]
    assert len(fake_server.requests_to("/v1/models")) == 1, "Save did not check again"
    assert OTHER_KEY not in str(at.session_state.to_dict())
    assert_clean(at)


def test_a_failed_test_in_the_edit_dialog_is_saved_with_the_edit(
        data_dir: Any, fake_server: FakeServer) -> None:
    work = add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_edit(work)
    field(at, "API key").set_value(OTHER_KEY)
    press_test(at).button(key="conn_form_save").click().run()

    saved = service().get(work.id)
    assert (saved.status, saved.version) == ("error", work.version + 1)
    assert saved.last_result is not None and saved.last_result.kind == "auth"
    assert ":red-badge[Error]" in card(at, saved)


def test_a_field_changed_after_a_failed_test_is_saved_as_not_checked(
        data_dir: Any, fake_server: FakeServer) -> None:
    at = press_test(open_add(open_app(), OTHER_KEY, fake_server.openai_url))
    field(at, "API key").set_value(API_KEY)
    at.run()
    assert not at.error, "the result of another key is no longer shown"

    at.button(key="conn_form_save").click().run()

    [saved] = service().list()
    assert (saved.status, saved.last_result) == ("unconfigured", None)
    assert "Not checked yet." in card(at, saved)


# -- 4. the dialog's Test never holds the dialog open ----------------------------------------

def test_cancel_closes_the_add_dialog_at_once_while_its_test_hangs(
        data_dir: Any, hanging_server: FakeServer) -> None:
    """The Test ran in the script: Cancel waited for the server, about 14 s."""
    at = open_add(open_app(), API_KEY, hanging_server.openai_url)

    assert timed(at.button(key="conn_form_test").click().run) < PROMPT
    assert hanging_server.wait_for_in_flight(1)
    assert "Testing…" in texts(at)
    assert timed(at.button(key="conn_form_cancel").click().run) < PROMPT

    assert not dialog_open(at)
    hanging_server.release()
    assert hanging_server.wait_for_answered(1)
    at.run()
    assert not at.success and not at.error and not at.toast, "the Test is forgotten"
    at.button(key="conn_add_first").click().run()
    assert "Connected to OpenAI" not in texts(at) and "Testing…" not in texts(at)
    assert service().list() == []
    assert_clean(at)


def test_save_while_the_test_runs_saves_the_connection_not_checked(
        data_dir: Any, hanging_server: FakeServer) -> None:
    at = open_add(open_app(), API_KEY, hanging_server.openai_url)
    at.button(key="conn_form_test").click().run()
    assert hanging_server.wait_for_in_flight(1)

    assert timed(at.button(key="conn_form_save").click().run) < PROMPT

    [saved] = service().list()
    assert (saved.status, saved.last_result) == ("unconfigured", None)
    hanging_server.release()
    assert hanging_server.wait_for_answered(1)
    at.run()
    assert service().get(saved.id).status == "unconfigured", "the Test was not applied later"
    assert "Not checked yet." in card(at, saved)


# -- 8. once the key must be typed again, every text says so ---------------------------------

def test_a_new_base_url_makes_every_text_ask_for_the_key(
        data_dir: Any, fake_server: FakeServer) -> None:
    """The warning said "enter the API key again" while the header and the key's
    placeholder still said it could be left empty."""
    work = add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_edit(work)
    assert "Leave the API key empty to keep the stored one." in texts(at)

    field(at, "Base URL").set_value("https://elsewhere.example.com/v1")
    at.run()

    key = field(at, "API key")
    words = [texts(at), key.placeholder, key.help or ""]
    assert not [text for text in words if "keep" in text.lower()], words
    assert all("again" in text for text in words[1:]), words
    assert "enter the API key again" in texts(at)

    key.set_value(OTHER_KEY)
    at.run()
    assert "keep" not in texts(at).lower(), "still needed once typed"
    assert_clean(at)


def test_the_key_may_be_left_empty_again_once_the_base_url_is_back(
        data_dir: Any, fake_server: FakeServer) -> None:
    work = add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_edit(work)
    field(at, "Base URL").set_value("https://elsewhere.example.com/v1")
    at.run()
    field(at, "Base URL").set_value(fake_server.openai_url + "/")
    at.run()

    assert "Leave the API key empty to keep the stored one." in texts(at)
    assert field(at, "API key").placeholder == "Leave empty to keep ••••WXYZ"
    assert not at.warning
