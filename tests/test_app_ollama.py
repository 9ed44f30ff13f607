"""The Ollama models screen, driven through AppTest against the fake Ollama server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from connections_core import Connection
from tests.app_support import (
    CONNECTIONS,
    OLLAMA,
    add,
    assert_clean,
    errors,
    open_app,
    plain,
    service,
    texts,
)
from tests.fakes import FakeServer, ndjson, running_model, unused_url


@pytest.fixture
def local(data_dir: Any, fake_server: FakeServer) -> Connection:
    return add("ollama", "Local", baseUrl=fake_server.url)


@pytest.fixture
def spare(local: Connection) -> Iterator[Connection]:
    """A second Ollama connection, on a server of its own with one model."""
    server = FakeServer()
    server.ollama_models = server.ollama_models[1:]
    yield add("ollama", "Spare", baseUrl=server.url)
    server.close()


def models_table(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["Name"])


def choose(at: AppTest, connection: Connection) -> AppTest:
    return at.selectbox(key="ollama_connection").select(connection.id).run()


def statuses(at: AppTest) -> list[str]:
    return [plain(status.label) for status in at.status]


def pull(at: AppTest, name: str) -> AppTest:
    at.text_input(key="ollama_pull_name").set_value(name)
    return at.button(key="ollama_pull_start").click().run()


def test_without_an_ollama_connection_it_says_so_and_links_to_connections(
        data_dir: Any) -> None:
    at = open_app(OLLAMA)

    assert "This workspace has no Ollama connection yet" in texts(at)
    assert [link.value for link in at.page_link] == ["Go to Connections"]
    assert_clean(at)


def test_lists_the_models_with_the_server_version_and_disk_used(local: Connection) -> None:
    at = open_app(OLLAMA)

    metrics = {m.label: plain(m.value) for m in at.metric}
    assert metrics == {"Server version": "0.5.7", "Models": "2",
                       "Disk used": str(1_321_098_329 + 397_821_319)}  # shown as bytes
    table = at.dataframe[0].value
    assert list(table.columns) == ["Name", "Family", "Parameters", "Quantization", "Size",
                                   "Modified"]
    assert table.iloc[0][["Name", "Family", "Parameters", "Quantization", "Size"]].tolist() == [
        "llama3.2:1b", "llama", "1.2B", "Q8_0", 1_321_098_329]
    assert_clean(at)


def test_refresh_reads_the_server_again(local: Connection, fake_server: FakeServer) -> None:
    at = open_app(OLLAMA)
    fake_server.ollama_models = fake_server.ollama_models[:1]

    at.button(key="ollama_refresh").click().run()

    assert models_table(at) == ["llama3.2:1b"]
    assert plain(at.toast[0].value) == f"Read 1 model from {local.base_url}."


def test_the_default_connection_comes_first(local: Connection, fake_server: FakeServer) -> None:
    other = add("ollama", "Other", baseUrl=unused_url())
    service().set_default(other.id)
    at = open_app(OLLAMA)

    assert at.selectbox(key="ollama_connection").value == other.id
    assert "Can't reach the server" in errors(at)[0]
    at.selectbox(key="ollama_connection").select(local.id).run()
    assert models_table(at) == ["llama3.2:1b", "qwen2.5:0.5b"]


def test_choosing_a_model_shows_its_details(local: Connection) -> None:
    at = open_app(OLLAMA)
    at.selectbox(key="ollama_selected").select("llama3.2:1b").run()

    assert [tab.label for tab in at.tabs] == ["Parameters", "Template", "License", "Model info"]
    assert [code.value for code in at.code] == ['stop "<|eot_id|>"', "{{ .Prompt }}"]
    assert at.text[0].value == "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT"
    assert '"general.architecture": "llama"' in at.json[0].value


def test_a_running_pull_shows_running_with_what_it_is_doing(local: Connection,
                                                           fake_server: FakeServer) -> None:
    """A running pull showed the completed check mark and "Pulling gemma2:2b:": leaving
    ``with st.status(...)`` marks it complete on every refresh."""
    fake_server.pull_endless, fake_server.pull_delay = True, 0.01
    at = pull(open_app(OLLAMA), "phi3")

    [status] = at.status
    assert (status.state, plain(status.label)) == ("running", "Pulling phi3 · downloading 50%")
    [bar] = at.progress
    assert (bar.value, bar.text) == (50, "pulling 74701a8c35f6: 500 B of 1 KB")
    assert "pulling manifest" in texts(at)
    assert at.button(key="ollama_pull_start").disabled


def test_a_pull_that_succeeds_shows_complete(local: Connection) -> None:
    at = pull(open_app(OLLAMA), "phi3")

    [status] = at.status
    assert (status.state, plain(status.label)) == ("complete", "Pulled phi3")


def test_cancel_stops_the_pull_and_says_so_once_the_connection_is_closed(
        local: Connection, fake_server: FakeServer) -> None:
    fake_server.pull_events = [{"status": "pulling manifest"}, {"status": "success"}]
    fake_server.pull_delay = 8.0  # silent, as Ollama is while it verifies a layer
    at = pull(open_app(OLLAMA), "phi3")
    assert plain(at.status[0].label) == "Pulling phi3 · pulling manifest"

    at.button(key="ollama_pull_cancel").click().run()

    assert fake_server.stream_aborted.wait(4), "the server saw the connection closed"
    assert [plain(t.value) for t in at.toast] == [
        "Cancelled the pull of **phi3**: the connection was closed, so the server stopped it."]
    assert not at.status and not at.button(key="ollama_pull_start").disabled
    assert "phi3" not in [model["name"] for model in fake_server.ollama_models]
    assert_clean(at)


def test_a_pull_that_succeeds_refreshes_the_table(local: Connection) -> None:
    at = pull(open_app(OLLAMA), "phi3")

    assert [t.value for t in at.toast] == ["Pulled **phi3**."]
    assert models_table(at) == ["llama3.2:1b", "qwen2.5:0.5b", "phi3"]


def test_a_failed_pull_shows_the_servers_error(local: Connection,
                                               fake_server: FakeServer) -> None:
    fake_server.pull_chunks = [ndjson([{"status": "pulling manifest"},
                                       {"error": "pull model manifest: file does not exist"}])]
    at = pull(open_app(OLLAMA), "no-such-model")

    assert plain(at.status[0].label) == "Could not pull no-such-model"
    assert "pull model manifest: file does not exist" in errors(at)[0]
    at.button(key="ollama_pull_dismiss").click().run()
    assert not at.status


def test_a_pull_needs_a_model_name(local: Connection) -> None:
    at = pull(open_app(OLLAMA), "  ")

    assert errors(at) == ["Enter a model name, e.g. llama3.2 or llama3.2:1b."]
    assert not at.status


def test_delete_removes_a_model_after_confirmation(local: Connection) -> None:
    at = open_app(OLLAMA)
    at.selectbox(key="ollama_selected").select("qwen2.5:0.5b").run()
    at.button(key="ollama_delete").click().run()
    assert "Delete **qwen2.5:0.5b** from the Ollama server" in texts(at)
    assert models_table(at) == ["llama3.2:1b", "qwen2.5:0.5b"]

    at.button(key="ollama_delete_confirm").click().run()

    assert models_table(at) == ["llama3.2:1b"]
    assert plain(at.toast[0].value) == f"Deleted **qwen2.5:0.5b** from {local.base_url}."
    assert_clean(at)


def test_cancel_in_the_delete_dialog_keeps_the_model(local: Connection) -> None:
    at = open_app(OLLAMA)
    at.selectbox(key="ollama_selected").select("qwen2.5:0.5b").run()
    at.button(key="ollama_delete").click().run()
    at.button(key="ollama_delete_cancel").click().run()

    assert models_table(at) == ["llama3.2:1b", "qwen2.5:0.5b"]
    assert not any(b.key == "ollama_delete_confirm" for b in at.button)


def test_running_lists_the_loaded_models(local: Connection, fake_server: FakeServer) -> None:
    fake_server.running_models = [running_model("llama3.2:1b")]
    at = open_app(OLLAMA)

    running = at.dataframe[1].value
    assert running[["Name", "Size", "In VRAM"]].values.tolist() == [
        ["llama3.2:1b", 2_000_000_000, 1_500_000_000]]


def test_nothing_running_says_so(local: Connection) -> None:
    at = open_app(OLLAMA)

    assert "No model is loaded in memory right now." in texts(at)


def test_a_new_base_url_is_read_as_another_server(local: Connection,
                                                  fake_server: FakeServer) -> None:
    at = open_app(OLLAMA)
    other = FakeServer()
    try:
        other.ollama_models = other.ollama_models[1:]
        service().update(local.id, local.version, config={"baseUrl": other.url})
        at.run()

        assert models_table(at) == ["qwen2.5:0.5b"]
    finally:
        other.close()


# -- across screens ------------------------------------------------------------------------

def test_the_chosen_server_is_kept_on_another_screen_and_back(local: Connection) -> None:
    """Streamlit drops a widget's value on a screen that doesn't draw it: the Ollama
    screen came back on the first server."""
    spare = FakeServer()
    try:
        spare.ollama_models = spare.ollama_models[1:]
        other = add("ollama", "Spare", baseUrl=spare.url)
        at = open_app(OLLAMA)
        at.selectbox(key="ollama_connection").select(other.id).run()
        assert models_table(at) == ["qwen2.5:0.5b"]

        at.switch_page(CONNECTIONS).run()
        at.switch_page(OLLAMA).run()

        assert at.selectbox(key="ollama_connection").value == other.id
        assert models_table(at) == ["qwen2.5:0.5b"]
    finally:
        spare.close()


def test_a_pull_keeps_running_on_another_screen_and_shows_on_return(
        local: Connection, fake_server: FakeServer) -> None:
    fake_server.pull_endless, fake_server.pull_delay = True, 0.01
    at = pull(open_app(OLLAMA), "phi3")

    at.switch_page(CONNECTIONS).run()
    assert not at.status
    at.switch_page(OLLAMA).run()

    [status] = at.status
    assert (status.state, plain(status.label)) == ("running", "Pulling phi3 · downloading 50%")
    assert not fake_server.stream_aborted.is_set()
    assert_clean(at)


def test_a_pull_that_ends_on_another_screen_is_told_on_return(
        local: Connection, fake_server: FakeServer) -> None:
    """A pull that finished while the person looked elsewhere once lost its notice."""
    fake_server.pull_delay = 0.3
    at = pull(open_app(OLLAMA), "phi3")
    at.switch_page(CONNECTIONS).run()
    assert fake_server.stream_finished.wait(10)

    at.switch_page(OLLAMA).run()

    assert [t.value for t in at.toast] == ["Pulled **phi3** on Local."]
    assert (at.status[0].state, plain(at.status[0].label)) == ("complete", "Pulled phi3")
    assert "phi3" in models_table(at)


def test_a_pull_that_ends_on_another_screen_is_told_there(
        local: Connection, fake_server: FakeServer) -> None:
    """The person need not come back to the Ollama screen to hear that the pull ended."""
    fake_server.pull_delay = 0.3
    at = pull(open_app(OLLAMA), "phi3")
    at.switch_page(CONNECTIONS).run()
    job = at.session_state.ollama_pull
    deadline = time.monotonic() + 15
    while job.running and time.monotonic() < deadline:
        job.advance(0.2)  # what the watcher in the sidebar does, twice a second
    assert job.outcome == "succeeded"

    at.run()

    assert [t.value for t in at.toast] == ["Pulled **phi3** on Local."]
    assert at.session_state.ollama_pull is None
    assert_clean(at)


def test_the_server_picker_labels_the_default_as_the_cards_do(local: Connection) -> None:
    add("ollama", "Spare", baseUrl="http://127.0.0.1:9")
    at = open_app(OLLAMA)
    options = at.selectbox(key="ollama_connection").options
    assert f"{local.name} ({local.base_url}) · Default" in options
    assert "Spare (http://127.0.0.1:9)" in options


# -- the pull form -------------------------------------------------------------------------

def test_pull_is_the_screens_main_action(local: Connection) -> None:
    at = open_app(OLLAMA)

    assert at.button(key="ollama_pull_start").proto.type == "primary"


def test_a_viewer_can_not_type_a_model_to_pull(local: Connection) -> None:
    """A viewer could type a name into a box whose only use, Pull, was off for them."""
    team = service()
    team.set_member("ada@example.com", "admin")
    team.set_member("vic@example.com", "viewer")
    user = {"is_logged_in": True, "email": "vic@example.com", "email_verified": True,
            "exp": time.time() + 3600}
    auth = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
            "client_id": "c", "client_secret": "s",
            "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}
    at = open_app(OLLAMA, secrets={"auth": auth}, user=user)

    name = at.text_input(key="ollama_pull_name")
    pull = at.button(key="ollama_pull_start")
    assert name.disabled and pull.disabled
    assert name.help == pull.help and "You are a viewer in default" in (name.help or "")


def test_a_cancelled_pull_is_recorded_once_with_its_model(
        local: Connection, fake_server: FakeServer) -> None:
    fake_server.pull_endless, fake_server.pull_delay = True, 0.01
    at = pull(open_app(OLLAMA), "phi3")

    at.button(key="ollama_pull_cancel").click().run()

    assert fake_server.stream_aborted.wait(4)
    [entry] = service().audit(action="ollama.model_pull_cancelled")
    assert (entry.target_id, dict(entry.details)) == (local.id, {"model": "phi3"})
    assert "ollama.model_pulled" not in [e.action for e in service().audit()]
    at.switch_page("app_pages/activity.py").run()
    assert at.dataframe[0].value["What"].tolist()[0] == "Cancelled an Ollama model pull"


# -- each server's pull is shown on that server only ----------------------------------------

def test_a_finished_pull_shows_on_its_own_server_only(local: Connection,
                                                      spare: Connection) -> None:
    """After a pull on one server, every other server said "Pulled phi3" too."""
    at = pull(open_app(OLLAMA), "phi3")
    assert statuses(at) == ["Pulled phi3"]

    choose(at, spare)
    assert statuses(at) == [] and models_table(at) == ["qwen2.5:0.5b"]

    choose(at, local)
    assert statuses(at) == ["Pulled phi3"]


def test_a_failed_pull_shows_on_its_own_server_only(local: Connection, spare: Connection,
                                                    fake_server: FakeServer) -> None:
    fake_server.pull_chunks = [ndjson([{"error": "pull model manifest: file does not exist"}])]
    at = pull(open_app(OLLAMA), "no-such-model")

    choose(at, spare)
    assert statuses(at) == [] and errors(at) == []
    assert not any(b.key == "ollama_pull_dismiss" for b in at.button)

    choose(at, local)
    assert statuses(at) == ["Could not pull no-such-model"]
    assert "pull model manifest: file does not exist" in errors(at)[0]


def test_a_running_pull_shows_on_its_own_server_only(local: Connection, spare: Connection,
                                                     fake_server: FakeServer) -> None:
    fake_server.pull_endless, fake_server.pull_delay = True, 0.01
    at = pull(open_app(OLLAMA), "phi3")

    choose(at, spare)
    assert statuses(at) == [] and not at.progress
    assert not any(b.key == "ollama_pull_cancel" for b in at.button)
    start = at.button(key="ollama_pull_start")
    assert start.disabled and plain(start.help) == (
        f"One pull at a time: phi3 is being pulled on Local ({local.base_url}).")

    choose(at, local)
    assert statuses(at) == ["Pulling phi3 · downloading 50%"]
    assert not fake_server.stream_aborted.is_set()


# -- which server the screen opens on ------------------------------------------------------

def test_it_opens_on_a_new_default(local: Connection, spare: Connection) -> None:
    """The screen remembered the server it first opened on as if the person had chosen it."""
    at = open_app(OLLAMA)
    assert at.selectbox(key="ollama_connection").value == local.id
    at.switch_page(CONNECTIONS).run()
    service().set_default(spare.id)

    at.switch_page(OLLAMA).run()

    assert at.selectbox(key="ollama_connection").value == spare.id
    assert models_table(at) == ["qwen2.5:0.5b"]


def test_a_server_chosen_in_this_session_outlasts_a_new_default(local: Connection,
                                                                spare: Connection) -> None:
    at = choose(open_app(OLLAMA), spare)
    choose(at, local)  # the default, chosen all the same
    at.switch_page(CONNECTIONS).run()
    service().set_default(spare.id)

    at.switch_page(OLLAMA).run()

    assert at.selectbox(key="ollama_connection").value == local.id


def test_a_pull_that_ends_while_another_server_is_shown_says_where(
        local: Connection, spare: Connection, fake_server: FakeServer) -> None:
    fake_server.pull_delay = 0.3
    at = choose(pull(open_app(OLLAMA), "phi3"), spare)
    job = at.session_state.ollama_pull
    deadline = time.monotonic() + 15
    while job.running and time.monotonic() < deadline:
        job.advance(0.2)  # what the screen's fragment does, twice a second

    at.run()

    assert [t.value for t in at.toast] == ["Pulled **phi3** on Local."]
    assert statuses(at) == [] and models_table(at) == ["qwen2.5:0.5b"]
    choose(at, local)
    assert statuses(at) == ["Pulled phi3"] and "phi3" in models_table(at)
