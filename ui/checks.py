"""The Connections screen's checks, run off the script thread: a card's Test, and Test all.

Each is a :class:`ui.jobs.Job` kept in session state, so a click elsewhere (Test
on another card, a dialog, a filter) can't interrupt it: the core records the
result whatever the page does, and the page shows it when it arrives.

- A button's callback starts the job (:func:`start_check`, :func:`start_test_all`).
- While one runs, :func:`follow_checks` draws Test all's progress in a fragment
  that reruns a few times a second, and reruns the whole page when a job ends.
- At the top of every run, on any screen (the entry point calls it, through
  :mod:`ui.background`), :func:`show_finished_checks` takes the jobs that ended:
  a toast for each, Test all's table, and the cards then read the statuses the
  core just recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from connections_core import PROVIDERS, Connection, ConnectionService, TestResult
from ui.errors import reported_errors
from ui.format import md
from ui.jobs import Job
from ui.widgets import result_status, status_label

CHECKS = "conn_checks"  # connection id -> the CardCheck running on it
TEST_ALL = "conn_test_all_job"  # the TestAll running, or None
TEST_ALL_RESULTS = "conn_test_all_results"  # the last Test all's table: a list of rows
REFRESH_SECONDS = 0.3


@dataclass
class CardCheck:
    """One connection's Test: its result once it arrives, or why there is none."""

    name: str
    job: Job[TestResult]
    result: TestResult | None = None

    def collect(self) -> None:
        for result in self.job.take():
            self.result = result


@dataclass
class TestAll:
    """Test all: a row for each result as it arrives."""

    __test__ = False  # not a pytest test class, despite its name

    total: int
    job: Job[tuple[Connection, TestResult]]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def collect(self) -> None:
        for connection, result in self.job.take():
            self.rows.append({"Name": connection.name,
                              "Provider": PROVIDERS[connection.type].display_name,
                              "Status": status_label(result_status(result)),
                              "Latency (ms)": result.latency_ms, "Message": result.message})


def start_check(service: ConnectionService, connection: Connection) -> None:
    """Button callback: check ``connection`` (the core records the result)."""
    checks = _checks()
    if connection.id in checks:
        return  # one check of a connection at a time

    def check() -> Iterator[TestResult]:
        yield service.test(connection.id)

    checks[connection.id] = CardCheck(connection.name,
                                      Job(check, name=f"connections-test-{connection.id}"))


def start_test_all(service: ConnectionService, total: int) -> None:
    """Button callback: check every connection at once (``total`` of them)."""
    if st.session_state.get(TEST_ALL) is None:
        st.session_state[TEST_ALL] = TestAll(total, Job(service.iter_test_all,
                                                         name="connections-test-all"))


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
    return (any(check.job.finished.is_set() for check in _checks().values())
            or (test_all is not None and test_all.job.finished.is_set()))


def show_finished_checks() -> None:
    """A toast for each check that ended since the last run, and Test all's table.

    Called before any screen runs, so the cards show the statuses the core
    recorded.  A job is dropped only after its toast is sent,
    so an interrupted run shows it on the next one rather than never.
    """
    checks = _checks()
    for id, check in list(checks.items()):
        check.collect()
        if not check.job.running:
            _announce(check)
            del checks[id]
    test_all: TestAll | None = st.session_state.get(TEST_ALL)
    if test_all is not None:
        test_all.collect()
        if not test_all.job.running:
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
            done = len(test_all.rows)
            st.progress(min(done / max(test_all.total, 1), 1.0),
                        text=f"Testing {test_all.total} connections: {done} done…")
        if checks_ended():
            st.rerun()


def _announce(check: CardCheck) -> None:
    name, result = md(check.name), check.result
    if result is None:
        st.toast(f"**{name}** could not be checked: {md(check.job.error)}",
                 icon=":material/error:")
    elif result.success:
        st.toast(f"**{name}**: connected ({result.latency_ms} ms).",
                 icon=":material/check_circle:")
    else:
        st.toast(f"**{name}**: {md(result.message)}", icon=":material/error:")


def _announce_all(test_all: TestAll) -> None:
    if test_all.job.error is not None:
        st.toast(f"Test all stopped: {md(test_all.job.error)}", icon=":material/error:")
        return
    counts = {label: sum(row["Status"] == label for row in test_all.rows)
              for label in map(status_label, ("connected", "error"))}
    failed = counts[status_label("error")]
    summary = ", ".join(f"{count} {label.lower()}" for label, count in counts.items())
    st.toast(f"Tested {len(test_all.rows)} connections: {summary}.",
             icon=":material/error:" if failed else ":material/check_circle:")


def _checks() -> dict[str, CardCheck]:
    checks: dict[str, CardCheck] = st.session_state.setdefault(CHECKS, {})
    return checks
