"""The Activity screen: the workspace's audit trail, filtered, paged and downloaded."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from connections_core import AuditEntry, ConnectionService
from tests.app_support import (
    APP,
    add,
    assert_clean,
    open_app,
    rendered,
    run_checks,
    service,
    texts,
)
from tests.fakes import API_KEY, FakeServer
from ui.activity import action_label, audit_csv, describe, since_midnight, spreadsheet_safe

ACTIVITY = "app_pages/activity.py"
ADA = "ada@example.com"


def table(at: AppTest) -> Any:
    return at.dataframe[0].value


def column(at: AppTest, name: str) -> list[Any]:
    return list(table(at)[name])


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """The files download buttons were given, by file name, as Streamlit stored them."""
    files: dict[str, bytes] = {}
    store: Callable[..., str] = MemoryMediaFileStorage.load_and_get_id

    def keep(self: MemoryMediaFileStorage, data: Any, mimetype: str, kind: Any,
             filename: str | None = None) -> str:
        if isinstance(data, bytes) and filename:
            files[filename] = data
        return store(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return files


def as_ada() -> ConnectionService:
    """Ada, the default workspace's admin, acting through the core."""
    service().set_member(ADA, "admin")
    return ConnectionService.from_env(actor=ADA)


# -- the screen ------------------------------------------------------------------------------

def test_with_no_activity_it_says_what_will_be_recorded(data_dir: Path) -> None:
    at = open_app(ACTIVITY)

    assert "No activity yet" in texts(at)
    assert not at.dataframe and not at.download_button
    assert [link.value for link in at.page_link] == ["Go to Connections"]
    assert_clean(at)


def test_actions_appear_newest_first_with_readable_details(data_dir: Path,
                                                           fake_server: FakeServer) -> None:
    work = add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    service().update(work.id, work.version, name="Work (renamed)")
    at = open_app()
    run_checks(at, f"conn_test_{work.id}")

    at.switch_page(ACTIVITY).run()

    assert list(table(at).columns) == ["When (UTC)", "Who", "What", "Which connection",
                                       "Details"]
    assert column(at, "What") == ["Tested a connection", "Edited a connection",
                                  "Added a connection"]
    assert column(at, "Who") == ["local"] * 3
    assert column(at, "Which connection") == ["Work (renamed)", "Work (renamed)", "Work"]
    tested, edited, _ = column(at, "Details")
    assert tested.startswith("kind: ok · ") and tested.endswith(" ms")
    assert edited == "fields: name"
    assert column(at, "When (UTC)") == sorted(column(at, "When (UTC)"), reverse=True)
    assert_clean(at)


def test_filters_by_person_action_and_day(data_dir: Path) -> None:
    add("ollama", "Local", baseUrl="http://localhost:11434")
    as_ada().create("ollama", "Ada's", {"baseUrl": "http://localhost:11435"})
    at = open_app(ACTIVITY)
    assert len(table(at)) == 3  # two connections added, and Ada made a member

    at.selectbox(key="activity_filter_person").select(ADA).run()
    assert column(at, "Which connection") == ["Ada's"]

    at.selectbox(key="activity_filter_person").select(None).run()
    at.selectbox(key="activity_filter_action").select("member.set").run()
    assert column(at, "Details") == [f"email: {ADA} · role: admin"]

    at.selectbox(key="activity_filter_action").select(None).run()
    at.date_input(key="activity_filter_since").set_value(datetime.now(UTC).date()).run()
    assert len(table(at)) == 3
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    at.date_input(key="activity_filter_since").set_value(tomorrow).run()
    assert "No activity matches these filters." in texts(at)
    assert not at.dataframe
    assert_clean(at)


def test_times_on_screen_name_their_time_zone(data_dir: Path) -> None:
    """The table's times carried no zone (only the CSV's did): UTC or the reader's?"""
    add("ollama", "Local", baseUrl="http://localhost:11434")
    at = open_app(ACTIVITY)
    assert table(at).columns[0] == "When (UTC)"
    assert "(UTC)" in str(at.date_input(key="activity_filter_since").help)

    berlin = AppTest.from_file(APP, default_timeout=15)
    berlin.secrets["APP_TEST"] = "1"
    berlin.context = {"timezone": "Europe/Berlin"}
    berlin.run().switch_page(ACTIVITY).run()

    assert table(berlin).columns[0] == "When (Europe/Berlin)"
    assert str(table(berlin).iloc[0, 0].tzinfo) == "Europe/Berlin"
    assert "(Europe/Berlin)" in str(berlin.date_input(key="activity_filter_since").help)
    assert_clean(berlin)


