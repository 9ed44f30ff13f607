"""The Connections screen, driven through AppTest against the fake provider server."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.proto.TextInput_pb2 import TextInput as TextInputProto
from streamlit.testing.v1 import AppTest

from connections_core import Connection, ConnectionService
from tests.app_support import (
    add,
    assert_clean,
    card,
    errors,
    field,
    open_app,
    plain,
    press_test,
    rendered,
    run_checks,
    service,
    texts,
)
from tests.fakes import API_KEY, FakeServer, unused_url

OTHER_KEY = "sk-fake-another-key-4321LMNO"



def cards(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key and b.key.startswith("conn_test_")
            and b.key != "conn_test_all"]


def open_add(at: AppTest, provider: str = "OpenAI") -> AppTest:
    add_button = "conn_add_first" if "conn_add_first" in keys(at) else "conn_add"
    at.button(key=add_button).click().run()
    at.selectbox(key="conn_form_type").select(_type(provider)).run()
    return at


def keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button if b.key}


def _type(display_name: str) -> str:
    return {"OpenAI": "openai", "Anthropic": "anthropic", "Ollama": "ollama"}[display_name]


def fill(at: AppTest, **labels: str) -> AppTest:
    for label, value in labels.items():
        field(at, label.replace("_", " ")).set_value(value)
    return at


def add_openai(at: AppTest, fake: FakeServer, name: str = "Work", key: str = API_KEY) -> AppTest:
    open_add(at)
    fill(at, Name=name, API_key=key, Base_URL=fake.openai_url)
    at.button(key="conn_form_save").click().run()
    return at


@pytest.fixture
def at(data_dir: Any) -> AppTest:
    return open_app()


@pytest.fixture
def work(data_dir: Any, fake_server: FakeServer) -> Connection:
    return add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)


# -- empty state and adding ----------------------------------------------------------------

def test_an_empty_workspace_explains_what_to_do_and_offers_add(at: AppTest) -> None:
    assert "No connections yet" in texts(at)
    assert at.button(key="conn_add_first").label == "Add connection"
    assert_clean(at)


def dialog_inputs(at: AppTest) -> list[str]:
    """The labels of the dialog's text inputs (not the sidebar's)."""
    return [w.label for w in at.text_input if str(w.key).startswith("conn_form_")]


def test_the_add_dialog_renders_the_chosen_providers_fields(at: AppTest) -> None:
    open_add(at, "OpenAI")
    assert dialog_inputs(at) == ["Name", "API key", "Base URL", "Organization ID (optional)"]
    assert field(at, "API key").proto.type == TextInputProto.PASSWORD
    assert field(at, "Base URL").value == "https://api.openai.com/v1"

    at.selectbox(key="conn_form_type").select("ollama").run()
    assert dialog_inputs(at) == ["Name", "Base URL"]
    assert field(at, "Base URL").value == "http://localhost:11434"


def test_save_creates_the_connection_and_shows_its_card(at: AppTest,
                                                        fake_server: FakeServer) -> None:
    add_openai(at, fake_server)

    [created] = service().list()
    assert created.name == "Work"
    assert "Added **Work**." in [t.value for t in at.toast]
    text = card(at, created)
    assert ":blue-badge[Default]" in text  # the first of its provider is the default
    assert "Not checked" in text and "API key ••••WXYZ" in text
    assert "conn_form_save" not in keys(at)  # the dialog closed
    assert_clean(at)


def test_validation_errors_show_under_their_fields_and_the_form_keeps_the_input(
        at: AppTest) -> None:
    open_add(at)
    fill(at, API_key="short", Base_URL="ftp://example.com")
    at.button(key="conn_form_save").click().run()

    shown = errors(at)
    assert "Enter a name, so you can tell this connection from others." in shown
    assert "API key must be at least 10 characters." in shown
    assert any(e.startswith("Base URL must be an http:// or https:// URL") for e in shown)
    assert field(at, "Base URL").value == "ftp://example.com"
    assert "conn_form_save" in keys(at)  # still open
    assert service().list() == []


def test_test_in_the_add_dialog_checks_the_draft_without_saving(at: AppTest,
                                                                fake_server: FakeServer) -> None:
    open_add(at)
    fill(at, Name="Work", API_key=API_KEY, Base_URL=fake_server.openai_url)
    press_test(at)

    [success] = at.success
    assert "Connected to OpenAI" in success.value and "3 models available" in success.value
    assert service().list() == []
    assert field(at, "Name").value == "Work"


def test_test_in_the_add_dialog_reports_a_rejected_key(at: AppTest,
                                                        fake_server: FakeServer) -> None:
    open_add(at)
    fill(at, Name="Work", API_key=OTHER_KEY, Base_URL=fake_server.openai_url)
    press_test(at)

    assert any("rejected the API key (401)" in e for e in errors(at))
    assert not at.success


def test_cancel_closes_the_add_dialog_without_saving(at: AppTest) -> None:
    open_add(at)
    fill(at, Name="Work")
    at.button(key="conn_form_cancel").click().run()

    assert "conn_form_save" not in keys(at)
    assert service().list() == []


# -- card actions ----------------------------------------------------------------------------

def test_test_on_a_card_updates_its_badge_and_says_so(work: Connection,
                                                     fake_server: FakeServer) -> None:
    at = open_app()
    assert "Not checked" in card(at, work)

    toasts = run_checks(at, f"conn_test_{work.id}")

    text = card(at, work)
    assert ":green-badge[Connected]" in text
    assert "Checked just now" in text and "3 models available" in text
    assert [t for t in toasts if t.startswith("**Work**: connected (")] != []
    assert_clean(at)


def test_a_failed_test_shows_the_error_badge_and_the_message(data_dir: Any) -> None:
    broken = add("ollama", "Gone", baseUrl=unused_url())
    at = open_app()

    run_checks(at, f"conn_test_{broken.id}")

    text = card(at, broken)
    assert ":red-badge[Error]" in text
    assert "Can't reach the server" in text
    # What went wrong is read at the page's size, not in a small caption.
    block = at.get_by_key(f"conn_card_{broken.id}")
    assert [m for m in block.markdown if "Can't reach the server" in plain(m.value)]
    assert not [c for c in block.caption if "Can't reach the server" in plain(c.value)]


def test_set_as_default_moves_the_label_and_is_offered_only_on_others(
        work: Connection, fake_server: FakeServer) -> None:
    backup = add("openai", "Backup", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_app()
    assert at.button(key=f"conn_default_{work.id}").disabled

    at.button(key=f"conn_default_{backup.id}").click().run()

    assert "Default" in card(at, backup) and "Default" not in card(at, work)
    assert not at.button(key=f"conn_default_{work.id}").disabled
    assert at.button(key=f"conn_default_{backup.id}").disabled
    assert "is now the default OpenAI connection" in at.toast[0].value


def test_edit_with_the_key_left_empty_keeps_the_stored_key(work: Connection) -> None:
    at = open_app()
    at.button(key=f"conn_edit_{work.id}").click().run()
    assert field(at, "API key").value == ""
    assert field(at, "API key").placeholder == "Leave empty to keep ••••WXYZ"

    fill(at, Name="Work (renamed)")
    at.button(key="conn_form_save").click().run()

    assert "**Work (renamed)**" in card(at, work)
    assert service().resolve_config("openai", work.id)["apiKey"] == API_KEY
    assert "Saved **Work (renamed)**." in [plain(t.value) for t in at.toast]


def test_edit_with_a_new_base_url_asks_for_the_key_again(work: Connection) -> None:
    at = open_app()
    at.button(key=f"conn_edit_{work.id}").click().run()
    fill(at, Base_URL="https://elsewhere.example.com/v1").run()

    assert any("enter the API key again" in w.value for w in at.warning)
    at.button(key="conn_form_save").click().run()
    assert any(e.startswith("Enter the key again: the base URL changed") for e in errors(at))
    assert service().get(work.id).base_url != "https://elsewhere.example.com/v1"


def test_test_in_the_edit_dialog_uses_the_stored_key(work: Connection) -> None:
    at = open_app()
    at.button(key=f"conn_edit_{work.id}").click().run()
    press_test(at)

    assert "Connected to OpenAI" in at.success[0].value


def test_a_conflicting_edit_is_refused_and_reload_starts_from_the_new_version(
        work: Connection) -> None:
    at = open_app()
    at.button(key=f"conn_edit_{work.id}").click().run()
    service().update(work.id, work.version, name="Changed elsewhere")
    fill(at, Name="Mine")
    at.button(key="conn_form_save").click().run()

    assert any("was changed by someone else" in e for e in errors(at))
    at.button(key="conn_form_reload").click().run()
    assert field(at, "Name").value == "Changed elsewhere"
    at.button(key="conn_form_save").click().run()
    assert service().get(work.id).name == "Changed elsewhere"
    assert_clean(at)


# -- deleting, undo and restore --------------------------------------------------------------

def test_delete_asks_to_confirm_then_offers_undo(work: Connection) -> None:
    at = open_app()
    at.button(key=f"conn_delete_{work.id}").click().run()
    assert "Delete **Work**?" in texts(at)
    assert service().list() != []

    at.button(key="conn_delete_confirm").click().run()
    assert service().list() == []
    assert "Deleted **Work**." in texts(at)
    assert "Recently deleted (1)" in [e.label for e in at.expander]

    at.button(key="conn_undo_button").click().run()
    assert [c.id for c in service().list()] == [work.id]
    assert "Restored **Work**." in [t.value for t in at.toast]
    assert "conn_undo_button" not in keys(at)


def test_cancel_in_the_delete_dialog_keeps_the_connection(work: Connection) -> None:
    at = open_app()
    at.button(key=f"conn_delete_{work.id}").click().run()
    at.button(key="conn_delete_cancel").click().run()

    assert [c.id for c in service().list()] == [work.id]
    assert "conn_delete_confirm" not in keys(at)


def test_restore_brings_back_a_recently_deleted_connection(work: Connection) -> None:
    service().delete(work.id)
    at = open_app()
    assert "No connections yet" in texts(at)

    at.button(key=f"conn_restore_{work.id}").click().run()

    assert "**Work**" in card(at, service().get(work.id))
    assert not at.expander


# -- finding and checking many ---------------------------------------------------------------

def test_filters_by_provider_status_and_name(work: Connection, fake_server: FakeServer) -> None:
    local = add("ollama", "Local llama", baseUrl=fake_server.url)
    service().test(local.id)
    at = open_app()
    assert len(cards(at)) == 2

    at.pills(key="conn_filter_provider").set_value(["ollama"]).run()
    assert cards(at) == [f"conn_test_{local.id}"]
    at.pills(key="conn_filter_provider").set_value([]).run()
    at.pills(key="conn_filter_status").set_value(["unconfigured"]).run()
    assert cards(at) == [f"conn_test_{work.id}"]
    at.pills(key="conn_filter_status").set_value([]).run()
    at.text_input(key="conn_search").set_value("LLAMA").run()
    assert cards(at) == [f"conn_test_{local.id}"]
    at.text_input(key="conn_search").set_value("nothing like it").run()
    assert "No connection matches these filters." in texts(at)


def test_test_all_shows_progress_and_a_results_table(work: Connection,
                                                      fake_server: FakeServer) -> None:
    add("ollama", "Local", baseUrl=fake_server.url)
    add("ollama", "Gone", baseUrl=unused_url())
    at = open_app()

    toasts = run_checks(at, "conn_test_all")

    results = at.table[0].value
    assert sorted(zip(results["Name"], map(plain, results["Status"]), strict=True)) == [
        ("Gone", ":red-badge[Error]"), ("Local", ":green-badge[Connected]"),
        ("Work", ":green-badge[Connected]")]
    assert "Tested 3 connections: 2 connected, 1 error." in toasts
    assert sorted(c.status for c in service().list()) == ["connected", "connected", "error"]


def test_cards_come_twenty_to_a_page(data_dir: Any) -> None:
    many = service()
    for number in range(45):
        many.create("ollama", f"Server {number:02}", {"baseUrl": "http://localhost:11434"})
    at = open_app()
    assert len(cards(at)) == 20
    assert "Showing 1–20 of 45 connections." in texts(at)

    at.pagination(key="conn_page").set_value(3).run()
    assert len(cards(at)) == 5
    assert "Showing 41–45 of 45 connections." in texts(at)


# -- secrets and errors ------------------------------------------------------------------------

def test_the_api_key_is_never_rendered_after_adding_and_editing(
        at: AppTest, fake_server: FakeServer) -> None:
    add_openai(at, fake_server)
    [created] = service().list()
    at.button(key=f"conn_edit_{created.id}").click().run()
    fill(at, API_key=OTHER_KEY)
    at.button(key="conn_form_save").click().run()
    run_checks(at, f"conn_test_{created.id}")

    assert service().resolve_config("openai")["apiKey"] == OTHER_KEY
    page = rendered(at)
    assert API_KEY not in page and OTHER_KEY not in page
    assert "••••LMNO" in page
    assert OTHER_KEY not in str(at.session_state.to_dict())


def test_an_unexpected_error_shows_a_short_message_not_a_traceback(
        work: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: ConnectionService, type: str | None = None) -> list[Connection]:
        raise RuntimeError("boom")

    monkeypatch.setattr(ConnectionService, "list", broken)
    at = open_app()

    assert errors(at) == [("Something unexpected went wrong (RuntimeError). The details are in "
                           "the server's log; reload the page to try again.")]
    assert_clean(at)


def test_saving_a_connection_deleted_meanwhile_says_so_in_the_dialog(work: Connection) -> None:
    at = open_app()
    at.button(key=f"conn_edit_{work.id}").click().run()
    service().delete(work.id)
    at.button(key="conn_form_save").click().run()

    assert errors(at) == [f"No connection with id '{work.id}' in this workspace."]
    assert_clean(at)


def test_opening_another_dialog_withdraws_the_undo(work: Connection) -> None:
    at = open_app()
    at.button(key=f"conn_delete_{work.id}").click().run()
    at.button(key="conn_delete_confirm").click().run()
    assert "conn_undo_button" in keys(at)

    at.button(key="conn_add_first").click().run()

    assert "conn_undo_button" not in keys(at)
