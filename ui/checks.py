"""The Connections screen's checks, run off the script thread: a card's Test, and Test all.

The core runs them on the process's bounded pool of checks and hands back a
handle at once (a future for a Test, a :class:`TestAllRun` for Test all), kept
in session state: a click elsewhere (Test on another card, a dialog, a filter)
can't interrupt a check, the core records the result whatever the page does,
and the page shows it when it arrives.  No session keeps a thread waiting, so
the threads don't grow with how many people press.  Test all pressed while the
workspace's Test all runs (someone else's, or this person's in another tab)
follows that run: its progress, with the results already in.

- A button's callback starts the check (:func:`start_check`, :func:`start_test_all`).
- While one runs, :func:`follow_checks` draws Test all's progress and table in a
  fragment that reruns a few times a second, and reruns the whole page when a
  check ends.  The table lists the connections the run checks, each "Checking…"
  until its result arrives, under its current name (a deleted one is dropped),
  says when the run started and ended, and shows each message whole.
- At the top of every run, on any screen (the entry point calls it, through
  :mod:`ui.background`), :func:`show_finished_checks` takes the checks that ended:
  a toast for each, Test all's table, and the cards then read the statuses the
  core just recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

import pandas as pd
import streamlit as st

from connections_core import (
    Connection,
    ConnectionsError,
    ConnectionService,
    TestAllRun,
    TestResult,
    counted,
    duration,
)
from ui.errors import reported_errors
from ui.format import browser_zone, clock_time, md, relative_time
from ui.notices import notify
from ui.providers import provider_name
from ui.widgets import badge, result_status, status_label, status_markdown

log = logging.getLogger("connections.ui")

CHECKS = "conn_checks"  # connection id -> the CardCheck running on it
TEST_ALL = "conn_test_all_job"  # the TestAll running, or None
TEST_ALL_RESULTS = "conn_test_all_results"  # the last Test all that ended, until cleared
REFRESH_SECONDS = 0.3
UNEXPECTED = "The check failed unexpectedly; the server's log has the details."
COLUMNS = ("Name", "Provider", "Status", "Latency", "Message")
#: Rows Test all's table shows at full height; past them it scrolls, headers kept.
TABLE_ROWS, TABLE_HEIGHT = 12, 480


@dataclass
class CardCheck:
    """One connection's Test: its result once it arrives, or why there is none."""

    name: str
    check: Future[TestResult]

    @property
    def ended(self) -> bool:
        return self.check.done()


@dataclass
class TestAll:
    """Test all: the run followed, when it started, which connections it checks, and
    each result as it arrives."""

    __test__ = False  # not a pytest test class, despite its name

    run: TestAllRun
    started_at: datetime
    checking: frozenset[str]  # the ids of the connections there were when it started
    results: dict[str, TestResult] = field(default_factory=dict)  # by connection id
    finished_at: datetime | None = None  # once it has ended
    taken: int = 0
    last_recorded: datetime | None = None  # when its newest result was recorded

    def collect(self) -> bool:
        """Take the results that arrived; whether the run has ended (all are taken)."""
        ended = self.run.done  # first: nothing arrives once it has ended
        for connection, result in self.run.arrived(self.taken):
            self.results[connection.id] = result
            self.taken += 1
            recorded = connection.last_checked_at
            if recorded is not None and (self.last_recorded is None
                                         or recorded > self.last_recorded):
                self.last_recorded = recorded
        if ended and self.finished_at is None:
            # It ended when its last result was recorded, not when this session noticed.
            last = self.last_recorded
            self.finished_at = last if last is not None and last >= self.started_at \
                else datetime.now(UTC)
        return ended


def start_check(service: ConnectionService, connection: Connection) -> None:
    """Button callback: check ``connection`` (the core records the result)."""
    checks = _checks()
    if connection.id in checks:
        return  # one check of a connection at a time
    try:
        check = service.start_test(connection.id)
    except ConnectionsError as error:  # told by the toast, as a failed check is
        check = Future[TestResult]()
        check.set_exception(error)
    checks[connection.id] = CardCheck(connection.name, check)


def start_test_all(service: ConnectionService) -> None:
    """Button callback: check every connection at once, or follow the workspace's
    Test all under way."""
    if st.session_state.get(TEST_ALL) is not None:
        return
    try:
        checking = frozenset(connection.id for connection in service.list())
        run = service.start_test_all()
    except ConnectionsError as error:
        notify(f"Test all could not start: {md(str(error))}", icon=":material/error:")
        return
    st.session_state[TEST_ALL] = TestAll(run, _started_at(service), checking)
    st.session_state[TEST_ALL_RESULTS] = None  # a new run's table, never an old run's rows


def _started_at(service: ConnectionService) -> datetime:
    """When the workspace's Test all under way started: this person's, or the one they
    joined, earlier (the core records each start)."""
    try:
        started = service.audit(1, action="connections.test_all_started")
    except ConnectionsError as error:  # the time is a detail: the run goes on without it
        log.warning("Could not read when Test all started: %s", error)
        started = []
    return started[0].at if started else datetime.now(UTC)


def is_checking(connection_id: str) -> bool:
    """Whether a Test of this connection is running."""
    return connection_id in _checks()


def test_all_running() -> bool:
    return st.session_state.get(TEST_ALL) is not None


def checks_running() -> bool:
    """Whether a card's Test or Test all runs (or ended and is not yet told)."""
    return bool(_checks()) or test_all_running()


def checks_ended() -> bool:
    """Whether a check or Test all has ended and is not yet told."""
    test_all: TestAll | None = st.session_state.get(TEST_ALL)
    return (any(check.ended for check in _checks().values())
            or (test_all is not None and test_all.run.done))


