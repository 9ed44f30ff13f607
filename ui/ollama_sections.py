"""The sections of the Ollama models screen, each a paragraph of ``app_pages/ollama_models.py``.

The screen draws them inside one slot that shows "Loading…" while another
server is read, so nothing here may outlive a change of server on its own.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from connections_core import (
    Connection,
    ConnectionsError,
    ConnectionService,
    PermissionDeniedError,
    ValidationError,
    format_bytes,
)
from ui.confirm import confirm_dialog
from ui.errors import reported_errors, show_error
from ui.format import md
from ui.notices import notify
from ui.ollama_state import PullJob, ServerSnapshot, forget_details, model_details

PULL_REFRESH_SECONDS = 0.5
SIZE = st.column_config.NumberColumn(format="bytes")


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


def show_models(snapshot: ServerSnapshot) -> None:
    """The server's version, its models in a table, and the disk they use."""
    with st.container(horizontal=True):
        st.metric("Server version", md(snapshot.version), border=True)
        st.metric("Models", len(snapshot.models), border=True)
        st.metric("Disk used", sum(m.size for m in snapshot.models), format="bytes",
                  border=True)
    models = pd.DataFrame(
        [{"Name": m.name, "Family": m.details.family, "Parameters": m.details.parameter_size,
          "Quantization": m.details.quantization_level, "Size": m.size,
          "Modified": m.modified_at}
         for m in snapshot.models],
        columns=["Name", "Family", "Parameters", "Quantization", "Size", "Modified"])
    models["Modified"] = pd.to_datetime(models["Modified"], utc=True)
    st.dataframe(models, hide_index=True, key="ollama_models_table",
                 column_config={"Size": SIZE,
                                "Modified": st.column_config.DatetimeColumn(format="distance")})
    if not snapshot.models:
        st.caption("No models on this server yet: pull one below.")


def show_details(service: ConnectionService, connection: Connection, snapshot: ServerSnapshot,
                 no_delete: str | None) -> None:
    """One chosen model's parameters, template, license and info, and its Delete button."""
    selected = st.selectbox("Model details", [m.name for m in snapshot.models], index=None,
                            key="ollama_selected",
                            placeholder="Choose a model to see its details")
    if not selected:
        return
    try:
        info = model_details(service, connection, selected)
    except ConnectionsError as error:
        show_error(error)
    else:
        parameters, template, license_, model_info = st.tabs(
            ["Parameters", "Template", "License", "Model info"])
        parameters.code(info.parameters or "(none)", language=None)
        template.code(info.template or "(none)", language=None)
        license_.text(info.license or "(none)")
        model_info.json(dict(info.model_info), expanded=True)
    st.button("Delete model", key="ollama_delete", icon=":material/delete:",
              disabled=no_delete is not None, help=no_delete,
              on_click=lambda: st.session_state.update(ollama_deleting=selected))


def show_delete_dialog(service: ConnectionService, connection: Connection) -> None:
    """Asks before the model Delete model was pressed for leaves the server (call it once,
    at the end of the screen: it is open while ``ollama_deleting`` names the model)."""
    name: str | None = st.session_state.ollama_deleting
    if not name:
        return

    def delete() -> None:
        service.delete_model(connection.id, name)
        st.session_state.ollama_servers.pop((connection.id, connection.base_url), None)  # reread
        forget_details()
        notify(f"Deleted **{md(name)}** from {md(connection.base_url)}.",
               icon=":material/delete:")

    confirm_dialog("Delete model",
                   f"Delete **{md(name)}** from the Ollama server at {md(connection.base_url)}? "
                   "Its files are removed from the server; pull it again to get it back.",
                   "Delete", delete, key="ollama_delete",
                   on_close=lambda: st.session_state.update(ollama_deleting=None))


def show_pull(service: ConnectionService, connection: Connection,
              no_pull: str | None) -> None:
    """The name to pull and its Pull button, then the pull being followed."""
    st.subheader("Pull a model")
    job: PullJob | None = st.session_state.ollama_pull
    with st.container(horizontal=True, vertical_alignment="bottom"):
        name = st.text_input("Model to pull", key="ollama_pull_name",
                             placeholder="llama3.2:1b",
                             help="A name from https://ollama.com/library, with an optional tag.")
        pull = st.button("Pull", key="ollama_pull_start", icon=":material/download:",
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


def show_running(service: ConnectionService, connection: Connection) -> None:
    """The models loaded in memory on the server."""
    st.subheader("Running")
    try:
        running = service.running_models(connection.id)
    except ConnectionsError as error:
        show_error(error)
        return
    if not running:
        st.caption("No model is loaded in memory right now.")
        return
    st.dataframe(pd.DataFrame(
        [{"Name": m.name, "Size": m.size, "In VRAM": m.size_vram, "Unloads": m.expires_at}
         for m in running]).assign(Unloads=lambda f: pd.to_datetime(f["Unloads"], utc=True)),
        hide_index=True, key="ollama_running_table",
        column_config={"Size": SIZE, "In VRAM": SIZE,
                       "Unloads": st.column_config.DatetimeColumn(format="distance")})
