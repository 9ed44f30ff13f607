"""The Ollama screen's Pull section, and a pull that ends while the person looks elsewhere.

The pull itself runs off the script thread (:class:`ui.ollama_state.PullJob`,
kept in session state); here a fragment that reruns twice a second draws how it
goes, and :func:`announce_finished_pull` (called on every run, on any screen, by
:mod:`ui.background`) tells how it ended.
"""

from __future__ import annotations

import streamlit as st

from connections_core import (
    Connection,
    ConnectionService,
    PermissionDeniedError,
    ValidationError,
    format_bytes,
)
from ui.errors import reported_errors, show_error
from ui.format import md
from ui.ollama_state import PullJob, forget_details

PULL_REFRESH_SECONDS = 0.5
NAME_HELP = "A name from https://ollama.com/library, with an optional tag."


def announce_finished_pull() -> None:
    """Tell of a pull that ended since the screen last looked, perhaps while the person
    was on another screen: a toast, and the server's models read again."""
    job: PullJob | None = st.session_state.ollama_pull
    if job is None:
        return
    job.advance(0)
    if job.outcome == "succeeded":
        st.session_state.ollama_servers.pop((job.connection_id, job.server), None)  # reread
        forget_details()
        st.toast(f"Pulled **{md(job.name)}**.", icon=":material/download_done:")
        st.session_state.ollama_pulled = job  # shown, complete, until the next pull
    elif job.outcome == "cancelled":
        st.toast(f"Cancelled the pull of **{md(job.name)}**: the connection was closed, so "
                 "the server stopped it.", icon=":material/cancel:")
    if job.outcome in ("succeeded", "cancelled"):
        st.session_state.ollama_pull = None  # a failed one stays, with its error, until dismissed


def show_pull(service: ConnectionService, connection: Connection,
              no_pull: str | None) -> None:
    """The name to pull and its Pull button, then the pull being followed."""
    st.subheader("Pull a model")
    job: PullJob | None = st.session_state.ollama_pull
    with st.container(horizontal=True, vertical_alignment="bottom"):
        name = st.text_input("Model to pull", key="ollama_pull_name", placeholder="llama3.2:1b",
                             disabled=no_pull is not None, help=no_pull or NAME_HELP)
        pull = st.button("Pull", key="ollama_pull_start", type="primary",
                         icon=":material/download:",
                         disabled=(job is not None and job.running) or no_pull is not None,
                         help=no_pull)
    if pull:
        try:
            st.session_state.ollama_pull = PullJob.start(service, connection, name)
            st.session_state.ollama_pulled = None
        except ValidationError as error:
            show_error(error.field_errors.get("name", error))
        except PermissionDeniedError as error:
            show_error(error, ":material/block:")
        else:
            st.rerun()  # draw the page with the Pull button off, and the progress following
    running = job is not None and job.running
    st.fragment(_pull_progress, run_every=PULL_REFRESH_SECONDS if running else None)()


def _pull_progress() -> None:
    """The pull being followed, redrawn twice a second while it runs."""
    with reported_errors():
        job: PullJob | None = st.session_state.ollama_pull or st.session_state.ollama_pulled
        if job is None:
            return
        was_running = job.running
        if job.running and not job.cancelling and st.button(
                "Cancel", key="ollama_pull_cancel", icon=":material/cancel:"):
            job.cancel()  # returns once the connection is closed (or after a bound)
        if job.running:
            job.advance(PULL_REFRESH_SECONDS)
        if was_running and not job.running:
            st.rerun()  # the whole page: the notice, the table, and no more timed reruns
        _pull_status(job)
        if job.outcome == "failed":
            show_error(job.error)
            if st.button("Dismiss", key="ollama_pull_dismiss"):
                st.session_state.ollama_pull = None
                st.rerun()


def _pull_status(job: PullJob) -> None:
    """A status box that shows running until the pull ends, then what came of it.

    Not used as a context manager: leaving ``with st.status(...)`` marks it
    complete, which showed a running pull as finished.
    """
    label = {"running": f"Pulling {md(job.name)} · {md(job.doing)}",
             "succeeded": f"Pulled {md(job.name)}",
             "failed": f"Could not pull {md(job.name)}"}.get(job.outcome, md(job.name))
    state = {"running": "running", "succeeded": "complete"}.get(job.outcome, "error")
    status = st.status(label, state=state, expanded=job.running)  # type: ignore[arg-type]
    for phase in job.phases:
        status.markdown(md(phase))
    if job.layer is not None and job.running:
        status.progress(job.layer.fraction or 0.0,
                        text=f"{md(job.layer.status)}: "
                             f"{format_bytes(job.layer.completed)} of "
                             f"{format_bytes(job.layer.total)}")
