"""The check history on the Connections screen, through AppTest: each card's last 24 hours
(uptime, schedule, sparkline), the History dialog (its figures, charts, failures and
schedule, which only editors and up may set), and the workspace's health in one line.

Histories are real: checks against the fake server on 127.0.0.1, or check records
appended through the store's transaction with chosen times.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest

from connections_core import Connection
from tests.app_support import (
    APP,
    add,
    assert_clean,
    card,
    open_app,
    plain,
    run_checks,
    service,
    texts,
)
from tests.fakes import API_KEY, FakeServer
from ui.health import percent

WRONG_KEY = "sk-fake-another-key-4321LMNO"  # the fake server refuses it (401)
EDITOR_ONLY = "You are a viewer in default: ask an admin to do this, or to make you an editor."
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "c", "client_secret": "s",
        "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}
BERLIN = ZoneInfo("Europe/Berlin")


def seed(connection: Connection, *checks: tuple[timedelta, bool, str, int, int | None]
         ) -> datetime:
    """Append check records (how long ago, passed, kind, latency, HTTP status) as the
    scheduler would have; the time they are counted from."""
    now = datetime.now(UTC)
    store = service().store
    with store.transaction() as tx:
        tx.append_checks({"at": (now - ago).isoformat(), "workspace_id": "default",
                          "connection_id": connection.id, "success": passed, "kind": kind,
                          "latency_ms": latency, "status_code": status,
                          "source": "schedule"}
                         for ago, passed, kind, latency, status in checks)
    return now


def known_day(connection: Connection) -> datetime:
    """20 checks passed in the last 24 h (100 to 290 ms), and two failed there (a refused
    key, an hour ago; a timeout, two hours ago); one more failed three days ago."""
    passed = [(timedelta(minutes=30 + 60 * n), True, "ok", 100 + 10 * n, 200)
              for n in range(20)]
    return seed(connection, *passed,
                (timedelta(hours=1), False, "auth", 40, 401),
                (timedelta(hours=2), False, "timeout", 5000, None),
                (timedelta(days=3), False, "rate_limited", 60, 429))


def charts(node: Any) -> list[Any]:
    """The Vega-Lite charts under ``node``."""
    return list(node.get("vega_lite_chart"))


def chart_rows(chart: Any) -> list[dict[str, Any]]:
    """The rows a chart draws, inline in its spec's layers."""
    spec = json.loads(chart.proto.spec)
    return [row for layer in spec.get("layer", []) for row in
            layer.get("data", {}).get("values", [])]


def open_history(at: AppTest, connection: Connection) -> AppTest:
    return at.button(key=f"conn_history_{connection.id}").click().run()


def metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def open_as(email: str) -> AppTest:
    """The app with sign-in on and ``email`` signed in."""
    user = {"is_logged_in": True, "email": email, "email_verified": True,
            "exp": time.time() + 3600}
    return open_app(secrets={"auth": AUTH}, user=user)


@pytest.fixture
def work(data_dir: Any, fake_server: FakeServer) -> Connection:
    return add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)


# -- the card's last 24 hours ---------------------------------------------------------------

def test_a_card_shows_its_last_days_uptime_schedule_and_sparkline(work: Connection) -> None:
    known_day(work)
    at = open_app()

    assert_clean(at)
    assert "Last 24 h: 90.9% · 22 checks · Not scheduled" in card(at, work)
    [sparkline] = charts(at.get_by_key(f"conn_card_{work.id}"))
    rows = chart_rows(sparkline)
    assert sum(row["checks"] for row in rows) == 22
    assert sum(row["failures"] for row in rows) == 2


def test_a_card_without_checks_says_so_and_draws_no_chart(work: Connection) -> None:
    service().set_schedule(work.id, 5)
    at = open_app()

    assert "No checks in 24 h · Checked every 5 min" in card(at, work)
    assert charts(at.get_by_key(f"conn_card_{work.id}")) == []


def test_a_test_on_the_card_shows_in_its_last_day_at_once(work: Connection) -> None:
    at = open_app()
    assert "No checks in 24 h" in card(at, work)

    run_checks(at, f"conn_test_{work.id}")

    assert "Last 24 h: 100% · 1 check · Not scheduled" in card(at, work)
    assert len(charts(at.get_by_key(f"conn_card_{work.id}"))) == 1


@pytest.mark.parametrize(("passed", "checks", "shown"), [
    (140, 140, "100%"), (139, 140, "99.2%"), (1999, 2000, "99.9%"), (1, 2, "50%"), (0, 3, "0%")])
