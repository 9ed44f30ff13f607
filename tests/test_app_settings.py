"""The Settings screen: the key's source, rotation, the data file and counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from connections_core import generate_key
from tests.app_support import (
    SETTINGS,
    add,
    assert_clean,
    open_app,
    plain,
    service,
    texts,
)
from tests.fakes import API_KEY


def test_it_says_the_key_comes_from_the_environment(data_dir: Path) -> None:
    at = open_app(SETTINGS)

    assert at.success[0].value == ("The encryption key comes from the `ENCRYPTION_KEY` "
                                   "environment variable.")
    assert "No previous key is set: no rotation is under way." in texts(at)
    assert_clean(at)


def test_it_warns_about_a_generated_local_key(data_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENCRYPTION_KEY")
    at = open_app(SETTINGS)

    [warning] = [w for w in at.main.warning if "generated for local use" in w.value]
    assert str(data_dir / "encryption.key") in plain(warning.value)


def test_it_shows_a_rotation_under_way(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCRYPTION_KEY_PREVIOUS", generate_key())
    at = open_app(SETTINGS)

    assert at.info[0].value.startswith("Key rotation is under way")


def test_it_gives_the_one_line_rotation_instructions(data_dir: Path) -> None:
    at = open_app(SETTINGS)

    assert ("set `ENCRYPTION_KEY_PREVIOUS` to the current key and `ENCRYPTION_KEY` to a new one"
            in texts(at))
    assert "`python -m connections_core rotate-key`" in texts(at)


def test_it_shows_the_data_file_and_its_size(data_dir: Path) -> None:
    add("openai", "Work", apiKey=API_KEY)
    at = open_app(SETTINGS)

    assert f"Stored in the data file {data_dir / 'connections.json'}." in texts(at)
    size = {m.label: m.value for m in at.metric}["Size"]
    assert size == str((data_dir / "connections.json").stat().st_size)  # shown as bytes


def test_it_counts_connections_by_provider_and_by_status(data_dir: Path) -> None:
    add("openai", "Work", apiKey=API_KEY)
    add("anthropic", "Claude", apiKey=API_KEY)
    broken = add("ollama", "Gone", baseUrl="http://127.0.0.1:9")
    service().test(broken.id)
    at = open_app(SETTINGS)

    metrics = {m.label: m.value for m in at.metric}
    assert [metrics[name] for name in ("OpenAI", "Anthropic", "Ollama")] == ["1", "1", "1"]
    assert "Amazon Bedrock" not in metrics  # a provider with no connection: no box of zeros
    assert [metrics[name] for name in ("Connected", "Error", "Not checked")] == ["0", "1", "2"]


def test_it_links_to_the_other_screens(data_dir: Path) -> None:
    at = open_app(SETTINGS)

    assert [link.value for link in at.page_link] == ["Manage connections", "Browse Ollama models"]


def test_it_warns_when_others_can_read_the_key_file(data_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENCRYPTION_KEY")
    at = open_app(SETTINGS)
    key_file = data_dir / "encryption.key"
    key_file.chmod(0o644)
    at.run()

    [warning] = [plain(w.value) for w in at.main.warning if "chmod" in w.value]
    assert f"chmod 600 {key_file}" in warning


def test_it_warns_about_nothing_when_only_the_owner_can_read_the_files(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENCRYPTION_KEY")
    at = open_app(SETTINGS)
    (data_dir / "encryption.key").chmod(0o600)
    at.run()

    assert not [w for w in at.main.warning if "chmod" in w.value]
