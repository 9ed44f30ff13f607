"""``--demo``: the command line shows real output on a fresh machine, with no key, no
data folder and no provider, and leaves nothing behind (run as a real subprocess,
with only the environment a person would have)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connections_core import DEMO_NOTICE
from tests.installations import ROOT, Ran, assert_one_line_error, finish


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh machine's home: nothing in it, and a temporary folder of its own."""
    (tmp_path / "tmp").mkdir()
    return tmp_path


def fresh_env(home: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("ENCRYPTION_", "CONNECTIONS_"))}
    env.update(PYTHONPATH=str(ROOT), HOME=str(home), TMPDIR=str(home / "tmp"),
               NO_PROXY="127.0.0.1", CONNECTIONS_DATA_DIR=str(home / "data"))
    return env


def run(home: Path, *args: str) -> Ran:
    return finish(subprocess.Popen([sys.executable, "-m", "connections_core", *args],
                                   cwd=home, env=fresh_env(home), text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE))


def left_behind(home: Path) -> list[str]:
    """What the command left in the home (the data folder, a demo's folder...)."""
    return sorted(str(path.relative_to(home)) for path in home.rglob("*")
                  if path != home / "tmp")


def test_list_shows_the_demo_without_a_key_or_a_data_folder(home: Path) -> None:
    ran = run(home, "list", "--demo")
    assert ran.code == 0, ran
    for name in ("OpenAI (demo)", "Anthropic (demo)", "Ollama (demo)",
                 "Ollama on the lab server (demo)"):
        assert name in ran.out
    assert ran.out.count("Connected") == 2 and ran.out.count("Error") == 2
    assert " ".join(DEMO_NOTICE.split()) in " ".join(ran.err.split())
    assert left_behind(home) == []


def test_test_checks_the_demo_for_real_and_exits_1_for_its_two_failures(home: Path) -> None:
    ran = run(home, "test", "--demo")
    assert ran.code == 1, ran  # the wrong Anthropic key and the server that is down
    assert "Tested 4 connections: 2 connected, 2 failed." in ran.out
    assert "Anthropic rejected the API key (401)" in ran.out
    assert "Can't reach the server at http://127.0.0.1:" in ran.out
    assert "Connected to OpenAI at http://127.0.0.1:" in ran.out
    assert "Traceback" not in ran.output
    assert left_behind(home) == []


def test_json_output_holds_the_demos_statuses(home: Path) -> None:
    ran = run(home, "list", "--demo", "--json")
    assert ran.code == 0, ran
    found = {c["name"]: (c["status"], c["last_result"]["kind"], c["workspace"])
             for c in ran.json()["connections"]}
    assert found == {"OpenAI (demo)": ("connected", "ok", "demo"),
                     "Anthropic (demo)": ("error", "auth", "demo"),
                     "Ollama (demo)": ("connected", "ok", "demo"),
                     "Ollama on the lab server (demo)": ("error", "unreachable", "demo")}


def test_without_demo_a_fresh_machine_still_has_no_data(home: Path) -> None:
    ran = run(home, "list")
    assert_one_line_error(ran, 2, "no data folder")


def test_demo_and_a_data_folder_are_not_mixed(home: Path) -> None:
    (home / "data").mkdir()
    ran = run(home, "list", "--demo", "--data-dir", str(home / "data"))
    assert_one_line_error(ran, 2, "--demo", "--data-dir")
    assert left_behind(home) == ["data"]
