"""Settings: the encryption key, sign-in and members, the data file, and counts of connections."""

from collections import Counter

import streamlit as st

from connections_core import PROVIDERS
from ui.format import md
from ui.members import members_section, sign_in_section
from ui.service import current_service, key_source
from ui.widgets import STATUS_STYLES

KEY_SOURCES = {
    "environment": "The encryption key comes from the `ENCRYPTION_KEY` environment variable.",
    "secrets": "The encryption key comes from `ENCRYPTION_KEY` in `.streamlit/secrets.toml`.",
}
ROTATE = ("**To rotate the key:** set `ENCRYPTION_KEY_PREVIOUS` to the current key and "
          "`ENCRYPTION_KEY` to a new one (`openssl rand -hex 32`), restart the app, run "
          "`python -m connections_core rotate-key` (it re-encrypts every key and checks "
          "that none is left under the old one), then unset `ENCRYPTION_KEY_PREVIOUS` and "
          "restart again.")

service = current_service()
connections = service.list()

st.title("Settings")
for warning in service.file_warnings():
    st.warning(md(warning), icon=":material/warning:")

st.subheader("Encryption key")
source = key_source()
if source in KEY_SOURCES:
    st.success(KEY_SOURCES[source], icon=":material/key:")
else:
    st.warning(f"The encryption key was generated for local use and is kept in "
               f"{md(service.key_file)}. Anyone who can read that file can decrypt the stored "
               "API keys: set `ENCRYPTION_KEY` for a shared deployment.",
               icon=":material/warning:")
if service.keyring.has_previous:
    st.info("Key rotation is under way: `ENCRYPTION_KEY_PREVIOUS` is set, so secrets written "
            "with the previous key can still be read.", icon=":material/sync:")
else:
    st.caption("No previous key is set: no rotation is under way.")
st.markdown(ROTATE)

sign_in_section()
members_section(service)

st.subheader("Storage")
size = service.store.size_bytes()
with st.container(horizontal=True):
    if size is not None:
        st.metric("Size", size, format="bytes", border=True)
    st.metric("Workspace", md(service.workspace_id), border=True)
st.caption(f"Stored in {md(service.store.location)}.")

st.subheader("Connections in this workspace")
by_provider = Counter(c.type for c in connections)
with st.container(horizontal=True):
    for type, provider in PROVIDERS.items():
        st.metric(provider.display_name, by_provider[type], border=True)
by_status: Counter[str] = Counter(c.status for c in connections)
with st.container(horizontal=True):
    for status, (label, _) in STATUS_STYLES.items():
        st.metric(label, by_status[status], border=True)

with st.container(horizontal=True):
    st.page_link("app_pages/connections.py", label="Manage connections", icon=":material/hub:")
    st.page_link("app_pages/ollama_models.py", label="Browse Ollama models",
                 icon=":material/deployed_code:")
