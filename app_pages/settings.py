"""Settings: the encryption key, sign-in and members, alerts, application access, the data
file, and counts of connections.

The server's details (its files, its key, how to rotate it) are for the workspace's
admins, and for whoever runs the app with sign-in off.
"""

import streamlit as st

from ui.alerts import alerts_section
from ui.app_access import app_access_section
from ui.demo import offer_demo
from ui.format import md
from ui.members import members_section, sign_in_section
from ui.roles import sees_server_details
from ui.service import current_service
from ui.settings_sections import SERVER_DETAILS, counts_section, key_section, storage_section

service = current_service()
connections = service.list()
admin = sees_server_details(service)

st.title("Settings")
if admin:
    for warning in service.file_warnings():
        st.warning(md(warning), icon=":material/warning:")
    key_section(service)
else:
    st.caption(SERVER_DETAILS)

sign_in_section()
members_section(service)
alerts_section(service)
app_access_section(service)
if admin:
    storage_section(service)
counts_section(connections)

with st.container(horizontal=True):
    st.page_link("app_pages/connections.py", label="Manage connections", icon=":material/hub:")
    st.page_link("app_pages/ollama_models.py", label="Browse Ollama models",
                 icon=":material/deployed_code:")
    offer_demo(service, key="demo_try_settings", label="Open the demo", quiet=True)
