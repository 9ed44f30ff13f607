"""A connection's History dialog (opened from its card): how its checks went over the
last 24 hours, 7 days or 30 days (its health's figures, latency over time, a
status timeline, the recent failures), and how often it is checked in the
background.

The dialog's frame (its title, and closing it) is :mod:`ui.connection_dialogs`';
this is what it shows.  Times are on the clock of the browser's time zone, as on
the Activity screen.  The schedule's select always shows the stored schedule,
unless the person just chose one, so a change made elsewhere meanwhile is never
sent back (as a member's role in :mod:`ui.members`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo

import streamlit as st

from connections_core import (
    SCHEDULE_MINUTES,
    CheckRecord,
    Connection,
    ConnectionService,
    Health,
    counted,
    duration,
)
from ui.charts import SPANS, Span, buckets, latency_chart, status_timeline
from ui.format import browser_zone, clock_time, md, zone_name
from ui.health import SCHEDULE_LABELS, SOURCE_LABELS, kind_sentence, percent
from ui.members import needs_role
from ui.notices import notify
from ui.providers import provider_name

SPAN = "conn_history_span"  # the range shown: a Span's label
SCHEDULE = "conn_history_schedule"  # the schedule's select
SCHEDULE_CHOSEN = "conn_history_schedule_chosen"  # the id whose schedule was just chosen
#: the most checks the dialog reads: 30 days of a check every minute, and then some
HISTORY_CHECKS = 50_000
FAILURES_SHOWN = 10
SCHEDULE_HELP = ("How often the server checks this connection by itself; each check is "
                 "kept in its history.")


def connection_history(service: ConnectionService, id: str, close: Callable[[], None]) -> None:
    """The dialog's body for connection ``id``; ``close`` closes the dialog."""
    connection = service.get(id)
    st.markdown(f"**{md(connection.name)}** · {provider_name(connection.type)}")
    span = _span()
    now = datetime.now(UTC)
    since = now - span.length
    health = service.health(id, since=since)
    zone = browser_zone()
    _figures(health, span, zone)
    if health.checks:
        records = service.history(id, since=since, limit=HISTORY_CHECKS)
        rows = buckets(records, span.bucket)
        latency_chart(rows, span, now)
        status_timeline(rows, span, now)
        _failures(records, health, zone)
    _schedule(service, connection)
    if st.button("Close", key="conn_history_close"):
        close()


def _span() -> Span:
    labels = [span.label for span in SPANS]
    chosen = st.segmented_control("Range", labels, default=labels[0], required=True,
                                  key=SPAN, label_visibility="collapsed")
    return next(span for span in SPANS if span.label == chosen)


def _figures(health: Health, span: Span, zone: tzinfo) -> None:
    """Uptime, checks, failures, the median and 95th-percentile latencies, and when the
    last check passed and failed."""
    if health.uptime is None:
        st.info(f"No checks in the last {span.label}: press *Test* on the card, or set "
                "a schedule below.", icon=":material/history:")
        return
    with st.container(horizontal=True):
        st.metric("Uptime", percent(health.uptime))
        st.metric("Checks", f"{health.checks:,}")
        st.metric("Failed", f"{health.failures:,}")
        st.metric("Median latency", _latency(health.latency_p50_ms),
                  help="Of the checks that passed")
        st.metric("95th percentile", _latency(health.latency_p95_ms),
                  help="Of the checks that passed: 95% took at most this long")
    st.caption(f"Last success: {_when(health.last_success_at, zone)} · "
               f"last failure: {_when(health.last_failure_at, zone)} "
               f"(times in {zone_name(zone)})")


def _latency(ms: int | None) -> str:
    return "–" if ms is None else duration(ms)


def _when(at: datetime | None, zone: tzinfo) -> str:
    return "never" if at is None else clock_time(at, zone)


def _failures(records: Sequence[CheckRecord], health: Health, zone: tzinfo) -> None:
    """The latest failed checks, newest first: when, their kind and what it means, the
    HTTP status, where they were run from, and how long they took."""
    st.markdown("**Recent failures**")
    failed = [record for record in records if not record.success][:FAILURES_SHOWN]
    if not failed:
        st.caption("None: every check in this range passed.")
        return
    st.markdown("\n".join(f"- {_failure(record, zone)}" for record in failed))
    if health.failures > len(failed):
        st.caption(f"The {len(failed)} most recent of "
                   f"{counted(health.failures, 'failed check')} in this range.")


def _failure(record: CheckRecord, zone: tzinfo) -> str:
    status = f" (HTTP {record.status_code})" if record.status_code is not None else ""
    source = SOURCE_LABELS.get(record.source, record.source)
    return (f"{clock_time(record.at, zone)} · {md(kind_sentence(record.kind))}{status} · "
            f"{md(source)} · {duration(record.latency_ms)}")


def _schedule(service: ConnectionService, connection: Connection) -> None:
    """How often the server checks the connection: editors and admins choose it."""
    id = connection.id
    why_not = needs_role(service, "set_schedule")
    if st.session_state.get(SCHEDULE_CHOSEN) != id:
        st.session_state[SCHEDULE] = connection.schedule_minutes
    minutes = st.selectbox("Background checks", SCHEDULE_MINUTES, key=SCHEDULE,
                           format_func=SCHEDULE_LABELS.__getitem__,
                           disabled=why_not is not None, help=why_not or SCHEDULE_HELP,
                           on_change=lambda: st.session_state.update({SCHEDULE_CHOSEN: id}))
    if st.session_state.get(SCHEDULE_CHOSEN) != id:
        return
    st.session_state[SCHEDULE_CHOSEN] = None
    service.set_schedule(id, minutes)
    notify(f"**{md(connection.name)}**: background checks "
           f"{SCHEDULE_LABELS[minutes].lower()}.", icon=":material/schedule:")
    st.rerun()  # the whole screen: the card shows the new schedule