def show_finished_checks() -> None:
    """A toast for each check that ended since the last run, and Test all's table.

    Called before any screen runs, so the cards show the statuses the core
    recorded.  A check is dropped only after its toast is sent,
    so an interrupted run shows it on the next one rather than never.
    """
    checks = _checks()
    for id, check in list(checks.items()):
        if check.ended:
            _announce(check)
            del checks[id]
    test_all: TestAll | None = st.session_state.get(TEST_ALL)
    if test_all is not None and test_all.collect():
        st.session_state[TEST_ALL_RESULTS] = test_all
        _announce_all(test_all)
        st.session_state[TEST_ALL] = None


def follow_checks(connections: Sequence[Connection]) -> None:
    """Test all's progress and table (the last one's, once ended), over ``connections``
    (the workspace's now, in card order), in a fragment that, while checks run, polls
    and reruns the page when one ends."""
    st.fragment(_progress, run_every=REFRESH_SECONDS if checks_running() else None)(
        connections)


def _progress(connections: Sequence[Connection]) -> None:
    with reported_errors():
        test_all: TestAll | None = st.session_state.get(TEST_ALL)
        if test_all is not None:
            test_all.collect()
        shown = test_all or st.session_state.get(TEST_ALL_RESULTS)
        if shown is not None:
            _results(shown, connections, running=test_all is not None)
        if checks_ended():
            st.rerun()


def _results(test_all: TestAll, connections: Sequence[Connection], *, running: bool) -> None:
    rows = result_rows(test_all, connections)
    if not rows:
        return  # every connection it checked is deleted
    with st.expander("Results of Test all", expanded=True, icon=":material/fact_check:"):
        if running:
            done, total = len(test_all.results), test_all.run.total
            st.progress(min(done / max(total, 1), 1.0),
                        text=f"Testing {counted(total, 'connection')}: {done} done…")
        st.caption(when_it_ran(test_all, browser_zone()))
        # A static table: its cells wrap, so a long message is read whole.
        st.table(pd.DataFrame(rows, columns=list(COLUMNS)), hide_index=True,
                 height="content" if len(rows) <= TABLE_ROWS else TABLE_HEIGHT,
                 alt="Test all's results: each connection's status, latency and message.")
        if not running and st.button("Clear results", key="conn_test_all_clear"):
            st.session_state[TEST_ALL_RESULTS] = None
            st.rerun()


def result_rows(test_all: TestAll, connections: Sequence[Connection]) -> list[tuple[str, ...]]:
    """A row (Markdown cells) for each of ``connections`` the run checks, in their order,
    named as they are now: its result, or "Checking…" until it arrives."""
    rows: list[tuple[str, ...]] = []
    for connection in connections:
        result = test_all.results.get(connection.id)
        if result is None and connection.id not in test_all.checking:
            continue  # added since the run started
        which = (md(connection.name), md(provider_name(connection.type)))
        if result is not None:
            outcome = (status_markdown(result_status(result)), md(duration(result.latency_ms)),
                       md(result.message))
        elif test_all.finished_at is None:
            outcome = (badge("Checking…"), "", "")
        else:  # stopped before it, or added before a run this person joined
            outcome = (status_markdown("unconfigured"), "", "Not checked in this run.")
        rows.append((*which, *outcome))
    return rows


def when_it_ran(test_all: TestAll, zone: tzinfo) -> str:
    """``Started 2 minutes ago (2026-12-06 05:21:05 CET) and finished 15.0 s later
    (05:21:20 CET).``; only its start while it runs."""
    start, end = test_all.started_at, test_all.finished_at
    started = f"Started {relative_time(start)} ({clock_time(start, zone)})"
    if end is None:
        return f"{started}."
    ended = "stopped" if test_all.run.error is not None else "finished"
    same_day = start.astimezone(zone).date() == end.astimezone(zone).date()
    took = duration((end - start).total_seconds() * 1000)
    return f"{started} and {ended} {took} later ({clock_time(end, zone, date=not same_day)})."


def _announce(check: CardCheck) -> None:
    name, exception = md(check.name), check.check.exception()
    if exception is not None:
        if not isinstance(exception, ConnectionsError):
            log.error("A check failed unexpectedly", exc_info=exception)
        st.toast(f"**{name}** could not be checked: {md(_message(exception))}",
                 icon=":material/error:")
        return
    result = check.check.result()
    if result.success:
        st.toast(f"**{name}**: connected ({duration(result.latency_ms)}).",
                 icon=":material/check_circle:")
    else:
        st.toast(f"**{name}**: {md(result.message)}", icon=":material/error:")


def _announce_all(test_all: TestAll) -> None:
    if test_all.run.error is not None:  # the core logged an unexpected one
        st.toast(f"Test all stopped: {md(_message(test_all.run.error))}",
                 icon=":material/error:")
        return
    results = test_all.results.values()
    connected = sum(result.success for result in results)
    failed = len(results) - connected
    # The cards' words, "4 connected, 3 errors"; a count of none is left out.
    counts = []
    if connected:
        counts.append(f"{connected} {status_label('connected').lower()}")
    if failed:
        counts.append(counted(failed, status_label("error").lower()))
    summary = f": {', '.join(counts)}." if counts else "."
    st.toast(f"Tested {counted(len(results), 'connection')}{summary}",
             icon=":material/error:" if failed else ":material/check_circle:")


def _message(error: BaseException) -> str:
    """What a person is told of an error that ended a check: the core's message, or a
    short one for anything unexpected (whose details are in the log)."""
    return str(error) if isinstance(error, ConnectionsError) else UNEXPECTED


def _checks() -> dict[str, CardCheck]:
    checks: dict[str, CardCheck] = st.session_state.setdefault(CHECKS, {})
    return checks
