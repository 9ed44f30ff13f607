"""Connections: the workspace's provider connections, as cards to test, edit and delete."""

import math

import pandas as pd
import streamlit as st

from connections_core import PROVIDERS
from ui.connection_card import connection_card, in_card_order
from ui.connection_dialogs import UNDO, open_dialog, show_open_dialog
from ui.connection_filters import filter_bar
from ui.format import md, relative_time
from ui.members import needs_role
from ui.notices import notify
from ui.service import current_service

PAGE_SIZE = 20
DELETED_SHOWN = 20

service = current_service()
st.session_state.setdefault("conn_test_all_results", None)

st.title("Connections")
st.caption(f"Workspace **{md(service.workspace_id)}**: the AI providers this app can use, "
           "with their API keys encrypted at rest.")
connections = service.list()
deleted = service.list_deleted()
no_create, no_restore = needs_role(service, "create"), needs_role(service, "restore")

# -- Undo, right after a delete ------------------------------------------------------------
deleted_last = next((c for c in deleted if c.id == st.session_state.get(UNDO)), None)
if deleted_last is not None:
    with st.container(border=True, horizontal=True, vertical_alignment="center"):
        st.markdown(f":material/delete: Deleted **{md(deleted_last.name)}**.")
        if st.button("Undo", key="conn_undo_button", icon=":material/undo:",
                     disabled=no_restore is not None, help=no_restore):
            service.restore(deleted_last.id)
            st.session_state[UNDO] = None
            notify(f"Restored **{md(deleted_last.name)}**.", icon=":material/undo:")
            st.rerun()

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

# -- Toolbar: add, and test everything at once ---------------------------------------------
else:
    with st.container(horizontal=True):
        st.button("Add connection", key="conn_add", type="primary", icon=":material/add:",
                  disabled=no_create is not None, help=no_create,
                  on_click=open_dialog, args=("add",))
        test_all = st.button("Test all", key="conn_test_all", icon=":material/network_check:")
    if test_all:
        bar = st.progress(0.0, text=f"Testing {len(connections)} connections…")
        rows = []
        for done, (connection, result) in enumerate(service.iter_test_all(), start=1):
            rows.append({"Name": connection.name,
                         "Provider": PROVIDERS[connection.type].display_name,
                         "Result": "Connected" if result.success else "Failed",
                         "Latency (ms)": result.latency_ms, "Message": result.message})
            bar.progress(min(done / len(connections), 1.0),
                         text=f"Tested {done} of {len(connections)}: {md(connection.name)}")
        st.session_state["conn_test_all_results"] = rows
        failed = sum(row["Result"] == "Failed" for row in rows)
        notify(f"Tested {len(rows)} connections: {len(rows) - failed} connected, {failed} failed.",
               icon=":material/error:" if failed else ":material/check_circle:")
        st.rerun()
    if st.session_state["conn_test_all_results"]:
        with st.expander("Results of Test all", expanded=True, icon=":material/fact_check:"):
            st.dataframe(pd.DataFrame(st.session_state["conn_test_all_results"]),
                         hide_index=True, key="conn_test_all_table")
            if st.button("Clear results", key="conn_test_all_clear"):
                st.session_state["conn_test_all_results"] = None
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
        for connection in shown[first:first + PAGE_SIZE]:
            connection_card(service, connection)

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
