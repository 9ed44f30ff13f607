"""Activity: who changed, tested or was refused what in this workspace, newest first."""

import streamlit as st

from ui.activity import activity_filters, activity_table, audit_csv, settled, since_midnight
from ui.format import browser_zone, md
from ui.service import current_service

#: Entries read at most: the newest this many match the filters.
SHOWN_AT_MOST = 5000

service = current_service()
zone = browser_zone()  # times are shown on the reader's clock, and say which

st.title("Activity")
st.caption(f"Workspace **{md(service.workspace_id)}**: every change to its connections, "
           "models and members, every check, and every refused attempt, newest first.")
everything = service.audit(SHOWN_AT_MOST)

# -- Empty state ---------------------------------------------------------------------------
if not everything:
    with st.container(border=True):
        st.subheader("No activity yet")
        st.markdown("Adding, editing, testing or deleting a connection, pulling or deleting an "
                    "Ollama model and changing who may do what are all recorded here, with who "
                    "did it and when.")
        st.page_link("app_pages/connections.py", label="Go to Connections", icon=":material/hub:")
    st.stop()

# -- Filters -------------------------------------------------------------------------------
person, action, day = activity_filters(everything, zone)
filtered = person is not None or action is not None or day is not None
entries = (service.audit(SHOWN_AT_MOST, actor=person, action=action,
                         since=since_midnight(day, zone)) if filtered else everything)

# -- The trail, a page at a time, and all of it as CSV -------------------------------------
if not entries:
    st.info("No activity matches these filters.", icon=":material/filter_alt_off:")
else:
    activity_table(settled(entries), zone)
    if len(entries) == SHOWN_AT_MOST:
        st.caption(f"These are the {SHOWN_AT_MOST:,} most recent: choose a person or an "
                   "action to narrow them down.")
    st.download_button("Download CSV", audit_csv(entries), key="activity_download",
                       file_name=f"activity-{service.workspace_id}.csv", mime="text/csv",
                       icon=":material/download:", on_click="ignore",
                       help="The entries these filters show, all pages, for a spreadsheet.")
