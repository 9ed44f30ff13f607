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
- While one runs, :func:`follow_checks` draws Test all's progress in a fragment
  that reruns a few times a second, and reruns the whole page when a check ends.
- At the top of every run, on any screen (the entry point calls it, through
  :mod:`ui.background`), :func:`show_finished_checks` takes the checks that ended:
  a toast for each, Test all's table, and the cards then read the statuses the
  core just recorded.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from connections_core import (
    PROVIDERS,
    Connection,
    ConnectionsError,
    ConnectionService,
    TestAllRun,
    TestResult,
)
from ui.errors import reported_errors
from ui.format import md
from ui.notices import notify
from ui.widgets import result_status, status_label

log = logging.getLogger("connections.ui")

CHECKS = "conn_checks"  # connection id -> the CardCheck running on it
TEST_ALL = "conn_test_all_job"  # the TestAll running, or None
TEST_ALL_RESULTS = "conn_test_all_results"  # the last Test all's table: a list of rows
REFRESH_SECONDS = 0.3
UNEXPECTED = "The check failed unexpectedly; the server's log has the details."


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
    """Test all: the run followed, and a row for each result as it arrives."""

    __test__ = False  # not a pytest test class, despite its name

    run: TestAllRun
    rows: list[dict[str, Any]] = field(default_factory=list)

    def collect(self) -> bool:
        """Take the results that arrived; whether the run has ended (all are taken)."""
        ended = self.run.done  # first: nothing arrives once it has ended
        for connection, result in self.run.arrived(len(self.rows)):
            self.rows.append({"Name": connection.name,
                              "Provider": PROVIDERS[connection.type].display_name,
                              "Status": status_label(result_status(result)),
                              "Latency (ms)": result.latency_ms, "Message": result.message})
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
        st.session_state[TEST_ALL] = TestAll(service.start_test_all())
    except ConnectionsError as error:
        notify(f"Test all could not start: {md(str(error))}", icon=":material/error:")


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
        st.session_state[TEST_ALL_RESULTS] = test_all.rows
        _announce_all(test_all)
        st.session_state[TEST_ALL] = None


def follow_checks() -> None:
    """While checks run, a fragment that shows Test all's progress and reruns the page
    when one ends; it polls only then."""
    st.fragment(_progress, run_every=REFRESH_SECONDS if checks_running() else None)()


def _progress() -> None:
    with reported_errors():
        test_all: TestAll | None = st.session_state.get(TEST_ALL)
        if test_all is not None:
            test_all.collect()
            done, total = len(test_all.rows), test_all.run.total
            st.progress(min(done / max(total, 1), 1.0),
                        text=f"Testing {total} connections: {done} done…")
        if checks_ended():
            st.rerun()


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
        st.toast(f"**{name}**: connected ({result.latency_ms} ms).",
                 icon=":material/check_circle:")
    else:
        st.toast(f"**{name}**: {md(result.message)}", icon=":material/error:")


def _announce_all(test_all: TestAll) -> None:
    if test_all.run.error is not None:  # the core logged an unexpected one
        st.toast(f"Test all stopped: {md(_message(test_all.run.error))}",
                 icon=":material/error:")
        return
    counts = {label: sum(row["Status"] == label for row in test_all.rows)
              for label in map(status_label, ("connected", "error"))}
    failed = counts[status_label("error")]
    summary = ", ".join(f"{count} {label.lower()}" for label, count in counts.items())
    st.toast(f"Tested {len(test_all.rows)} connections: {summary}.",
             icon=":material/error:" if failed else ":material/check_circle:")


def _message(error: BaseException) -> str:
    """What a person is told of an error that ended a check: the core's message, or a
    short one for anything unexpected (whose details are in the log)."""
    return str(error) if isinstance(error, ConnectionsError) else UNEXPECTED


def _checks() -> dict[str, CardCheck]:
    checks: dict[str, CardCheck] = st.session_state.setdefault(CHECKS, {})
    return checks
