"""The Ollama screen's Pull section, and a pull that ends while the person looks elsewhere.

The pull itself runs off the script thread (:class:`ui.ollama_state.PullJob`,
kept in session state); here a fragment that reruns twice a second draws how it
goes, and :func:`announce_finished_pull` (called on every run, on any screen, by
:mod:`ui.background`) tells how it ended.

Two keys hold the pulls: ``ollama_pull`` is the one being followed (one at a
time: running, or failed until dismissed), and ``ollama_pulls`` each server's
last pull, by (connection id, base URL).  What a pull shows (its progress, that
it is done, why it failed) shows on its own server only.
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
    # Named unless the person is looking at that server: a toast on another server's
    # page once read as if the model were on that one.
    on = "" if st.session_state.get("ollama_connection") == job.connection_id \
        else f" on {md(job.connection_name)}"
    if job.outcome == "succeeded":
        st.session_state.ollama_servers.pop(job.where, None)  # reread
        forget_details()
        st.toast(f"Pulled **{md(job.name)}**{on}.", icon=":material/download_done:")
    elif job.outcome == "cancelled":
        st.toast(f"Cancelled the pull of **{md(job.name)}**{on}: the connection was closed, "
                 "so the server stopped it.", icon=":material/cancel:")
        if _pulls().get(job.where) is job:
            del _pulls()[job.where]  # nothing left to show on its server
    if job.outcome in ("succeeded", "cancelled"):
        st.session_state.ollama_pull = None  # a failed one stays, with its error, until dismissed


def show_pull(service: ConnectionService, connection: Connection,
              no_pull: str | None) -> None:
    """The name to pull, its Pull button (and Cancel beside it while this server's pull
    runs), and right under them how this server's last pull goes or went."""
    st.subheader("Pull a model")
    where = (connection.id, connection.base_url)
    followed: PullJob | None = st.session_state.ollama_pull
    busy = followed is not None and followed.running
    here: PullJob | None = _pulls().get(where)
    elsewhere = followed if busy and followed is not here else None
    with st.container(horizontal=True, vertical_alignment="bottom"):
        name = st.text_input("Model to pull", key="ollama_pull_name", placeholder="llama3.2:1b",
                             disabled=no_pull is not None, help=no_pull or NAME_HELP)
        pull = st.button("Pull", key="ollama_pull_start", type="primary",
                         icon=":material/download:", disabled=busy or no_pull is not None,
                         help=no_pull or (_busy_elsewhere(elsewhere) if elsewhere else None))
        if here is not None and here.running and not here.cancelling:
            # Returns once the connection is closed (or after a bound); the run that
            # follows tells how the pull ended.
            st.button("Cancel", key="ollama_pull_cancel", icon=":material/cancel:",
                      on_click=here.cancel)
    if elsewhere is not None:
        st.caption(f"{_busy_elsewhere(elsewhere)} Choose that connection to follow or "
                   "cancel it.")
    if pull:
        _start(service, connection, name)
    st.fragment(_pull_progress, run_every=PULL_REFRESH_SECONDS if busy else None)(where)


def _start(service: ConnectionService, connection: Connection, name: str) -> None:
    try:
        job = PullJob.start(service, connection, name)
    except ValidationError as error:
        show_error(error.field_errors.get("name", error))
    except PermissionDeniedError as error:
        show_error(error, ":material/block:")
    else:
        st.session_state.ollama_pull = _pulls()[job.where] = job
        st.rerun()  # draw the page with the Pull button off, and the progress following


def _busy_elsewhere(job: PullJob) -> str:
    return (f"One pull at a time: {md(job.name)} is being pulled on "
            f"{md(job.connection_name)} ({md(job.server)}).")


def _pull_progress(where: tuple[str, str]) -> None:
    """The pull being followed, taken in twice a second while it runs, and the last
    pull on the server at ``where`` drawn."""
    with reported_errors():
        followed: PullJob | None = st.session_state.ollama_pull
        if followed is not None and followed.running:
            followed.advance(PULL_REFRESH_SECONDS)
            if not followed.running:
                st.rerun()  # the whole page: the notice, the table, and no more timed reruns
        job = _pulls().get(where)
        if job is None or job.outcome == "cancelled":
            return
        _pull_status(job)
        if job.outcome == "failed":
            show_error(job.error)
            if st.button("Dismiss", key="ollama_pull_dismiss"):
                del _pulls()[where]
                if st.session_state.ollama_pull is job:
                    st.session_state.ollama_pull = None
                st.rerun()


def _pull_status(job: PullJob) -> None:
    """A status box that shows running until the pull ends, then what came of it; the
    progress bar first, where the person who pressed Pull is looking.

    Not used as a context manager: leaving ``with st.status(...)`` marks it
    complete, which showed a running pull as finished.
    """
    label = {"running": f"Pulling {md(job.name)} · {md(job.doing)}",
             "succeeded": f"Pulled {md(job.name)}",
             "failed": f"Could not pull {md(job.name)}"}.get(job.outcome, md(job.name))
    state = {"running": "running", "succeeded": "complete"}.get(job.outcome, "error")
    status = st.status(label, state=state, expanded=job.running)  # type: ignore[arg-type]
    if job.layer is not None and job.running:
        status.progress(job.layer.fraction or 0.0,
                        text=f"{md(job.layer.status)}: "
                             f"{format_bytes(job.layer.completed)} of "
                             f"{format_bytes(job.layer.total)}")
    for phase in job.phases:
        status.markdown(md(phase))


def _pulls() -> dict[tuple[str, str], PullJob]:
    """Each server's last pull, by (connection id, base URL)."""
    pulls: dict[tuple[str, str], PullJob] = st.session_state.ollama_pulls
    return pulls
