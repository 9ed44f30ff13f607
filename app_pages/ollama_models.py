"""Ollama models: list, inspect, pull and delete the models on an Ollama server."""

import pandas as pd
import streamlit as st

from connections_core import (
    Connection,
    ConnectionsError,
    PermissionDeniedError,
    ValidationError,
    ollama,
)
from ui.errors import reported_errors, show_error
from ui.format import md
from ui.members import needs_role
from ui.notices import notify
from ui.ollama_state import PullJob, forget_details, model_details, read_server
from ui.service import current_service

PULL_REFRESH_SECONDS = 0.5
SIZE = st.column_config.NumberColumn(format="bytes")

service = current_service()
st.session_state.setdefault("ollama_servers", {})  # (connection id, base URL) -> ServerSnapshot
st.session_state.setdefault("ollama_pull", None)  # the PullJob being followed
st.session_state.setdefault("ollama_deleting", None)  # the model the delete dialog is about

st.title("Ollama models")
no_pull, no_delete = needs_role(service, "pull_model"), needs_role(service, "delete_model")

# -- Which server --------------------------------------------------------------------------
servers = {c.id: c for c in sorted(service.list("ollama"), key=lambda c: not c.is_default)}
if not servers:
    st.info("This workspace has no Ollama connection yet. Add one on the Connections screen "
            "with your Ollama server's address (usually http://localhost:11434).",
            icon=":material/info:")
    st.page_link("app_pages/connections.py", label="Go to Connections", icon=":material/hub:")
    st.stop()

with st.container(horizontal=True, vertical_alignment="bottom"):
    chosen = st.selectbox("Ollama connection", list(servers), key="ollama_connection",
                          format_func=lambda id: f"{servers[id].name} ({servers[id].base_url})"
                          + (" ★" if servers[id].is_default else ""))
    refresh = st.button("Refresh", key="ollama_refresh", icon=":material/refresh:")
connection: Connection = servers[chosen]
base_url = connection.base_url
server = (connection.id, base_url)  # an edited base URL is another server

snapshot = st.session_state.ollama_servers.get(server)
if snapshot is None or refresh:
    try:
        with st.spinner(f"Reading the models on {md(base_url)}…"):
            snapshot = read_server(service, connection)
    except ConnectionsError as error:
        show_error(error)
        st.stop()
    st.session_state.ollama_servers[server] = snapshot
    if refresh:
        count = len(snapshot.models)
        st.toast(f"Read {count} model{'s' if count != 1 else ''} from {md(base_url)}.",
                 icon=":material/refresh:")

# -- Models --------------------------------------------------------------------------------
with st.container(horizontal=True):
    st.metric("Server version", md(snapshot.version), border=True)
    st.metric("Models", len(snapshot.models), border=True)
    st.metric("Disk used", sum(m.size for m in snapshot.models), format="bytes", border=True)
models = pd.DataFrame(
    [{"Name": m.name, "Family": m.details.family, "Parameters": m.details.parameter_size,
      "Quantization": m.details.quantization_level, "Size": m.size, "Modified": m.modified_at}
     for m in snapshot.models],
    columns=["Name", "Family", "Parameters", "Quantization", "Size", "Modified"])
models["Modified"] = pd.to_datetime(models["Modified"], utc=True)
st.dataframe(models, hide_index=True, key="ollama_models_table",
             column_config={"Size": SIZE,
                            "Modified": st.column_config.DatetimeColumn(format="distance")})
if not snapshot.models:
    st.caption("No models on this server yet: pull one below.")

# -- Details of one model, and deleting it -------------------------------------------------
selected = st.selectbox("Model details", [m.name for m in snapshot.models], index=None,
                        key="ollama_selected", placeholder="Choose a model to see its details")
if selected:
    try:
        info = model_details(base_url, selected, service.timeout)
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

# -- Pull a model --------------------------------------------------------------------------
st.subheader("Pull a model")
job: PullJob | None = st.session_state.ollama_pull
with st.container(horizontal=True, vertical_alignment="bottom"):
    name = st.text_input("Model to pull", key="ollama_pull_name", placeholder="llama3.2:1b",
                         help="A name from https://ollama.com/library, with an optional tag.")
    pull = st.button("Pull", key="ollama_pull_start", icon=":material/download:",
                     disabled=(job is not None and job.running) or no_pull is not None,
                     help=no_pull)
