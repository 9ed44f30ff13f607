"""The connections dashboard: ``streamlit run streamlit_app.py``.

Page config, navigation over the screens in ``app_pages/``, the workspace picker,
and the one place where an error on a screen becomes a short message.
"""

import streamlit as st

from ui.errors import reported_errors
from ui.notices import show_notices
from ui.service import DEFAULT_WORKSPACE, WORKSPACE, current_service, key_source

st.set_page_config(page_title="Connections", page_icon=":material/hub:", layout="wide")

page = st.navigation([
    st.Page("app_pages/connections.py", title="Connections", icon=":material/hub:", default=True,
            help="Your AI provider connections: add, test, edit and delete them, and choose "
                 "the default of each provider."),
    st.Page("app_pages/ollama_models.py", title="Ollama models", icon=":material/deployed_code:",
            help="The models on an Ollama server: list, inspect, pull and delete them."),
    st.Page("app_pages/settings.py", title="Settings", icon=":material/settings:",
            help="Where the encryption key comes from, the data file, and counts of "
                 "connections."),
])

with st.sidebar:
    # The key is also the URL's query parameter: a link opens the same workspace.
    st.text_input("Workspace", value=DEFAULT_WORKSPACE, key=WORKSPACE, bind="query-params",
                  help="Connections are kept per workspace. The address bar remembers the "
                       "workspace, so a link opens the same one.")

with reported_errors():
    service = current_service()
    if key_source() in ("file", "generated"):
        st.sidebar.warning(f"Using a key generated for local use (`{service.key_file}`). Set "
                           "`ENCRYPTION_KEY` for a shared deployment; see Settings.",
                           icon=":material/warning:")
    show_notices()
    page.run()
