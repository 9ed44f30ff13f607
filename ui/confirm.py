"""The one dialog that asks before something is done: every delete goes through it.

Like the Connections screen's dialogs, it is open while a flag in session state
says so (the caller's), and it is drawn from that flag on every run; ``on_close``
clears it.  Its buttons' keys are ``<key>_confirm`` and ``<key>_cancel``, so a
delete's confirm button is red (see :mod:`ui.chrome`) and its Cancel is not.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ui.errors import reported_errors


def confirm_dialog(title: str, sentence: str, confirm: str, on_confirm: Callable[[], None], *,
                   key: str, on_close: Callable[[], None],
                   icon: str = ":material/delete:") -> None:
    """A dialog titled ``title`` that says ``sentence`` (Markdown: escape what a person
    or a server wrote with :func:`ui.format.md`) over two buttons, ``confirm`` and
    Cancel.

    ``confirm`` calls ``on_confirm``; it, Cancel and dismissing the dialog call
    ``on_close``, and the buttons then rerun the app.  When ``on_confirm`` raises, its
    error shows in the dialog, which stays open (Cancel or dismiss it).
    """
    st.dialog(title, on_dismiss=on_close)(_ask)(sentence, confirm, on_confirm, key, on_close,
                                                 icon)


def _ask(sentence: str, confirm: str, on_confirm: Callable[[], None], key: str,
         on_close: Callable[[], None], icon: str) -> None:
    with reported_errors():
        st.markdown(sentence)
        with st.container(horizontal=True):
            confirmed = st.button(confirm, key=f"{key}_confirm", type="primary", icon=icon)
            cancelled = st.button("Cancel", key=f"{key}_cancel")
        if confirmed:
            on_confirm()
        if confirmed or cancelled:
            on_close()
            st.rerun()
