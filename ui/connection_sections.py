"""The sections of the Connections screen, each a paragraph of ``app_pages/connections.py``:
the empty state, the workspace's health in one line, the toolbar, the cards a page at a
time (with Undo in a deleted card's place), and Recently deleted.  Test all's results
are :mod:`ui.checks`'.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from connections_core import Connection, ConnectionService, counted
from ui.checks import start_test_all, test_all_running
from ui.connection_card import connection_card
from ui.connection_dialogs import open_dialog
from ui.demo import offer_demo
from ui.format import md, relative_time
from ui.health import workspace_health
from ui.members import needs_role
from ui.notices import notify
from ui.providers import provider_name, registry_in_words
from ui.undo import AFTER_LAST, undo_bar, undo_place
from ui.widgets import page_of

PAGE_SIZE = 20
DELETED_SHOWN = 20


def no_connections_yet(service: ConnectionService) -> None:
    """What a connection is, the button that adds the first, and, for whoever may open
    it, "Try the demo" (no keys needed)."""
    no_create = needs_role(service, "create")
    with st.container(border=True):
        st.subheader("No connections yet")
        st.markdown(f"A connection is what the app needs to reach an AI provider: its API key "
                    f"(encrypted here), or the address of your own server. On offer: "
                    f"{md(registry_in_words())}. Add one, press *Test* to check it, and the first "
                    "of each provider becomes its default.")
        with st.container(horizontal=True):
            st.button("Add connection", key="conn_add_first", type="primary",
                      icon=":material/add:", disabled=no_create is not None, help=no_create,
                      on_click=open_dialog, args=("add",))
            offer_demo(service)


def health_line(connections: Sequence[Connection]) -> None:
    """How many connections are healthy, failing, and checked only by hand."""
    st.markdown(workspace_health(connections))


def toolbar(service: ConnectionService) -> None:
    """Add a connection, and test them all at once."""
    no_create = needs_role(service, "create")
    with st.container(horizontal=True):
        st.button("Add connection", key="conn_add", type="primary", icon=":material/add:",
                  disabled=no_create is not None, help=no_create,
                  on_click=open_dialog, args=("add",))
        st.button("Test all", key="conn_test_all", icon=":material/network_check:",
                  disabled=test_all_running(), on_click=start_test_all, args=(service,))


def card_pages(service: ConnectionService, shown: Sequence[Connection],
               deleted: Connection | None) -> bool:
    """The cards ``shown``, :data:`PAGE_SIZE` to a page, with the Undo bar for the
    connection just ``deleted`` in its card's place; whether the bar found a place here
    (else the screen draws it at its top)."""
    if not shown:
        st.info("No connection matches these filters.", icon=":material/filter_alt_off:")
    cards = st.container()
    first, on_page = page_of(shown, PAGE_SIZE, key="conn_page")
    with cards:
        if shown:
            st.caption(f"Showing {first + 1}–{first + len(on_page)} of "
                       f"{counted(len(shown), 'connection')}.")
        undo_at = undo_place(deleted, on_page)
        for connection in on_page:
            if deleted is not None and connection.id == undo_at:
                undo_bar(service, deleted)
            connection_card(service, connection)
        if deleted is not None and undo_at == AFTER_LAST:
            undo_bar(service, deleted)
    return undo_at is not None


def recently_deleted(service: ConnectionService, deleted: Sequence[Connection]) -> None:
    """The connections deleted lately, newest first, each with Restore."""
    if not deleted:
        return
    no_restore = needs_role(service, "restore")
    with st.expander(f"Recently deleted ({len(deleted)})", icon=":material/delete:"):
        for connection in deleted[:DELETED_SHOWN]:
            with st.container(horizontal=True, vertical_alignment="center"):
                st.markdown(f"**{md(connection.name)}** · "
                            f"{provider_name(connection.type)} · "
                            f"deleted {relative_time(connection.deleted_at)}")
                if st.button("Restore", key=f"conn_restore_{connection.id}",
                             icon=":material/restore_from_trash:",
                             disabled=no_restore is not None, help=no_restore):
                    service.restore(connection.id)
                    notify(f"Restored **{md(connection.name)}**.", icon=":material/undo:")
                    st.rerun()
        if len(deleted) > DELETED_SHOWN:
            st.caption(f"The {DELETED_SHOWN} most recently deleted of {len(deleted)}.")
