"""The demo, as the dashboard offers and shows it: "Try the demo", the notice at the top
of every screen, and the sidebar's Reset and Leave.

The demo is the core's (``open_demo``): connections to stand-in providers served by
this process, in a store of its own, with a key made for it.  Which service a
session's screens get is :mod:`ui.service`'s business (:func:`ui.service.show_demo`);
every screen then works on the demo unchanged.  With sign-in on, only instance
admins are offered it (``service.can("open_demo")``, the core's rule).

What a screen keeps in the session about the workspace it showed (an open dialog,
Undo, the filters, Test all's last table, an Ollama model's details or its delete
dialog) is about the other side once the session enters or leaves the demo, or once
the demo is reset: it is dropped then, so a real connection's dialog never opens
over the demo's connections, nor the other way round.  Checks and a pull still
running go on, and are told when they end.
"""

from __future__ import annotations

import streamlit as st

from connections_core import DEMO_NOTICE, ConnectionService, is_demo, reset_demo
from ui.checks import TEST_ALL_RESULTS
from ui.connection_dialogs import UNDO, close_dialog
from ui.connection_filters import clear_filters
from ui.format import md
from ui.notices import notify
from ui.ollama_state import forget_details
from ui.service import real_workspace, show_demo

ICON = ":material/science:"
TRY_HELP = ("Connections to stand-in OpenAI, Anthropic and Ollama providers, running inside "
            "this app: test, edit, delete, pull and browse without any key. Your own "
            "connections are not touched.")


def offer_demo(service: ConnectionService, *, key: str = "demo_try", label: str = "Try the demo",
               quiet: bool = False) -> None:
    """The button that opens the demo, for whoever may open it (not in the demo itself)."""
    if is_demo(service) or not service.can("open_demo"):
        return
    st.button(label, key=key, icon=ICON, type="tertiary" if quiet else "secondary",
              help=TRY_HELP, on_click=_enter)


def demo_notice() -> None:
    """At the top of every screen while the demo is shown: what it is, and the way out
    (the sidebar's is hidden on a phone)."""
    with st.container(horizontal=True, wrap=False, vertical_alignment="center"):
        st.info(DEMO_NOTICE, icon=ICON)
        st.button("Leave", key="demo_leave_top", icon=":material/logout:", on_click=_leave,
                  help=_leave_help())


def demo_section() -> None:
    """The sidebar while the demo is shown, in place of the workspace picker."""
    st.markdown(f"{ICON} **Demo**")
    st.caption("Stand-in providers on this machine, in a store of the demo's own.")
    st.button("Reset demo", key="demo_reset", icon=":material/restart_alt:", width="stretch",
              on_click=_reset,
              help="Put the demo back as it started, for everyone looking at it: its "
                   "connections, their statuses, its activity and its Ollama models.")
    st.button("Leave the demo", key="demo_leave", icon=":material/logout:", width="stretch",
              on_click=_leave, help=_leave_help())


def _leave_help() -> str:
    return f"Back to your own connections, in workspace {md(real_workspace())}."


def _enter() -> None:
    show_demo(True)
    _forget_the_screens()


def _leave() -> None:
    show_demo(False)
    _forget_the_screens()
    notify(f"Left the demo: back to workspace **{md(real_workspace())}**.",
           icon=":material/logout:")


def _reset() -> None:
    reset_demo()
    _forget_the_screens()
    notify("The demo is back as it started.", icon=":material/restart_alt:")


def _forget_the_screens() -> None:
    """Drop what the screens keep about the workspace shown until now."""
    close_dialog()
    st.session_state[UNDO] = None
    clear_filters()
    st.session_state[TEST_ALL_RESULTS] = None
    forget_details()
    st.session_state["ollama_deleting"] = None  # a model's delete dialog
