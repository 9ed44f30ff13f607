"""The sidebar: the workspace picker, "New workspace", and who is signed in.

The picker's key is also the URL's query parameter (``?workspace=team-a``), so
a link opens the same workspace.  Its choices are the workspaces the person may
open, ``default`` first when they may; the one open now stays among them even
when they may not (the page then says so).  While the demo is shown, its own
section (Reset demo, Leave the demo: :mod:`ui.demo`) takes the picker's place.
"""

from __future__ import annotations

import streamlit as st

from connections_core import ConnectionsError, ConnectionService, ValidationError, is_demo
from ui.auth import sign_in_enabled, sign_out_button
from ui.demo import demo_section
from ui.errors import show_error
from ui.format import md
from ui.notices import notify
from ui.service import WORKSPACE, choose_workspace, service_for, workspaces_open_to_me

NEW_NAME = "sidebar_new_workspace"
NEW_ERROR = "sidebar_new_workspace_error"
NEW_OPEN = "sidebar_new_workspace_open"  # whether "New workspace" is open: Create closes it


def sidebar(service: ConnectionService) -> None:
    """Everything in the sidebar below the navigation, for the workspace open now."""
    if is_demo(service):
        demo_section()
    else:
        workspace_picker(service)
        if service.actor is None or service.is_instance_admin:
            new_workspace()
    if sign_in_enabled() and service.actor is not None:
        signed_in_as(service)


def workspace_picker(service: ConnectionService) -> None:
    choices = workspaces_open_to_me()
    if service.workspace_id not in choices:
        choices.append(service.workspace_id)
    st.selectbox("Workspace", choices, key=WORKSPACE, bind="query-params",
                 help="Connections are kept per workspace. The address bar remembers the "
                      "workspace, so a link opens the same one.")


def new_workspace() -> None:
    """A name and "Create" (instance admins, and everyone when sign-in is off), in a
    popover that Create closes once the workspace is open (it would cover the sidebar),
    and that stays open to say why a name can't be a workspace."""
    with st.popover("New workspace", icon=":material/add:", width="stretch", key=NEW_OPEN,
                    on_change="rerun"):
        st.text_input("Workspace name", key=NEW_NAME, placeholder="e.g. team-a", max_chars=100)
        if st.session_state.get(NEW_ERROR):
            show_error(st.session_state[NEW_ERROR])
        st.button("Create", key="sidebar_new_workspace_create", type="primary",
                  on_click=_create)


def signed_in_as(service: ConnectionService) -> None:
    """The e-mail, the role in this workspace, and "Sign out"."""
    st.divider()
    st.caption(f"Signed in as **{md(service.actor)}**")
    st.caption(_role(service))
    sign_out_button("sidebar_sign_out", service)


def _role(service: ConnectionService) -> str:
    where = f"workspace **{md(service.workspace_id)}**"
    if service.is_instance_admin:
        return f"Instance admin: admin in {where} and every other."
    if service.role is None:
        return f"No access to {where}."
    return f"{service.role.capitalize()} in {where}."


def _create() -> None:
    """Callback of "Create": make the workspace (its creator its first admin), open it.

    With sign-in off there is nobody to make admin: the workspace exists once
    something is added to it, and stays open meanwhile.
    """
    name = str(st.session_state.get(NEW_NAME, "")).strip()
    st.session_state[NEW_ERROR] = None
    try:
        service = service_for(name)
        created = _make_mine(service)
    except ValidationError as error:
        st.session_state[NEW_ERROR] = error.field_errors.get("workspace_id", str(error))
        return
    except ConnectionsError as error:
        st.session_state[NEW_ERROR] = str(error)
        return
    st.session_state[NEW_NAME] = ""
    st.session_state[NEW_OPEN] = False
    choose_workspace(service.workspace_id)
    done = "Created" if created else "Opened"
    notify(f"{done} workspace **{md(service.workspace_id)}**.", icon=":material/folder_open:")


def _make_mine(service: ConnectionService) -> bool:
    """Make the workspace, with the instance admin creating it as its first admin,
    unless it exists already; whether it was made."""
    if service.actor is None or service.workspace_id in workspaces_open_to_me():
        return False
    service.set_member(service.actor, "admin")
    return True