def test_uptime_is_rounded_down_so_a_failure_never_shows_as_100_percent(
        passed: int, checks: int, shown: str) -> None:
    assert percent(passed / checks) == shown


# -- the History dialog ---------------------------------------------------------------------

def test_the_history_dialog_shows_the_last_days_figures_in_the_readers_time_zone(
        work: Connection) -> None:
    now = known_day(work)
    at = AppTest.from_file(APP, default_timeout=15)
    at.secrets["APP_TEST"] = "1"
    at.context = {"timezone": "Europe/Berlin"}
    open_history(at.run(), work)

    assert_clean(at)
    assert metrics(at) == {"Uptime": "90.9%", "Checks": "22", "Failed": "2",
                           "Median latency": "190 ms", "95th percentile": "280 ms"}
    success = (now - timedelta(minutes=30)).astimezone(BERLIN).strftime("%Y-%m-%d %H:%M:%S %Z")
    failure = (now - timedelta(hours=1)).astimezone(BERLIN).strftime("%Y-%m-%d %H:%M:%S %Z")
    assert (f"Last success: {success} · last failure: {failure} (times in Europe/Berlin)"
            in texts(at))
    assert len(charts(at)) == 1 + 2  # the card's sparkline; latency, and the status timeline


def test_the_history_dialog_lists_the_recent_failures_with_what_each_kind_means(
        work: Connection) -> None:
    known_day(work)
    at = open_history(open_app(), work)

    failures = [plain(m.value) for m in at.markdown if plain(m.value).startswith("- ")]
    assert len(failures) == 1
    lines = failures[0].splitlines()
    assert len(lines) == 2  # the one three days ago is not in the last 24 h
    assert "auth: the provider refused the key (HTTP 401) · scheduled · 40 ms" in lines[0]
    assert "timeout: the server did not answer in time · scheduled · 5.0 s" in lines[1]


def test_the_history_dialogs_range_reaches_back_seven_days(work: Connection) -> None:
    known_day(work)
    at = open_history(open_app(), work)

    at.segmented_control(key="conn_history_span").set_value("7 d").run()

    assert metrics(at)["Checks"] == "23"
    assert metrics(at)["Failed"] == "3"
    assert "rate_limited: the provider was rate-limiting the key" in texts(at)


def test_the_history_dialog_of_a_connection_never_checked_says_what_to_do(
        work: Connection) -> None:
    at = open_history(open_app(), work)

    assert_clean(at)
    assert "No checks in the last 24 h: press *Test* on the card, or set a schedule below." \
        in texts(at)
    assert metrics(at) == {}

    at.button(key="conn_history_close").click().run()
    assert "No checks in the last 24 h" not in texts(at)
    assert "No checks in 24 h · Not scheduled" in card(at, work)


def test_an_editor_sets_the_schedule_in_the_history_dialog(work: Connection) -> None:
    core = service()
    core.set_member("ada@example.com", "admin")
    core.set_member("eve@example.com", "editor")
    at = open_history(open_as("eve@example.com"), work)
    schedule = at.selectbox(key="conn_history_schedule")
    assert schedule.value == 0
    assert schedule.format_func(5) == "Every 5 minutes"
    assert not schedule.disabled

    schedule.select(5).run()

    assert service().get(work.id).schedule_minutes == 5
    assert "Checked every 5 min" in card(at, work)
    assert at.selectbox(key="conn_history_schedule").value == 5


def test_a_viewer_sees_the_schedule_but_cannot_set_it(work: Connection) -> None:
    core = service()
    core.set_member("ada@example.com", "admin")
    core.set_member("vic@example.com", "viewer")
    core.set_schedule(work.id, 15)
    at = open_history(open_as("vic@example.com"), work)

    schedule = at.selectbox(key="conn_history_schedule")
    assert schedule.value == 15
    assert schedule.disabled
    assert plain(schedule.help) == EDITOR_ONLY


# -- the workspace's health -----------------------------------------------------------------

def test_the_screen_counts_healthy_failing_and_unscheduled_connections(
        work: Connection, fake_server: FakeServer) -> None:
    core = service()
    other = add("openai", "Other", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    refused = add("openai", "Refused", apiKey=WRONG_KEY, baseUrl=fake_server.openai_url)
    add("ollama", "Never checked", baseUrl=fake_server.url)
    for connection in (work, other, refused):
        core.test(connection.id)
    core.set_schedule(work.id, 1)
    core.set_schedule(refused.id, 60)

    at = open_app()

    assert "2 healthy · 1 failing · 2 not scheduled" in [plain(m.value) for m in at.markdown]
