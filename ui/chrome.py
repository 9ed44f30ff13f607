"""The app's chrome: the browser tab's title and icon, and what the theme can't set.

The primary colour and the toolbar are set in ``.streamlit/config.toml``.
Three things are not settings there, and are added here on every run by
:func:`chrome`:

- **Destructive buttons** are red, distinct from the primary colour of the main
  action.  A button is destructive when its key's action is ``delete`` or
  ``remove``: ``<screen>_delete``, ``<screen>_delete_<anything>`` or
  ``<screen>_..._remove_<anything>``, but not ``..._cancel``.  So
  ``conn_delete_<id>``, ``conn_delete_confirm``, ``ollama_delete`` and
  ``settings_member_remove_<email>`` are red, and ``conn_delete_cancel`` is
  not.  A primary one is filled red, any other has red text.
- **Toasts are read at the size of the page's text** (16 px, not Streamlit's
  14): a failed check is reported in one, with what to do about it.
- **On a narrow screen the sidebar closes after a screen is chosen in it.**
  There the sidebar lies over the page; Streamlit closes it only when the
  browser says it is a phone, so a narrow window or a tablet kept it open over
  the screen just chosen.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.auth import PRODUCT

FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"

#: The element around a destructive button (the key is one of its classes).
DESTRUCTIVE = ('.stElementContainer:is([class*="_delete "], [class*="_delete_"], '
               '[class*="_remove_"]):not([class*="_cancel "])')

#: The red of destructive buttons: white text on it, and it on the page's
#: background, reach WCAG AA (4.5:1) in the light theme and the dark one.  With
#: no theme menu (``toolbarMode = "minimal"``) the app's theme is the device's.
DESTRUCTIVE_CSS = f"""
{DESTRUCTIVE} {{ --destructive: #b42318; --destructive-hover: #912018; }}
@media (prefers-color-scheme: dark) {{
  {DESTRUCTIVE} {{ --destructive: #dc3545; --destructive-hover: #b42318; }}
}}
{DESTRUCTIVE} button[kind="primary"] {{
  background-color: var(--destructive); border-color: var(--destructive); color: #ffffff;
}}
{DESTRUCTIVE} button[kind="primary"]:hover:enabled {{
  background-color: var(--destructive-hover); border-color: var(--destructive-hover);
}}
{DESTRUCTIVE} button[kind="secondary"]:enabled {{ color: var(--destructive); }}
{DESTRUCTIVE} button[kind="secondary"]:hover:enabled {{ border-color: var(--destructive); }}
"""

TOAST_CSS = '[data-testid="stToastText"] { font-size: 1rem; }'

#: Below Streamlit's ``md`` breakpoint (768 px) the sidebar lies over the page.
#: Streamlit's own click handler runs first (and closes the sidebar on a phone);
#: this one looks again once that is drawn, and closes it if it is still open.
CLOSE_SIDEBAR_JS = """
if (!window.connectionsClosesSidebar) {
  window.connectionsClosesSidebar = true;
  document.addEventListener("click", (event) => {
    if (!event.target.closest('[data-testid="stSidebarNav"] a') || window.innerWidth >= 768) {
      return;
    }
    requestAnimationFrame(() => {
      const sidebar = document.querySelector('[data-testid="stSidebar"]');
      if (sidebar && sidebar.dataset.collapsed === "false") {
        document.querySelector('[data-testid="stSidebarCollapseButton"] button')?.click();
      }
    });
  });
}
"""


def tab_title(screen: str) -> str:
    """The browser tab's title on ``screen``: ``Ollama models · connections``."""
    return f"{screen} · {PRODUCT}"


def chrome() -> None:
    """The styles and the script above (call it last in the sidebar: an element
    of no height still adds a gap above the next one)."""
    st.html(f"<style>{DESTRUCTIVE_CSS}{TOAST_CSS}</style>")
    st.html(f"<script>{CLOSE_SIDEBAR_JS}</script>", unsafe_allow_javascript=True)
