"""Work that runs on while the person is on another screen: told wherever they are.

A card's Test, Test all and an Ollama pull run off the script thread (see
:mod:`ui.checks` and :mod:`ui.ollama_state`), and their own screens follow
them.  Someone who moves to another screen meanwhile still hears how they
ended: :func:`announce_background_work`, called by the entry point on every
run, sends the toasts of what ended, and while something runs on a screen
other than its own it adds a fragment that polls and reruns the app when it
ends (its screen, when shown again, has the details).
"""

from __future__ import annotations

import streamlit as st

from ui.checks import checks_ended, checks_running, show_finished_checks
from ui.format import md
from ui.ollama_pull import PULL_REFRESH_SECONDS, announce_finished_pull
from ui.ollama_state import PullJob

#: The pull whose failure was already told off its screen.
FAILURE_TOLD = "ollama_pull_failure_told"


def announce_background_work(page_path: str, *, checks_page: str, pull_page: str) -> None:
    """The toasts of the checks and the pull that ended, and, while one runs away from
    its own screen, a watcher that reruns the app when it ends.

    Call it in the sidebar (the watcher takes no space there) before the page runs.
    """
    show_finished_checks()
    job: PullJob | None = st.session_state.get("ollama_pull")
    if job is not None:
        announce_finished_pull()
        _tell_a_failed_pull(job, elsewhere=page_path != pull_page)
    watch = ((checks_running() and page_path != checks_page)
             or (job is not None and job.running and page_path != pull_page))
    if watch:
        st.fragment(_watch, run_every=PULL_REFRESH_SECONDS)()


def _tell_a_failed_pull(job: PullJob, *, elsewhere: bool) -> None:
    """Once, on another screen: the Ollama screen keeps the error shown until dismissed."""
    if job.outcome == "failed" and elsewhere and st.session_state.get(FAILURE_TOLD) is not job:
        st.session_state[FAILURE_TOLD] = job
        on = f" on {md(job.connection_name)}" if job.connection_name else ""
        st.toast(f"The pull of **{md(job.name)}**{on} failed: the Ollama models screen says why.",
                 icon=":material/error:")


def _watch() -> None:
    job: PullJob | None = st.session_state.get("ollama_pull")
    if job is not None and job.running:
        job.advance(0)
    if checks_ended() or (job is not None and not job.running):
        st.rerun()  # the whole app: the toasts are sent at the top of the next run