if pull:
    try:
        st.session_state.ollama_pull = PullJob.start(service, connection, name)
    except ValidationError as error:
        show_error(error.field_errors.get("name", error))
    except PermissionDeniedError as error:
        show_error(error, ":material/block:")
    else:
        st.rerun()  # draw the page with the Pull button off, and the progress following


@st.fragment(run_every=PULL_REFRESH_SECONDS if job is not None and job.running else None)
def pull_progress() -> None:
    with reported_errors():
        job: PullJob | None = st.session_state.ollama_pull
        if job is None:
            return
        if job.running and st.button("Cancel", key="ollama_pull_cancel", icon=":material/cancel:"):
            job.cancel()
            st.session_state.ollama_pull = None
            notify(f"Cancelled the pull of **{md(job.name)}**.", icon=":material/cancel:")
            st.rerun()
        was_running = job.running
        if was_running:
            job.advance(PULL_REFRESH_SECONDS)
        label = {"running": f"Pulling {md(job.name)}: {md(job.phases[-1] if job.phases else '')}",
                 "succeeded": f"Pulled {md(job.name)}",
                 "failed": f"Could not pull {md(job.name)}"}.get(job.outcome, md(job.name))
        state = {"running": "running", "succeeded": "complete"}.get(job.outcome, "error")
        with st.status(label, state=state, expanded=job.running):  # type: ignore[arg-type]
            for phase in job.phases:
                st.markdown(md(phase))
            if job.layer is not None and job.running:
                st.progress(job.layer.fraction or 0.0,
                            text=f"{md(job.layer.status)}: "
                                 f"{ollama.format_bytes(job.layer.completed)} of "
                                 f"{ollama.format_bytes(job.layer.total)}")
        if job.outcome == "failed":
            show_error(job.error)
            if st.button("Dismiss", key="ollama_pull_dismiss"):
                st.session_state.ollama_pull = None
                st.rerun()
        if job.outcome == "succeeded":
            st.session_state.ollama_pull = None
            st.session_state.ollama_servers.pop((job.connection_id, job.server), None)  # reread
            forget_details()
            notify(f"Pulled **{md(job.name)}**.", icon=":material/download_done:")
        if was_running and not job.running:
            st.rerun()  # the whole page: the table, and no more timed reruns


pull_progress()

# -- Running -------------------------------------------------------------------------------
st.subheader("Running")
try:
    running = ollama.list_running(base_url, timeout=service.timeout)
except ConnectionsError as error:
    show_error(error)
else:
    if running:
        st.dataframe(pd.DataFrame(
            [{"Name": m.name, "Size": m.size, "In VRAM": m.size_vram, "Unloads": m.expires_at}
             for m in running]).assign(Unloads=lambda f: pd.to_datetime(f["Unloads"], utc=True)),
            hide_index=True, key="ollama_running_table",
            column_config={"Size": SIZE, "In VRAM": SIZE,
                           "Unloads": st.column_config.DatetimeColumn(format="distance")})
    else:
        st.caption("No model is loaded in memory right now.")


# -- The delete dialog ---------------------------------------------------------------------
@st.dialog("Delete model", on_dismiss=lambda: st.session_state.update(ollama_deleting=None))
def delete_model(name: str) -> None:
    with reported_errors():
        st.markdown(f"Delete **{md(name)}** from the Ollama server at {md(base_url)}? Its files "
                    "are removed from the server; pull it again to get it back.")
        with st.container(horizontal=True):
            delete = st.button("Delete", key="ollama_delete_confirm", type="primary",
                               icon=":material/delete:")
            cancel = st.button("Cancel", key="ollama_delete_cancel")
        if delete:
            service.delete_model(connection.id, name)
            st.session_state.ollama_servers.pop(server, None)  # read it again
            forget_details()
            notify(f"Deleted **{md(name)}** from {md(base_url)}.", icon=":material/delete:")
        if delete or cancel:
            st.session_state.ollama_deleting = None
            st.rerun()


if st.session_state.ollama_deleting:
    delete_model(st.session_state.ollama_deleting)