def test_a_day_starts_at_midnight_where_the_reader_is() -> None:
    day = date(2026, 12, 6)
    assert since_midnight(day, ZoneInfo("Europe/Berlin")) == datetime(2026, 12, 5, 23,
                                                                       tzinfo=UTC)
    assert since_midnight(day, UTC) == datetime(2026, 12, 6, tzinfo=UTC)
    assert since_midnight(None, UTC) is None


def test_the_person_filter_offers_everyone_seen(data_dir: Path) -> None:
    add("ollama", "Local", baseUrl="http://localhost:11434")
    as_ada().create("ollama", "Ada's", {"baseUrl": "http://localhost:11435"})
    at = open_app(ACTIVITY)

    assert at.selectbox(key="activity_filter_person").options == [ADA, "local"]


def test_entries_come_fifty_to_a_page(data_dir: Path) -> None:
    many = service()
    for number in range(60):
        many.create("ollama", f"Server {number:02}", {"baseUrl": "http://localhost:11434"})
    at = open_app(ACTIVITY)
    assert len(table(at)) == 50
    assert column(at, "Which connection")[0] == "Server 59"
    assert "Showing 1–50 of 60 entries, newest first." in texts(at)

    at.pagination(key="activity_page").set_value(2).run()

    assert column(at, "Which connection") == [f"Server {n:02}" for n in range(9, -1, -1)]
    assert "Showing 51–60 of 60 entries, newest first." in texts(at)


def test_the_csv_holds_every_filtered_entry_and_no_formula(data_dir: Path,
                                                           downloads: dict[str, bytes]) -> None:
    add("ollama", "=cmd()", baseUrl="http://localhost:11434")
    add("ollama", "Local", baseUrl="http://localhost:11434")
    at = open_app(ACTIVITY)

    assert at.download_button[0].label == "Download CSV"
    rows = list(csv.reader(io.StringIO(downloads["activity-default.csv"].decode("utf-8-sig"))))
    assert rows[0] == ["When", "Who", "What", "Which connection", "Details"]
    assert [row[3] for row in rows[1:]] == ["Local", "'=cmd()"]
    assert datetime.fromisoformat(rows[1][0]).tzinfo is not None
    assert_clean(at)


# -- the pure parts ------------------------------------------------------------------------

