"""``exec`` and ``env`` on the command line, and the Python client
(connections_core.remote): credentials from the local store, or from the API with an
application token (the API's routes served on 127.0.0.1 by uvicorn, as Streamlit's
server serves them); a key only ever in the child's environment or on stdout."""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette

from connections_core import (
    ConnectionService,
    KeyRing,
    NotFoundError,
    PermissionDeniedError,
    TinyDBStore,
    generate_key,
    remote,
)
from server.api import api_routes
from tests.installations import Installation, assert_one_line_error
from tests.support import ANTHROPIC_KEY, OPENAI_KEY, free_port

OLLAMA_URL = "http://127.0.0.1:11434"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def site(tmp_path: Path) -> Installation:
    """An installation whose workspace has an OpenAI, an Anthropic and an Ollama default."""
    (tmp_path / "data").mkdir(mode=0o700)
    site = Installation(tmp_path, tmp_path / "data", generate_key())
    service = site.service()
    for type, config in (("openai", {"apiKey": OPENAI_KEY}),
                         ("anthropic", {"apiKey": ANTHROPIC_KEY}),
                         ("ollama", {"baseUrl": OLLAMA_URL})):
        made = service.create(type, f"My {type}", config, initial_status="connected")
        service.set_default(made.id)
    return site


@pytest.fixture
def api(site: Installation) -> Iterator[str]:
    """The API's routes over ``site``'s store, served on a loopback port; its URL."""
    service = ConnectionService(TinyDBStore(site.data_file), KeyRing(site.key))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=api_routes(lambda: service)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)  # a poll interval: uvicorn sets a flag, with nothing to wait on
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


CHILD = ("import hashlib, os, sys; "
         "env = {n: hashlib.sha256(os.environ[n].encode()).hexdigest() "
         "for n in sys.argv[1:] if n in os.environ}; "
         "print(__import__('json').dumps(env)); sys.exit(7)")


def test_exec_gives_the_child_each_provider_s_variables_and_its_exit_code(
        site: Installation) -> None:
    ran = site.run("exec", "--type", "openai", "-t", "anthropic", "-t", "ollama", "--",
                   "python", "-c", CHILD, "OPENAI_API_KEY", "OPENAI_BASE_URL",
                   "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OLLAMA_HOST")

    assert ran.code == 7, ran
    assert json.loads(ran.out) == {
        "OPENAI_API_KEY": digest(OPENAI_KEY),
        "OPENAI_BASE_URL": digest("https://api.openai.com/v1"),
        "ANTHROPIC_API_KEY": digest(ANTHROPIC_KEY),
        "ANTHROPIC_BASE_URL": digest("https://api.anthropic.com"),  # its SDK adds /v1
        "OLLAMA_HOST": digest(OLLAMA_URL)}
    assert OPENAI_KEY not in ran.output and ANTHROPIC_KEY not in ran.output
    audit = json.dumps([[e.action, dict(e.details)] for e in site.service().audit()])
    assert OPENAI_KEY not in audit


def test_a_key_is_never_in_the_process_list_while_the_child_runs(site: Installation) -> None:
    running = site.start("exec", "-t", "openai", "--", "python", "-c",
                         "print('ready', flush=True); input()")
    try:
        assert running.stdout is not None and running.stdin is not None
        assert running.stdout.readline().strip() == "ready"
        listing = subprocess.run(["ps", "-eo", "args", "-ww"], capture_output=True,
                                 text=True, check=True).stdout
        assert "connections_core exec" in listing and OPENAI_KEY not in listing
        cmdlines = b"".join(p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline")
                            if _readable(p))
        assert OPENAI_KEY.encode() not in cmdlines
        running.stdin.write("\n")
        running.stdin.flush()
    finally:
        running.communicate(timeout=30)
    assert running.returncode == 0


def _readable(path: Path) -> bool:
    try:
        path.read_bytes()
    except OSError:
        return False
    return True


def test_env_prints_each_format(site: Installation) -> None:
    dotenv, shell, as_json = (site.run("env", "-t", "openai", "--format", f).out
                              for f in ("dotenv", "shell", "json"))
    assert dotenv.splitlines() == [f'OPENAI_API_KEY="{OPENAI_KEY}"',
                                   'OPENAI_BASE_URL="https://api.openai.com/v1"']
    assert json.loads(as_json) == {"OPENAI_API_KEY": OPENAI_KEY,
                                   "OPENAI_BASE_URL": "https://api.openai.com/v1"}
    evaluated = subprocess.run(["bash", "-c", f'{shell}\nprintf %s "$OPENAI_API_KEY"'],
                               capture_output=True, text=True, check=True).stdout
    assert evaluated == OPENAI_KEY


def test_exec_and_env_say_what_is_wrong(site: Installation) -> None:
    assert_one_line_error(site.run("env", "-t", "gpt"), 2, "unknown provider type 'gpt'")
    assert_one_line_error(site.run("env", "-t", "gemini"), 2, "no google gemini connection")
    other = site.service().create("openai_compatible", "vLLM",
                                  {"baseUrl": "http://127.0.0.1:8000/v1"})
    assert other.is_default
    assert_one_line_error(site.run("env", "-t", "openai", "-t", "openai_compatible"), 2,
                          "both set OPENAI_BASE_URL")
    missing = site.run("exec", "-t", "ollama", "--", "no-such-command-here")
    assert missing.code == 127 and "no such command" in missing.err


def test_with_an_application_token_they_ask_the_api(site: Installation, api: str) -> None:
    _, secret = site.service().create_app_token("worker", types=["openai"])
    env = {"CONNECTIONS_URL": api, "CONNECTIONS_TOKEN": secret,
           "ENCRYPTION_KEY": None, "CONNECTIONS_DATA_DIR": None}  # no key, no store

    ran = site.run("exec", "-t", "openai", "--", "python", "-c", CHILD, "OPENAI_API_KEY", **env)
    assert (ran.code, json.loads(ran.out)) == (7, {"OPENAI_API_KEY": digest(OPENAI_KEY)})
    refused = site.run("env", "-t", "anthropic", **env)
    assert_one_line_error(refused, 2, "reads only openai")
    assert secret not in refused.output
    (entry,) = site.service().audit(action="credentials.resolved")
    assert dict(entry.details) == {"token": "worker", "type": "openai"}


def test_the_python_client(site: Installation, api: str,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    _, secret = site.service().create_app_token("app", types=["openai", "gemini"])
    monkeypatch.setenv("CONNECTIONS_URL", api)
    monkeypatch.setenv("CONNECTIONS_TOKEN", secret)

    assert remote.resolve_config("openai") == site.service().resolve_config("openai")
    with pytest.raises(PermissionDeniedError, match="reads only gemini, openai"):
        remote.resolve_config("anthropic")
    with pytest.raises(NotFoundError, match="no default Google Gemini"):
        remote.resolve_config("gemini")
    with pytest.raises(remote.RemoteError, match="refused the application token") as caught:
        remote.resolve_config("openai", token="cnx_" + "x" * 43)
    assert caught.value.status_code == 401
    monkeypatch.delenv("CONNECTIONS_TOKEN")
    with pytest.raises(remote.RemoteError, match="Set CONNECTIONS_TOKEN"):
        remote.resolve_config("openai")
    with pytest.raises(remote.RemoteError, match="Can't ask the dashboard"):
        remote.resolve_config("openai", url=f"http://127.0.0.1:{free_port()}", token=secret)
