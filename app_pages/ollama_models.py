"""Ollama models: list, inspect, pull and delete the models on an Ollama server."""

import streamlit as st

from connections_core import Connection, ConnectionsError
from ui.errors import show_error
from ui.format import md
from ui.members import needs_role
from ui.ollama_sections import (
    show_delete_dialog,
    show_details,
    show_models,
    show_pull,
    show_running,
)
from ui.ollama_state import forget_details, read_server
from ui.service import current_service

service = current_service()
st.session_state.setdefault("ollama_servers", {})  # (connection id, base URL) -> ServerSnapshot
st.session_state.setdefault("ollama_pull", None)  # the PullJob being followed, on any screen
st.session_state.setdefault("ollama_pulled", None)  # the last one that succeeded
st.session_state.setdefault("ollama_deleting", None)  # the model the delete dialog is about
# The connection chosen: Streamlit forgets a widget's value on another screen; this stays.
st.session_state.setdefault("ollama_chosen", None)

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

if (st.session_state.get("ollama_connection") not in servers
        and st.session_state.ollama_chosen in servers):
    st.session_state.ollama_connection = st.session_state.ollama_chosen
with st.container(horizontal=True, vertical_alignment="bottom"):
    chosen = st.selectbox("Ollama connection", list(servers), key="ollama_connection",
                          format_func=lambda id: f"{servers[id].name} ({servers[id].base_url})"
                          + (" · Default" if servers[id].is_default else ""))
    refresh = st.button("Refresh", key="ollama_refresh", icon=":material/refresh:")
st.session_state.ollama_chosen = chosen
connection: Connection = servers[chosen]
base_url = connection.base_url
server = (connection.id, base_url)  # an edited base URL is another server

# -- What is on it -------------------------------------------------------------------------
# While a server is read, its section says so: left alone, the last server's table
# stayed on screen, faded, under the new name.  An st.empty() replaces the section at
# once; a container in the same place keeps what is drawn again in place.
snapshot = st.session_state.ollama_servers.get(server)
unread: ConnectionsError | None = None
if snapshot is None or refresh:
    loading = st.empty()
    loading.info(f"Reading the models on {md(base_url)} ({md(connection.name)})…",
                 icon=":material/hourglass_top:")
    if refresh:
        forget_details()
    try:
        snapshot = read_server(service, connection)
    except ConnectionsError as error:
        unread = error
    else:
        st.session_state.ollama_servers[server] = snapshot
        if refresh:
            count = len(snapshot.models)
            st.toast(f"Read {count} model{'s' if count != 1 else ''} from {md(base_url)}.",
                     icon=":material/refresh:")
    section = loading.container()
else:
    section = st.container()

with section:
    if snapshot is None:
        show_error(unread)
    else:
        show_models(snapshot)
        show_details(service, connection, snapshot, no_delete)
    show_pull(service, connection, no_pull)  # a pull under way shows, whatever the server
    if snapshot is not None:
        show_running(service, connection)

show_delete_dialog(service, connection)