@pytest.mark.parametrize(("cell", "safe"), [
    ("=cmd()", "'=cmd()"),
    ("+1+2", "'+1+2"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("Work", "Work"),
    ("a=b", "a=b"),
    ("", ""),
])
def test_spreadsheet_safe_makes_a_formula_text(cell: str, safe: str) -> None:
    assert spreadsheet_safe(cell) == safe


LOOKALIKE_STARTS = ["\uff1dcmd()", "\ufe661+1", "\uff0b1+2", "\ufe621+2", "\uff0d2+3",
                    "\ufe632+3", "\uff20SUM(A1)", "\ufe6bSUM(A1)", "\u200b=cmd()", "\u200c+1",
                    "\u200d-1", "\u2060@SUM(A1)", "\ufeff=1", "\u200b\u2060=1", "\u200b\t=1",
                    "\u200b\uff1d1"]


@pytest.mark.parametrize("cell", LOOKALIKE_STARTS,
                         ids=[ascii(cell[:2]) for cell in LOOKALIKE_STARTS])
def test_spreadsheet_safe_treats_lookalikes_and_hidden_starts_as_formulas(cell: str) -> None:
    """A fullwidth "＝", a small "﹦", or "=" after a zero-width character, was left as it
    was, though a spreadsheet may read it as the ASCII one."""
    assert spreadsheet_safe(cell) == f"'{cell}"


@pytest.mark.parametrize("cell", ["\u200bWork", "a\uff1db", "\u00e9=1"])
def test_spreadsheet_safe_leaves_other_cells_as_they_are(cell: str) -> None:
    assert spreadsheet_safe(cell) == cell


@pytest.mark.parametrize(("details", "said"), [
    ({"fields": ["name", "baseUrl"]}, "fields: name, baseUrl"),
    ({"kind": "ok", "latency_ms": 12}, "kind: ok · 12 ms"),
    ({"kind": "timeout", "latency_ms": 15001}, "kind: timeout · 15.0 s"),
    ({"count": 3, "failed": 1}, "count: 3 · failed: 1"),
    ({}, ""),
])
def test_describe_puts_details_on_one_line(details: dict[str, Any], said: str) -> None:
    assert describe(details) == said


def test_audit_csv_neutralises_every_column() -> None:
    entry = AuditEntry(datetime(2026, 1, 1, 12, tzinfo=UTC), "default", "@evil", "=action",
                       None, "+name", {"note": "-1"})

    rows = list(csv.reader(io.StringIO(audit_csv([entry]).decode("utf-8-sig"))))

    assert rows[1] == ["2026-01-01T12:00:00+00:00", "'@evil", "'=action", "'+name",
                       "note: -1"]


# -- schedules and alerts --------------------------------------------------------------------

MONITORING_LABELS = {
    "connection.schedule_set": "Set a connection's check schedule",
    "alerts.webhook_set": "Set the alert webhook",
    "alerts.webhook_cleared": "Removed the alert webhook",
    "alerts.test_sent": "Sent a test alert",
    "alerts.delivery_failed": "Could not deliver an alert",
}


def test_schedules_and_alerts_are_told_in_words_and_offered_by_the_filter(
        data_dir: Path, fake_server: FakeServer) -> None:
    hook = "/services/T0AAA/B0BBB/XyZ9hookSecretQw3rty7Uio0pAsd"
    fake_server.respond(hook, 200, "ok", method="POST")
    work = add("ollama", "Local", baseUrl="http://localhost:11434")
    service().set_schedule(work.id, 5)
    service().set_alert_webhook(f"{fake_server.url}{hook}")
    service().send_test_alert()
    service().set_alert_webhook(None)

    at = open_app(ACTIVITY)

    assert column(at, "What")[:5] == ["Removed the alert webhook", "Sent a test alert",
                                      "Set the alert webhook",
                                      "Set a connection's check schedule", "Added a connection"]
    assert column(at, "Which connection")[3] == "Local"
    _, tested, _, scheduled, _ = column(at, "Details")
    assert scheduled == "every 5 minutes"
    assert tested == f"delivered · reason: {fake_server.url} answered HTTP 200. · HTTP 200 · " \
                     "1 attempt"
    offered = at.selectbox(key="activity_filter_action").options
    assert set(MONITORING_LABELS.values()) <= set(offered)
    at.selectbox(key="activity_filter_action").select("connection.schedule_set").run()
    assert column(at, "What") == ["Set a connection's check schedule"]
    assert "XyZ9hookSecretQw3rty7Uio0pAsd" not in rendered(at)
    assert_clean(at)


@pytest.mark.parametrize(("action", "label"), MONITORING_LABELS.items())
def test_each_schedule_and_alert_action_has_a_label(action: str, label: str) -> None:
    assert action_label(action) == label


@pytest.mark.parametrize(("details", "said"), [
    ({"minutes": 5}, "every 5 minutes"),
    ({"minutes": 1}, "every minute"),
    ({"minutes": 0}, "not scheduled"),
    ({"replaced": True}, "replaced the previous one"),
    ({"replaced": False}, ""),
    ({"ok": False, "reason": "x answered HTTP 500.", "status_code": 500, "attempts": 4},
     "not delivered · reason: x answered HTTP 500. · HTTP 500 · 4 attempts"),
    ({"ok": False, "reason": "Can't reach x.", "status_code": None, "attempts": 1},
     "not delivered · reason: Can't reach x. · 1 attempt"),
])
def test_describe_tells_schedules_and_deliveries_in_words(details: dict[str, Any],
                                                          said: str) -> None:
    assert describe(details) == said
