"""Undo after a delete, drawn where the person is looking: in the deleted card's place.

Each run remembers the order of the cards it drew (:data:`SHOWN`), with the
deleted one kept in its place while Undo is offered; the next run draws the
Undo bar before the card that followed it.  With no card left to stand among,
the screen draws the bar at its top.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from connections_core import Connection, ConnectionService
from ui.connection_dialogs import UNDO
from ui.format import md
from ui.members import needs_role
from ui.notices import notify

SHOWN = "conn_cards_shown"  # the ids of the cards drawn last, the deleted one in its place
AFTER_LAST = ""  # the place of a card that was the last one drawn


def last_deleted(deleted: Sequence[Connection]) -> Connection | None:
    """The connection deleted last in this session, while Undo is offered for it."""
    return next((c for c in deleted if c.id == st.session_state.get(UNDO)), None)


def undo_place(deleted: Connection | None, cards: Sequence[Connection]) -> str | None:
    """Where the Undo bar for ``deleted`` goes among ``cards`` (the ones about to be
    drawn): the id of the card it goes before, :data:`AFTER_LAST`, or None when the
    deleted card was not among the cards drawn last (or nothing was deleted)."""
    ids = [card.id for card in cards]
    previous: list[str] = st.session_state.get(SHOWN, [])
    if deleted is None or deleted.id not in previous:
        st.session_state[SHOWN] = ids
        return None
    followers = previous[previous.index(deleted.id) + 1:]
    place = next((id for id in followers if id in ids), AFTER_LAST)
    at = ids.index(place) if place in ids else len(ids)
    st.session_state[SHOWN] = [*ids[:at], deleted.id, *ids[at:]]
    return place


def undo_bar(service: ConnectionService, deleted: Connection) -> None:
    """``Deleted X · Undo``: Undo restores it."""
    no_restore = needs_role(service, "restore")
    with st.container(border=True, horizontal=True, vertical_alignment="center",
                      key="conn_undo_bar"):
        st.markdown(f":material/delete: Deleted **{md(deleted.name)}**.")
        if st.button("Undo", key="conn_undo_button", icon=":material/undo:",
                     disabled=no_restore is not None, help=no_restore):
            service.restore(deleted.id)
            st.session_state[UNDO] = None
            notify(f"Restored **{md(deleted.name)}**.", icon=":material/undo:")
            st.rerun()
