"""Connections: the workspace's provider connections, as cards to test, edit and delete."""

import math

import pandas as pd
import streamlit as st

from connections_core import PROVIDERS
from ui.checks import (
    TEST_ALL_RESULTS,
    follow_checks,
    start_test_all,
    test_all_running,
)
from ui.connection_card import connection_card, in_card_order
from ui.connection_dialogs import UNDO, open_dialog, show_open_dialog
from ui.connection_filters import filter_bar
from ui.format import md, relative_time
from ui.members import needs_role
from ui.notices import notify
from ui.service import current_service
from ui.undo import AFTER_LAST, undo_bar, undo_place

PAGE_SIZE = 20
DELETED_SHOWN = 20

service = current_service()
st.session_state.setdefault(TEST_ALL_RESULTS, None)

st.title("Connections")
st.caption(f"Workspace **{md(service.workspace_id)}**: the AI providers this app can use, "
           "with their API keys encrypted at rest.")
connections = service.list()
deleted = service.list_deleted()
no_create, no_restore = needs_role(service, "create"), needs_role(service, "restore")

# -- Undo, right after a delete: in the deleted card's place, else here ---------------------
deleted_last = next((c for c in deleted if c.id == st.session_state.get(UNDO)), None)
undo_here, undo_at = st.container(), None

# -- Empty state ---------------------------------------------------------------------------
if not connections:
    with st.container(border=True):
        st.subheader("No connections yet")
        st.markdown("A connection is what the app needs to reach an AI provider: an **OpenAI** "
                    "or **Anthropic** API key, or the address of an **Ollama** server. Add one, "
                    "press *Test* to check it, and the first of each provider becomes its "
                    "default.")
        st.button("Add connection", key="conn_add_first", type="primary", icon=":material/add:",
                  disabled=no_create is not None, help=no_create,
                  on_click=open_dialog, args=("add",))
    follow_checks()  # a check started before the last card went still ends with a toast

# -- Toolbar: add, and test everything at once ---------------------------------------------
else:
    with st.container(horizontal=True):
        st.button("Add connection", key="conn_add", type="primary", icon=":material/add:",
                  disabled=no_create is not None, help=no_create,
                  on_click=open_dialog, args=("add",))
        st.button("Test all", key="conn_test_all", icon=":material/network_check:",
                  disabled=test_all_running(), on_click=start_test_all, args=(service,))
    follow_checks()
    if st.session_state[TEST_ALL_RESULTS]:
        with st.expander("Results of Test all", expanded=True, icon=":material/fact_check:"):
            st.dataframe(pd.DataFrame(st.session_state[TEST_ALL_RESULTS]),
                         hide_index=True, key="conn_test_all_table")
            if st.button("Clear results", key="conn_test_all_clear"):
                st.session_state[TEST_ALL_RESULTS] = None
                st.rerun()

    # -- Filters ---------------------------------------------------------------------------
    shown = filter_bar(in_card_order(connections))

    # -- Cards, a page at a time -------------------------------------------------------------
    if not shown:
        st.info("No connection matches these filters.", icon=":material/filter_alt_off:")
    cards = st.container()
    pages = max(1, math.ceil(len(shown) / PAGE_SIZE))
    page = st.pagination(pages, key="conn_page") if pages > 1 else 1
    first = (page - 1) * PAGE_SIZE
    with cards:
        if shown:
            st.caption(f"Showing {first + 1}–{min(first + PAGE_SIZE, len(shown))} of "
                       f"{len(shown)} connections.")
        undo_at = undo_place(deleted_last, shown[first:first + PAGE_SIZE])
        for connection in shown[first:first + PAGE_SIZE]:
            if deleted_last is not None and connection.id == undo_at:
                undo_bar(service, deleted_last)
            connection_card(service, connection)
        if deleted_last is not None and undo_at == AFTER_LAST:
            undo_bar(service, deleted_last)
if deleted_last is not None and undo_at is None:
    with undo_here:
        undo_bar(service, deleted_last)

# -- Recently deleted ----------------------------------------------------------------------
if deleted:
    with st.expander(f"Recently deleted ({len(deleted)})", icon=":material/delete:"):
        for connection in deleted[:DELETED_SHOWN]:
            with st.container(horizontal=True, vertical_alignment="center"):
                st.markdown(f"**{md(connection.name)}** · "
                            f"{PROVIDERS[connection.type].display_name} · "
                            f"deleted {relative_time(connection.deleted_at)}")
                if st.button("Restore", key=f"conn_restore_{connection.id}",
                             icon=":material/restore_from_trash:",
                             disabled=no_restore is not None, help=no_restore):
                    service.restore(connection.id)
                    notify(f"Restored **{md(connection.name)}**.", icon=":material/undo:")
                    st.rerun()
        if len(deleted) > DELETED_SHOWN:
            st.caption(f"The {DELETED_SHOWN} most recently deleted of {len(deleted)}.")

show_open_dialog(service)
