"""The check history on the Connections screen, through AppTest: each card's last 24 hours
(uptime, schedule, sparkline).

Histories are real: checks against the fake server on 127.0.0.1, or check records
appended through the store's transaction with chosen times.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connections_core import Connection
from tests.app_support import (
    add,
    assert_clean,
    card,
    open_app,
    run_checks,
    service,
)
from tests.fakes import API_KEY, FakeServer


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
