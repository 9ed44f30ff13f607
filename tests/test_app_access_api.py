"""GET /api/v1/credentials/{type} over real HTTP, against ``streamlit run
streamlit_app.py``: on the data file (every answer, the rate limit, and nothing of
a token or a key in the DEBUG log, the audit trail or an error body), and on
PostgreSQL as two replicas of one database (a token revoked through one service
is refused by the other replica within a second; a token never reads another
workspace)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from connections_core import ConnectionService, generate_key
from tests.browsers import ROOT, wait_until_healthy
from tests.postgres import PostgresServer
from tests.support import ANTHROPIC_KEY, OPENAI_KEY, free_port

API = "/api/v1/credentials"
TEAM_B_KEY = "sk-team-b-0123456789abcdefQRST"


@dataclass
class App:
    urls: list[str]
    env: dict[str, str]
    logs: list[Path]
    tokens: dict[str, str] = field(default_factory=dict)  # name -> secret

    def service(self, workspace: str = "default") -> ConnectionService:
        return ConnectionService.from_env(workspace, environ=self.env)

    def get(self, type: str, secret: str | None, replica: int = 0) -> requests.Response:
        headers = {} if secret is None else {"Authorization": f"Bearer {secret}"}
        return requests.get(f"{self.urls[replica]}{API}/{type}", headers=headers, timeout=10)


def _environment(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("CONNECTIONS_DATABASE_URL", "CONNECTIONS_DATA_DIR")}
    return {**env, "ENCRYPTION_KEY": generate_key(), **settings}


def _serve(stack: ExitStack, env: dict[str, str], logs: list[Path], count: int) -> list[str]:
    """``count`` processes of ``streamlit run`` at DEBUG, started together, healthy."""
    started = []
    for log in logs[:count]:
        port = free_port()
        output = stack.enter_context(log.open("wb"))
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
             "--server.headless", "true", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false", "--logger.level", "debug"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        stack.callback(process.wait, 30)
        stack.callback(process.terminate)
        started.append((f"http://127.0.0.1:{port}", process))
    for url, process in started:
        wait_until_healthy(url, process)
    return [url for url, _ in started]


def _seed(app: App) -> None:
    service = app.service()
    openai = service.create("openai", "Prod", {"apiKey": OPENAI_KEY}, initial_status="connected")
    service.set_default(openai.id)
    service.create("anthropic", "Not the default", {"apiKey": ANTHROPIC_KEY})
    for name, options in {"billing": {"types": ["openai", "gemini"]},
                          "only-anthropic": {"types": ["anthropic"]}, "busy": {},
                          "revoked": {}}.items():
        token, app.tokens[name] = service.create_app_token(name, **options)  # type: ignore[arg-type]
        if name == "revoked":
            service.revoke_app_token(token.id)


@pytest.fixture(scope="module")
def file_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    folder = tmp_path_factory.mktemp("api")
    app = App([], _environment(CONNECTIONS_DATA_DIR=str(folder / "data")),
              [folder / "server.log"])
    _seed(app)
    with ExitStack() as stack:
        app.urls = _serve(stack, app.env, app.logs, 1)
        yield app


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
             ) -> Iterator[App]:
    folder = tmp_path_factory.mktemp("api-pg")
    app = App([], _environment(CONNECTIONS_DATABASE_URL=postgres.dsn(postgres.empty_database())),
              [folder / "a.log", folder / "b.log"])
    _seed(app)
    with ExitStack() as stack:
        app.urls = _serve(stack, app.env, app.logs, 2)
        yield app


def test_each_answer_on_the_data_file(file_app: App) -> None:
    billing = file_app.tokens["billing"]
    answer = file_app.get("openai", billing)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    service = file_app.service()
    assert body == {"type": "openai", "connection_id": service.get_default("openai").id,
                    "name": "Prod", "config": service.resolve_config("openai")}

    # 401: one body for a missing, unknown, expired or revoked token.
    expired, expired_secret = service.create_app_token("short", expires_in=timedelta(minutes=1))
    with service.store.transaction() as tx:  # a minute later
        (record,) = [t for t in tx.app_tokens("default") if t["id"] == expired.id]
        tx.put_app_token({**record, "expires_at": "2020-01-01T00:00:00+00:00"})
    refusals = [file_app.get("openai", secret) for secret in (
        None, "cnx_unknown", file_app.tokens["revoked"], billing[:-1], "not-a-token",
        expired_secret)]
    assert {(r.status_code, r.text, r.headers["cache-control"], r.headers["www-authenticate"])
            for r in refusals} == {(401, refusals[0].text, "no-store", "Bearer")}
    assert "expired or revoked" in refusals[0].json()["error"]

    forbidden = file_app.get("openai", file_app.tokens["only-anthropic"])
    assert forbidden.status_code == 403 and "reads only anthropic" in forbidden.json()["error"]
    missing = file_app.get("gemini", billing)
    assert missing.status_code == 404 and "no default Google Gemini" in missing.json()["error"]
    assert file_app.get("gpt", billing).status_code == 403  # outside the token's types
    assert all(r.headers["cache-control"] == "no-store" for r in (forbidden, missing))

    entries = service.audit(action="credentials.resolved")
    assert [(e.actor, e.target_name, dict(e.details)) for e in entries] == [
        ("app token 'billing'", "Prod", {"token": "billing", "type": "openai"})]


def test_the_rate_limit_and_what_the_log_and_the_trail_never_hold(file_app: App) -> None:
    busy = file_app.tokens["busy"]
    statuses = [file_app.get("openai", busy).status_code for _ in range(61)]
    assert statuses == [200] * 60 + [429]
    limited = file_app.get("openai", busy)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert file_app.get("openai", file_app.tokens["billing"]).status_code == 200

    service = file_app.service()
    trail = json.dumps([[e.actor, e.action, e.target_name, dict(e.details)]
                        for e in service.audit(limit=1000)])
    log = file_app.logs[0].read_text(errors="replace")
    assert "Runtime state" in log  # Streamlit's own DEBUG lines: the log was written
    for secret in (*file_app.tokens.values(), OPENAI_KEY, ANTHROPIC_KEY):
        assert secret not in log and secret not in trail
    bodies = [file_app.get("openai", None).text, limited.text,
              file_app.get("gemini", file_app.tokens["billing"]).text]
    assert not any(key in body for body in bodies for key in (OPENAI_KEY, ANTHROPIC_KEY))


def test_replicas_revocation_and_workspaces(replicas: App) -> None:
    secret = replicas.tokens["billing"]
    assert [replicas.get("openai", secret, n).status_code for n in (0, 1)] == [200, 200]

    team_b = replicas.service("team-b")
    made = team_b.create("openai", "B", {"apiKey": TEAM_B_KEY}, initial_status="connected")
    team_b.set_default(made.id)
    _, b_secret = team_b.create_app_token("b-app")
    assert replicas.get("openai", b_secret, 1).json()["config"]["apiKey"] == TEAM_B_KEY
    assert replicas.get("openai", secret, 1).json()["config"]["apiKey"] == OPENAI_KEY

    # The other answers, from the database.
    assert replicas.get("openai", replicas.tokens["only-anthropic"], 1).status_code == 403
    assert replicas.get("gemini", secret, 0).status_code == 404
    busy = [replicas.get("openai", replicas.tokens["busy"], 1).status_code for _ in range(61)]
    assert busy == [200] * 60 + [429]
    assert replicas.get("openai", replicas.tokens["busy"], 0).status_code == 200  # per replica

    service = replicas.service()
    (token,) = [t for t in service.app_tokens() if t.name == "billing"]
    service.revoke_app_token(token.id)
    revoked_at = time.monotonic()
    while replicas.get("openai", secret, 1).status_code != 401:
        assert time.monotonic() - revoked_at < 1.0, "replica b still answers a revoked token"
    assert replicas.get("openai", secret, 0).status_code == 401
    assert len(service.audit(action="credentials.resolved", limit=1000)) == 64
