"""The sections of the Settings screen, each a paragraph of ``app_pages/settings.py``:
where the encryption key comes from, the storage, and counts of connections.  Its
Sign-in and Members sections are :mod:`ui.members`.  The key's and the storage's
are about the server, and shown to admins only (:func:`ui.roles.sees_server_details`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import streamlit as st

from connections_core import Connection, ConnectionService, is_demo
from ui.format import md
from ui.providers import in_group_order, provider_name
from ui.service import key_source
from ui.widgets import STATUS_STYLES

KEY_SOURCES = {
    "environment": "The encryption key comes from the `ENCRYPTION_KEY` environment variable.",
    "secrets": "The encryption key comes from `ENCRYPTION_KEY` in `.streamlit/secrets.toml`.",
}
#: The demo's key: never a file, never the real one.
DEMO_KEY = ("The demo's API keys are encrypted with a key made for the demo when it opened, "
            "held in this app's memory only: it is not `ENCRYPTION_KEY`, and your own "
            "connections' key is not used here.")
#: What the others are told instead.
SERVER_DETAILS = ("Admins see where the data and the encryption key are kept, and how to "
                  "rotate the key.")
ROTATE = ("**To rotate the key:** set `ENCRYPTION_KEY_PREVIOUS` to the current key and "
          "`ENCRYPTION_KEY` to a new one (`openssl rand -hex 32`), restart the app, run "
          "`python -m connections_core rotate-key` (it re-encrypts every key and checks "
          "that none is left under the old one), then unset `ENCRYPTION_KEY_PREVIOUS` and "
          "restart again.")


def key_section(service: ConnectionService) -> None:
    """Where the key came from, whether a rotation is under way, and how to rotate it."""
    st.subheader("Encryption key")
    if is_demo(service):  # no key file, no rotation: a key made for the demo
        st.info(DEMO_KEY, icon=":material/key:")
        return
    source = key_source()
    if source in KEY_SOURCES:
        st.success(KEY_SOURCES[source], icon=":material/key:")
    else:
        st.warning(f"The encryption key was generated for local use and is kept in "
                   f"{md(service.key_file)}. Anyone who can read that file can decrypt the "
                   "stored API keys: set `ENCRYPTION_KEY` for a shared deployment.",
                   icon=":material/warning:")
    if service.keyring.has_previous:
        st.info("Key rotation is under way: `ENCRYPTION_KEY_PREVIOUS` is set, so secrets "
                "written with the previous key can still be read.", icon=":material/sync:")
    else:
        st.caption("No previous key is set: no rotation is under way.")
    st.markdown(ROTATE)


def storage_section(service: ConnectionService) -> None:
    """The data's size (when the store can tell), the workspace, and where it is kept."""
    st.subheader("Storage")
    size = service.store.size_bytes()
    with st.container(horizontal=True):
        if size is not None:
            st.metric("Size", size, format="bytes", border=True)
        st.metric("Workspace", md(service.workspace_id), border=True)
    st.caption(f"Stored in {md(service.store.location)}.")


def counts_section(connections: Sequence[Connection]) -> None:
    """How many connections each provider has (only those with any: the registry offers
    many; by group, as everywhere), and how many are in each status."""
    st.subheader("Connections in this workspace")
    by_provider = Counter(c.type for c in connections)
    with st.container(horizontal=True):
        for type in in_group_order(by_provider):
            st.metric(provider_name(type), by_provider[type], border=True)
    if not connections:
        st.caption("No connections yet.")
    by_status: Counter[str] = Counter(c.status for c in connections)
    with st.container(horizontal=True):
        for status, (label, _) in STATUS_STYLES.items():
            st.metric(label, by_status[status], border=True)
