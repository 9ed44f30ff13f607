"""Who may do what in a workspace: the Settings sections for its members and for
sign-in, and :func:`needs_role`, which every screen uses to turn off a control
the signed-in person's role doesn't allow.

The rules are the core's (``service.can``); a screen only hides what the core
would refuse anyway.  A role is changed by choosing it in the member's row;
that row's selectbox otherwise always shows the stored role, so a change made
elsewhere meanwhile is never sent back.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import streamlit as st

from connections_core import ROLES, ConnectionService, Member, ValidationError, needed_role
from ui.auth import sign_in_enabled
from ui.errors import show_error
from ui.format import md, relative_time
from ui.notices import notify
from ui.roles import sees_server_details, with_article

CHANGED = "settings_member_changed"  # the e-mail whose role was just chosen in its row
REFUSED = "settings_member_refused"  # (e-mail, why) the last change to that member was refused
EMAIL = "settings_member_email"

ROLE_HELP = ("**Viewers** see the connections and the activity, and test connections. "
             "**Editors** also add, change and delete connections and Ollama models. "
             "**Admins** also choose who is a member.")
SIGN_IN_OFF = ("Anyone who can open this page can change the connections and where the "
               "application's requests go; turn on sign-in before sharing the URL.")


def needs_role(service: ConnectionService, operation: str) -> str | None:
    """A control's tooltip when the signed-in person may not do ``operation`` (a service
    method's name), the short form of the notice at the top of the screen (see
    :mod:`ui.roles`): ``"You are a viewer in team-a: ask an admin to do this, or to make
    you an editor."``; None when they may."""
    if service.can(operation):
        return None
    needed, role = needed_role(operation), service.role
    if needed is None:
        return "Only an instance admin may do this."
    if role is None:
        return f"This needs the {needed} role."
    return (f"You are {with_article(role)} in {md(service.workspace_id)}: ask an admin to "
            f"do this, or to make you {with_article(needed)}.")


# -- Sign-in -------------------------------------------------------------------------------

def sign_in_section() -> None:
    """Whether people sign in, and with which identity provider (its host only: the
    rest of the ``[auth]`` settings are secrets)."""
    st.subheader("Sign-in")
    if not sign_in_enabled():
        st.warning(SIGN_IN_OFF, icon=":material/lock_open:")
        st.caption("To turn it on, add your identity provider's settings as an `[auth]` "
                   "section of `.streamlit/secrets.toml` and restart the app.")
        return
    host = urlsplit(str(st.secrets["auth"]["server_metadata_url"])).hostname
    st.success(f"Sign-in is on: people sign in with **{md(host)}**, and their role in a "
               "workspace decides what they can do there.", icon=":material/lock:")


# -- Members -------------------------------------------------------------------------------

def members_section(service: ConnectionService) -> None:
    """The members and their roles; admins also add, change and remove them."""
    st.subheader("Members")
    st.caption(ROLE_HELP)
    if service.admins:
        # The variable that names them is the server's business: its admins'.
        where = " (`CONNECTIONS_ADMINS`)" if sees_server_details(service) else ""
        st.caption(f"Instance admins, admins of every workspace{where}: "
                   + ", ".join(f"**{md(email)}**" for email in sorted(service.admins)) + ".")
    members = service.members()
    manage = service.can("set_member")
    refused = st.session_state.pop(REFUSED, None)
    if not members:
        st.caption("No members yet: with sign-in on, only instance admins can open this "
                   "workspace until someone is added. Its first member is its admin.")
    for member in members:
        _member_row(service, member, manage)
        if refused and refused[0] == member.email:
            show_error(refused[1])
    if manage:
        _add_member(service, first=not members)


def _member_row(service: ConnectionService, member: Member, manage: bool) -> None:
    email = member.email
    with st.container(horizontal=True, vertical_alignment="center"):
        st.markdown(f"**{md(email)}**", width="content")
        st.caption(f"added by {md(member.added_by)} {relative_time(member.added_at)}",
                   width="stretch")
        if not manage:
            st.markdown(md(member.role.capitalize()), width="content")
            return
        key = f"settings_member_role_{email}"
        if st.session_state.get(CHANGED) != email:
            st.session_state[key] = member.role
        role = st.selectbox("Role", ROLES, key=key, label_visibility="collapsed",
                            format_func=str.capitalize, width=140,
                            on_change=lambda: st.session_state.update({CHANGED: email}))
        remove = st.button("Remove", key=f"settings_member_remove_{email}",
                           icon=":material/person_remove:")
    if st.session_state.get(CHANGED) == email:
        st.session_state[CHANGED] = None
        _change(email, lambda: service.set_member(email, role),
                f"**{md(email)}** is now {role}.")
    if remove:
        _change(email, lambda: service.remove_member(email), f"Removed **{md(email)}**.")


def _change(email: str, action: Callable[[], object], done: str) -> None:
    """Do ``action`` and rerun: with a toast, or with why it was refused under the row."""
    try:
        action()
    except ValidationError as error:
        st.session_state[REFUSED] = (email, " ".join(error.field_errors.values()) or str(error))
    else:
        notify(done, icon=":material/group:")
    st.rerun()


def _add_member(service: ConnectionService, first: bool) -> None:
    """E-mail, role and *Add member*; the core's objection shows under its field.
    The first member is offered as admin: a workspace with members keeps one."""
    email_column, role_column, button_column = st.columns([3, 2, 1], vertical_alignment="bottom")
    email = email_column.text_input("E-mail", key=EMAIL, placeholder="ada@example.com")
    role = role_column.selectbox("Role", ROLES, key="settings_member_role",
                                 index=ROLES.index("admin") if first else 0,
                                 format_func=str.capitalize)
    add = button_column.button("Add member", key="settings_member_add",
                               icon=":material/person_add:", width="stretch")
    email_slot, role_slot, _ = st.columns([3, 2, 1])
    if not add:
        return
    try:
        member = service.set_member(email, role)
    except ValidationError as error:
        for field, slot in (("email", email_slot), ("role", role_slot)):
            if field in error.field_errors:
                show_error(error.field_errors[field], where=slot)
        return
    st.session_state.pop(EMAIL, None)  # an empty field for the next person
    notify(f"**{md(member.email)}** is now {member.role}.", icon=":material/person_add:")
    st.rerun()
