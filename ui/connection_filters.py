"""The Connections screen's filters: provider, status and a search by name.

The provider filter offers the providers the workspace has connections of, by group.

Each applies as soon as it changes, the search as you type (after a pause of
250 ms: Streamlit's ``live`` text input), and *Clear filters* resets them all and
goes back to the first page.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from connections_core import Connection
from ui.providers import in_group_order, provider_name
from ui.widgets import STATUS_STYLES, status_label

PROVIDER = "conn_filter_provider"
STATUS = "conn_filter_status"
SEARCH = "conn_search"
PAGE = "conn_page"  # the cards' page, which a change of filters makes meaningless


def filter_bar(connections: Sequence[Connection]) -> list[Connection]:
    """The filter row; the connections it lets through, in the order given."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        types = st.pills("Provider", _offered(connections), selection_mode="multi",
                         key=PROVIDER, format_func=provider_name)
        statuses = st.pills("Status", list(STATUS_STYLES), selection_mode="multi", key=STATUS,
                            format_func=status_label)
        search = st.text_input("Search by name", key=SEARCH, type="search",
                               placeholder="Search by name", live=True)
        st.button("Clear filters", key="conn_filter_clear", icon=":material/filter_alt_off:",
                  disabled=not (types or statuses or search), on_click=clear_filters)
    needle = search.strip().casefold()
    return [c for c in connections
            if (not types or c.type in types) and (not statuses or c.status in statuses)
            and needle in c.name.casefold()]


def _offered(connections: Sequence[Connection]) -> list[str]:
    """The providers the workspace has connections of (and any chosen still), by group:
    a pill for each of the registry's providers would mostly filter to nothing."""
    chosen = st.session_state.get(PROVIDER) or []
    return in_group_order({c.type for c in connections} | set(chosen))


def clear_filters() -> None:
    """Button callback: every filter off, and the first page of cards."""
    st.session_state[PROVIDER] = []
    st.session_state[STATUS] = []
    st.session_state[SEARCH] = ""
    st.session_state.pop(PAGE, None)
