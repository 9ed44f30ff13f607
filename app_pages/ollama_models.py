"""Ollama models: list, inspect, pull and delete the models on an Ollama server."""

import streamlit as st

from ui.members import needs_role
from ui.ollama_pull import show_pull
from ui.ollama_sections import (
    no_server_yet,
    server_picker,
    server_slot,
    show_delete_dialog,
    show_details,
    show_models,
    show_running,
    show_summary,
)
from ui.roles import role_notice
from ui.service import current_service

service = current_service()
st.session_state.setdefault("ollama_servers", {})  # (connection id, base URL) -> ServerSnapshot
st.session_state.setdefault("ollama_pull", None)  # the PullJob being followed, on any screen
st.session_state.setdefault("ollama_pulls", {})  # (connection id, base URL) -> its last PullJob
st.session_state.setdefault("ollama_deleting", None)  # the model the delete dialog is about
st.session_state.setdefault("ollama_chosen", None)  # the connection chosen, on any screen

st.title("Ollama models")
role_notice(service, "ollama")  # for someone whose role can't pull or delete: why, and whom to ask
no_pull, no_delete = needs_role(service, "pull_model"), needs_role(service, "delete_model")

# -- Which server --------------------------------------------------------------------------
connections = service.list("ollama")
if not connections:
    no_server_yet()
    st.stop()
connection, refresh = server_picker(connections)

# -- What is on it: read when first shown and on Refresh, in a slot that says so meanwhile --
# The Pull form sits above the table: its progress shows where the person pressed Pull.
slot, snapshot = server_slot(service, connection, refresh=refresh)
with slot:
    if snapshot is not None:
        show_summary(snapshot)
    show_pull(service, connection, no_pull)  # a server's pull shows on that server only
    if snapshot is not None:
        show_models(snapshot)
        show_details(service, connection, snapshot, no_delete)
        show_running(service, connection)

show_delete_dialog(service, connection)
