"""Confirmations of what an action did, shown as toasts.

An action changes data, calls :func:`notify`, then ``st.rerun()``; the entry
point calls :func:`show_notices` at the top of the next run, so the toast
appears on the page that already shows the change.
"""

from __future__ import annotations

import streamlit as st

NOTICES = "app_notices"


def notify(message: str, icon: str = ":material/check_circle:") -> None:
    """Queue a toast (Markdown: escape user data with :func:`ui.format.md`)."""
    st.session_state.setdefault(NOTICES, []).append((message, icon))


def show_notices() -> None:
    for message, icon in st.session_state.pop(NOTICES, []):
        st.toast(message, icon=icon)
