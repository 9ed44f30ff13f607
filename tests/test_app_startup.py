"""Start-up: navigation, where the key comes from, the workspace, and a store that can't be used."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connections_core import generate_key
from tests.app_support import (
    APP,
    CONNECTIONS,
    OLLAMA,
    SETTINGS,
    add,
    assert_clean,
    errors,
    open_app,
    rendered,
    service,
    texts,
)
from tests.fakes import API_KEY
from tests.support import free_port

DATABASE_PASSWORD = "SomeSecretPw-5f1c"


def files(folder: Path) -> dict[str, bytes]:
    """What a folder holds, to prove that nothing was written."""
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}


def with_a_secret(data_dir: Path) -> Path:
    add("openai", "Work", apiKey=API_KEY)
    return data_dir / "connections.json"


# -- navigation ------------------------------------------------------------------------------

def test_the_connections_screen_opens_first(data_dir: Path) -> None:
    at = open_app()

    assert at.title[0].value == "Connections"
    assert_clean(at)


@pytest.mark.parametrize(("page", "title"), [(CONNECTIONS, "Connections"),
                                             (OLLAMA, "Ollama models"),
                                             (SETTINGS, "Settings")])
def test_every_screen_is_in_the_navigation(data_dir: Path, page: str, title: str) -> None:
    at = open_app(page)

    assert at.title[0].value == title
    assert at.sidebar.selectbox(key="workspace").label == "Workspace"
    assert_clean(at)


def test_a_link_to_a_screen_runs_the_entry_point_on_a_fresh_server(data_dir: Path) -> None:
    """With the screens in a folder named pages/, Streamlit 1.67 ran a linked screen
    on its own (legacy multipage mode) until the entry point had run once."""
    at = AppTest.from_file(APP)
    at.secrets["APP_TEST"] = "1"
    at.switch_page(SETTINGS).run()

    assert at.title[0].value == "Settings"
    assert at.sidebar.selectbox(key="workspace").label == "Workspace"


# -- the key ------------------------------------------------------------------------------------

def test_a_key_from_the_environment_needs_no_warning(data_dir: Path) -> None:
    at = open_app()

    assert not at.warning


def test_without_a_key_the_generated_local_key_applies_with_a_warning(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENCRYPTION_KEY")
    at = open_app()

    [warning] = at.main.warning  # on the page: a phone shows the sidebar only when opened
    assert "Using a key generated for local use" in warning.value
    assert not at.sidebar.warning
    assert (data_dir / "encryption.key").exists()
    assert_clean(at)


def test_settings_says_it_once_about_the_generated_key(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENCRYPTION_KEY")
    at = open_app(SETTINGS)

    [warning] = [w for w in at.warning if "generated for local use" in w.value]
    assert warning.value.startswith("The encryption key was generated for local use")


def test_a_key_in_secrets_is_used_when_the_environment_has_none(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    with_a_secret(data_dir)
    monkeypatch.delenv("ENCRYPTION_KEY")
    at = open_app(SETTINGS, secrets={"ENCRYPTION_KEY": key})

    assert ("The encryption key comes from `ENCRYPTION_KEY` in `.streamlit/secrets.toml`."
            in texts(at))
    assert {m.label: m.value for m in at.metric}["OpenAI"] == "1"
    assert not (data_dir / "encryption.key").exists()


def test_a_malformed_key_explains_the_fix_and_writes_nothing(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCRYPTION_KEY", "not-a-key")
    at = open_app()

    assert at.title[0].value == "The encryption key can't be used"
    assert "must be 64 hexadecimal characters" in errors(at)[0]
    assert "ENCRYPTION_KEY_PREVIOUS" in texts(at)  # how to change keys
    assert files(data_dir) == {}
    assert_clean(at)


def test_a_key_that_does_not_fit_the_data_explains_the_fix_and_writes_nothing(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = with_a_secret(data_dir)
    before = files(data_dir)
    monkeypatch.setenv("ENCRYPTION_KEY", generate_key())
    at = open_app()

    assert at.title[0].value == "The encryption key can't be used"
    assert "does not match the key this data was written with" in errors(at)[0]
    assert files(data_dir) == before and store.exists()
    assert_clean(at)


def test_a_store_with_keys_but_no_key_set_is_explained(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_a_secret(data_dir)
    before = files(data_dir)
    monkeypatch.delenv("ENCRYPTION_KEY")
    at = open_app()

    assert "holds encrypted API keys, but ENCRYPTION_KEY is not set" in errors(at)[0]
    assert files(data_dir) == before  # no new key file either


def test_a_corrupt_data_file_explains_the_fix_and_is_left_alone(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "connections.json").write_text('{"connections": {"1": ')
    at = open_app()

    assert at.title[0].value == "The data file can't be read"
    assert "is not valid JSON" in errors(at)[0]
    assert "move it aside to start with an empty store" in texts(at)
    assert files(data_dir) == {"connections.json": b'{"connections": {"1": '}
    assert_clean(at)



def test_a_database_that_cant_be_reached_is_named_on_a_full_page_without_its_password(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = free_port()  # bound, then released: nothing listens there
    monkeypatch.setenv("CONNECTIONS_DATABASE_URL",
                       f"postgresql://user:{DATABASE_PASSWORD}@127.0.0.1:{closed}/db")
    at = open_app()

    assert at.title[0].value == "The database can't be used"
    assert "127.0.0.1" in errors(at)[0]
    assert "CONNECTIONS_DATABASE_URL" in texts(at)  # what to check
    assert DATABASE_PASSWORD not in rendered(at)
    assert not at.sidebar.selectbox  # nothing else ran
    assert files(data_dir) == {}
    assert_clean(at)

# -- the workspace ---------------------------------------------------------------------------------

def test_the_workspace_comes_from_the_query_string(data_dir: Path) -> None:
    add("ollama", "Default's server")
    service("team").create("ollama", "Team server", {})
    at = open_app(query={"workspace": "team"})

    assert at.sidebar.selectbox(key="workspace").value == "team"
    assert "Team server" in texts(at) and "Default's server" not in texts(at)


def test_choosing_a_workspace_in_the_sidebar_shows_its_connections(data_dir: Path) -> None:
    service("team").create("ollama", "Team server", {})
    at = open_app()
    assert "No connections yet" in texts(at)

    at.sidebar.selectbox(key="workspace").select("team").run()

    assert "Team server" in texts(at)


def test_an_empty_workspace_name_is_explained(data_dir: Path) -> None:
    at = open_app(query={"workspace": ""})

    assert errors(at) == ["'' can't be a workspace: A workspace id is 1-100 characters."]
    assert_clean(at)


def test_a_planted_key_file_is_refused_on_a_full_page_and_nothing_is_written(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENCRYPTION_KEY")
    data_dir.mkdir(mode=0o700)
    planted = generate_key()
    (data_dir / "encryption.key").write_text(planted)
    (data_dir / "encryption.key").chmod(0o666)
    before = files(data_dir)
    at = open_app()

    assert at.title[0].value == "A file in the data folder can't be trusted"
    assert "can be written by other users (mode 666" in errors(at)[0]
    assert "Nothing was read from it" in texts(at)
    assert planted not in rendered(at)
    assert files(data_dir) == before
    assert_clean(at)
