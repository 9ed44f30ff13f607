"""The public API is a contract: code outside this repository calls these names."""

from __future__ import annotations

import inspect
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import connections_core
from connections_core import ollama

ROOT = Path(__file__).resolve().parent.parent


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(connections_core)
              if not name.startswith("_") and name not in {"annotations", "TYPE_CHECKING"}}
    # The package's modules are not names of its API, except the ones it offers as such.
    modules = {module.name for module in pkgutil.iter_modules(connections_core.__path__)
               if module.name != "ollama"}
    lazy = {"PostgresStore"}  # imported on first use: the TinyDB path never needs psycopg
    assert set(connections_core.__all__) == (public | lazy) - modules
    for name in connections_core.__all__:
        assert getattr(connections_core, name) is not None


@pytest.mark.parametrize(("function", "parameters"), [
    (connections_core.generate_key, []),
    (connections_core.encrypt, ["plaintext", "key"]),
    (connections_core.decrypt, ["token", "key"]),
    (connections_core.is_encrypted, ["value"]),
    (connections_core.KeyRing, ["current", "previous"]),
    (connections_core.KeyRing.from_env, ["environ"]),
    (connections_core.TinyDBStore, ["path"]),
    (connections_core.PostgresStore, ["dsn"]),
    (connections_core.ConnectionService, ["store", "keyring", "workspace_id"]),
    (connections_core.ConnectionService.from_env, ["workspace_id", "environ"]),
    (connections_core.test_connection, ["type", "config", "timeout"]),
    (connections_core.ConnectionService.create, ["self", "type", "name", "config",
                                                 "initial_status"]),
    (connections_core.ConnectionService.update, ["self", "id", "version", "name", "config"]),
    (ollama.list_models, ["base_url"]),
    (ollama.pull_model, ["base_url", "name"]),
    (ollama.delete_model, ["base_url", "name"]),
    (ollama.show_model, ["base_url", "name"]),
    (ollama.list_running, ["base_url"]),
    (ollama.version, ["base_url"]),
])
def test_contract_signatures(function: object, parameters: list[str]) -> None:
    signature = inspect.signature(function)  # type: ignore[arg-type]
    positional = [p.name for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert positional == parameters


def test_ollama_functions_take_a_timeout() -> None:
    for function in (ollama.list_models, ollama.pull_model, ollama.delete_model,
                     ollama.show_model, ollama.list_running, ollama.version):
        assert "timeout" in inspect.signature(function).parameters


def test_core_imports_neither_streamlit_nor_pandas() -> None:
    code = ("import sys, connections_core; "
            "print(sorted(m for m in ('streamlit', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_the_tinydb_path_never_imports_psycopg(tmp_path: Path) -> None:
    """A laptop install starts without psycopg: only a PostgreSQL store imports it."""
    code = ("import os, sys\n"
            "from connections_core import ConnectionService\n"
            "service = ConnectionService.from_env(environ={'CONNECTIONS_DATA_DIR': sys.argv[1]})\n"
            "service.create('ollama', 'Local', {})\n"
            "service.list(); service.audit()\n"
            "print(sorted(m for m in sys.modules if m == 'connections_core.postgres' "
            "or m.split('.')[0] in ('psycopg', 'psycopg_pool')))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(shutil.which("mypy") is None, reason="mypy is not installed")
def test_core_passes_mypy_strict() -> None:
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                          "connections_core"], cwd=ROOT, capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stdout
