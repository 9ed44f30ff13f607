"""The sections of the Ollama models screen, each a paragraph of ``app_pages/ollama_models.py``.

The screen draws the server's sections inside one slot (:func:`server_slot`)
that shows "Reading…" while another server is read, so nothing here may outlive
a change of server on its own.  The Pull section is :mod:`ui.ollama_pull`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from connections_core import Connection, ConnectionsError, ConnectionService, counted
from ui.confirm import confirm_dialog
from ui.errors import show_error
from ui.format import md
from ui.notices import notify
from ui.ollama_state import ServerSnapshot, forget_details, model_details, read_server

SIZE = st.column_config.NumberColumn(format="bytes")


def no_server_yet() -> None:
    """What the screen says in a workspace with no Ollama connection, and where to add one."""
    st.info("This workspace has no Ollama connection yet. Add one on the Connections screen "
            "with your Ollama server's address (usually http://localhost:11434).",
            icon=":material/info:")
    st.page_link("app_pages/connections.py", label="Go to Connections", icon=":material/hub:")


def server_picker(connections: Sequence[Connection]) -> tuple[Connection, bool]:
    """The Ollama connection to look at, and whether Refresh was pressed.

    It opens on the connection the person chose in this session (kept across
    screens), else on the workspace's default as it is now: the one the screen
    merely opened on before is no choice, so a new default is followed.
    """
    servers = {c.id: c for c in sorted(connections, key=lambda c: not c.is_default)}
    # Streamlit forgets a widget's value on another screen; ``ollama_chosen`` stays.
    if st.session_state.get("ollama_connection") not in servers:
        chosen = st.session_state.ollama_chosen
        st.session_state.ollama_connection = chosen if chosen in servers else next(iter(servers))
    with st.container(horizontal=True, vertical_alignment="bottom"):
        shown = st.selectbox("Ollama connection", list(servers), key="ollama_connection",
                             format_func=lambda id: f"{servers[id].name} ({servers[id].base_url})"
                             + (" · Default" if servers[id].is_default else ""),
                             on_change=_remember_choice)
        refresh = st.button("Refresh", key="ollama_refresh", icon=":material/refresh:")
    return servers[shown], refresh


def _remember_choice() -> None:
    st.session_state.ollama_chosen = st.session_state.ollama_connection


def server_slot(service: ConnectionService, connection: Connection, *,
                refresh: bool) -> tuple[DeltaGenerator, ServerSnapshot | None]:
    """The slot the server's sections go in, and the server as last read: read now when
    it never was, or on Refresh (a read: nothing is recorded).  A server that can't be
    read is None, and the slot already says why (after a Refresh too: the models read
    before are no longer shown as if they were still there).

    While a server is read, the slot says so: left alone, the last server's table
    stayed on screen, faded, under the new name.  An ``st.empty()`` replaces the slot
    at once; a container in the same place keeps what is drawn again in place.
    """
    server = (connection.id, connection.base_url)  # an edited base URL is another server
    snapshot: ServerSnapshot | None = st.session_state.ollama_servers.get(server)
    if snapshot is not None and not refresh:
        return st.container(), snapshot
    loading = st.empty()
    loading.info(f"Reading the models on {md(connection.base_url)} ({md(connection.name)})…",
                 icon=":material/hourglass_top:")
    if refresh:
        forget_details()
    try:
        snapshot = read_server(service, connection)
    except ConnectionsError as error:
        st.session_state.ollama_servers.pop(server, None)  # not what is there now
        slot = loading.container()
        with slot:
            show_error(error)
        return slot, None
    st.session_state.ollama_servers[server] = snapshot
    if refresh:
        count = len(snapshot.models)
        st.toast(f"Read {counted(count, 'model')} from "
                 f"{md(connection.base_url)}.", icon=":material/refresh:")
    return loading.container(), snapshot


def show_summary(snapshot: ServerSnapshot) -> None:
    """The server's version, how many models it has, and the disk they use."""
    with st.container(horizontal=True):
        st.metric("Server version", md(snapshot.version), border=True)
        st.metric("Models", len(snapshot.models), border=True)
        st.metric("Disk used", sum(m.size for m in snapshot.models), format="bytes",
                  border=True)


def show_models(snapshot: ServerSnapshot) -> None:
    """The server's models in a table."""
    st.subheader("Models")
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
        st.caption("No models on this server yet: pull one above.")


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
    """The question before a model leaves the server, open while ``ollama_deleting``
    names it (*Delete model* sets it); call it once, at the end of the screen."""
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
