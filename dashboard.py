"""The connections dashboard's screens, run for every visit (served by ``streamlit_app.py``).

Page config, the sign-in gate, navigation over the screens in ``app_pages/``,
the sidebar, and the one place where an error on a screen becomes a short message.
While the session shows the demo, every screen works on it and says so at its top.
"""

import streamlit as st

from connections_core import is_demo
from ui.auth import PRODUCT, signed_in_email
from ui.background import announce_background_work
from ui.chrome import FAVICON, chrome, tab_title
from ui.demo import demo_notice
from ui.errors import reported_errors
from ui.format import md
from ui.notices import show_notices
from ui.roles import sees_server_details
from ui.service import (
    chosen_service,
    current_service,
    key_source,
    require_a_current_session,
    require_a_demo_to_show,
    require_a_workspace,
)
from ui.sidebar import sidebar

st.set_page_config(page_title=PRODUCT, page_icon=FAVICON, layout="wide")

SETTINGS = st.Page("app_pages/settings.py", title="Settings", icon=":material/settings:",
                   help="The workspace's members and counts of connections; for admins, "
                        "where the encryption key comes from and the data file.")
PAGES = [
    st.Page("app_pages/connections.py", title="Connections", icon=":material/hub:", default=True,
            help="Your AI provider connections: add, test, edit and delete them, and choose "
                 "the default of each provider."),
    st.Page("app_pages/ollama_models.py", title="Ollama models", icon=":material/deployed_code:",
            help="The models on an Ollama server: list, inspect, pull and delete them."),
    st.Page("app_pages/activity.py", title="Activity", icon=":material/history:",
            help="Who changed, tested or was refused what in this workspace."),
    SETTINGS,
]

# With sign-in on, only someone signed in gets past this line; the others get a page.
signed_in_email()

with reported_errors():
    require_a_current_session()  # signed out since, elsewhere, or removed: the sign-in page
    require_a_workspace()  # someone in no workspace at all: a page that says whom to ask
    require_a_demo_to_show()  # the demo, when asked for by someone who may not: the real app
    page = st.navigation(PAGES)
    st.set_page_config(page_title=tab_title(page.title))
    with st.sidebar:
        sidebar(chosen_service())
        chrome()  # last in the sidebar: it takes no space there
        # Checks and pulls that end while the person is on another screen are told here.
        announce_background_work(page.url_path, checks_page=PAGES[0].url_path,
                                 pull_page=PAGES[1].url_path)
    service = current_service()  # a workspace they may not open: a message, and theirs
    # On the page, not in the sidebar: a phone shows the sidebar only when opened.
    if is_demo(service):
        demo_notice()
    # Settings says it in full.  Only to admins: the key file is the server's business.
    elif key_source() in ("file", "generated") and page.url_path != SETTINGS.url_path \
            and sees_server_details(service):
        st.warning(f"Using a key generated for local use ({md(service.key_file)}). "
                   "Set `ENCRYPTION_KEY` for a shared deployment; see Settings.",
                   icon=":material/warning:")
    show_notices()
    page.run()
