"""Connections: the workspace's provider connections, as cards to test, edit and delete."""

import streamlit as st

from ui.checks import TEST_ALL_RESULTS, follow_checks
from ui.connection_card import in_card_order
from ui.connection_dialogs import show_open_dialog
from ui.connection_filters import filter_bar
from ui.connection_sections import (
    card_pages,
    health_line,
    no_connections_yet,
    recently_deleted,
    toolbar,
)
from ui.format import md
from ui.roles import role_notice
from ui.service import current_service
from ui.undo import last_deleted, undo_bar

service = current_service()
st.session_state.setdefault(TEST_ALL_RESULTS, None)

st.title("Connections")
st.caption(f"Workspace **{md(service.workspace_id)}**: the AI providers this app can use, "
           "with their API keys encrypted at rest.")
role_notice(service, "connections")  # for someone whose role can't change them: whom to ask
connections = in_card_order(service.list())
deleted = service.list_deleted()

# -- Undo, right after a delete: in the deleted card's place, else here ---------------------
deleted_last = last_deleted(deleted)
undo_here, undo_placed = st.container(), False

# -- Empty state ---------------------------------------------------------------------------
if not connections:
    no_connections_yet(service)
    follow_checks(connections)  # a check started before the last card went still ends with a toast

# -- Health, toolbar, Test all's results as they arrive, filters, the cards a page at a time
else:
    health_line(connections)
    toolbar(service)
    follow_checks(connections)
    undo_placed = card_pages(service, filter_bar(connections), deleted_last)
if deleted_last is not None and not undo_placed:
    with undo_here:
        undo_bar(service, deleted_last)

# -- Recently deleted ----------------------------------------------------------------------
recently_deleted(service, deleted)

show_open_dialog(service)
