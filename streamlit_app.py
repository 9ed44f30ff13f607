"""The connections dashboard: ``streamlit run streamlit_app.py``.

Streamlit finds ``app`` below and serves it; every visit runs ``dashboard.py``
(page config, the sign-in gate, navigation over the screens in ``app_pages/``).
Before the server starts, it also accepts this machine's own names and addresses
(:mod:`server.hosts`), so the "Network URL" it prints opens the app.  From its
start to its stop, the server runs the scheduled checks (:mod:`server.lifespan`).
"""

import streamlit as st

from server.hosts import accept_this_machine
from server.lifespan import lifespan
from server.routes import ROUTES

accept_this_machine()
app = st.App("dashboard.py", lifespan=lifespan, routes=ROUTES)
