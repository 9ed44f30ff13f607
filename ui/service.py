"""The ConnectionService of the workspace chosen in the sidebar, for the person signed in.

One service per workspace and person per process, shared by that person's
sessions through ``st.cache_resource`` (the store is safe to share between
threads).  The person is the signed-in e-mail, or None (trusted) when sign-in
is off: see :mod:`ui.auth`.  The key and ``CONNECTIONS_ADMINS`` come from the
environment, else from ``st.secrets``, else the core's generated local key applies.

Only :func:`current_service` checks that the person may open the workspace; the
sidebar needs the chosen one (:func:`chosen_service`) to offer the others.

A session may show the demo instead (:mod:`ui.demo`): then both give the demo's
service (``open_demo``), over a store of its own, and the real workspace the
session had is kept to go back to.  The demo is never cached here: ``open_demo``
is cheap once open, and keeping it apart from the real services keyed by
workspace id means a real workspace called ``demo`` is never mixed with it.
"""

from __future__ import annotations

import os
from typing import NoReturn

import streamlit as st

from connections_core import (
    ConnectionsError,
    ConnectionService,
    PermissionDeniedError,
    ValidationError,
    demo_requested,
    open_demo,
)
from ui.auth import no_access_page, refuse_an_ended_session, signed_in_email
from ui.errors import show_error
from ui.format import md
from ui.notices import notify

#: The sidebar widget's key, which is also the URL's query parameter.
WORKSPACE = "workspace"
DEFAULT_WORKSPACE = "default"
#: Whether this session shows the demo instead of its real workspace.
DEMO = "demo_shown"
#: The real workspace the session had when it opened the demo: where leaving goes.
BEFORE_DEMO = "demo_left_workspace"

_KEY_VARIABLES = ("ENCRYPTION_KEY", "ENCRYPTION_SECRET")
_KEY_SECRETS = ("ENCRYPTION_KEY", "ENCRYPTION_KEY_PREVIOUS")
_OTHER_SECRETS = ("CONNECTIONS_ADMINS",)


def current_service() -> ConnectionService:
    """The chosen workspace's service; the page stops with why when it can't be opened.

    A bad workspace id, or one the person is not a member of (a link from someone
    else), is explained, the workspaces they may open are offered, and nothing is
    written.

    :raises EncryptionKeyError: the key is malformed or does not fit the data.
    :raises StoreError: the data file or the database can't be read or written
        (StoreCorruptError: not valid JSON).
    """
    service = chosen_service()
    if not service.can("list"):
        _refuse(service)
    return service


def require_a_current_session() -> None:
    """Someone signed in whose identity was issued before they last signed out (or
    were removed) gets the sign-in page instead of the app: see :mod:`ui.auth`."""
    if signed_in_email() is not None:
        refuse_an_ended_session(_service(DEFAULT_WORKSPACE))


def require_a_workspace() -> None:
    """Someone signed in who may open no workspace at all gets, instead of the app,
    the page that says whom to ask."""
    if signed_in_email() is None:
        return
    default = _service(DEFAULT_WORKSPACE)
    if not workspaces_open_to_me():
        no_access_page(default)


def chosen_service() -> ConnectionService:
    """The service of the workspace in the sidebar (or the URL), whether or not the
    person may open it, or the demo's while the session shows it; a bad workspace id
    stops the page with why."""
    if showing_demo():
        return _demo()
    return _service(_workspace())


def showing_demo() -> bool:
    """Whether this session shows the demo: at first, whether ``CONNECTIONS_DEMO`` asks
    for it (:func:`require_a_demo_to_show` then checks that the person may open it)."""
    return bool(st.session_state.setdefault(DEMO, demo_requested()))


def show_demo(shown: bool) -> None:
    """Callback: open the demo, keeping which real workspace was open, or leave it for
    that workspace (the picker, and so the URL, follow)."""
    if shown == showing_demo():
        return
    if shown:
        st.session_state[BEFORE_DEMO] = _workspace()
    elif BEFORE_DEMO in st.session_state:
        choose_workspace(st.session_state.pop(BEFORE_DEMO))
    st.session_state[DEMO] = shown


def real_workspace() -> str:
    """The real workspace open, or, while the demo is shown, the one leaving it opens."""
    return str(st.session_state.get(BEFORE_DEMO) or _workspace())


def require_a_demo_to_show() -> None:
    """Call it once, at the top of the run: a session that shows the demo opens it now
    (its first opening in the process starts the stand-ins and checks its connections).
    Someone who may not open it (with sign-in on, anyone but an instance admin), or a
    demo that can't start, gets the real workspace instead and a toast saying why."""
    if not showing_demo():
        return
    try:
        _demo()
    except PermissionDeniedError:  # the core's message names the server's settings
        show_demo(False)
        notify("The demo is for instance admins while sign-in is on: here is your own "
               "workspace.", icon=":material/lock:")
    except ConnectionsError as error:
        show_demo(False)
        notify(f"The demo did not open: {md(str(error))}", icon=":material/science:")


def service_for(workspace_id: str) -> ConnectionService:
    """Another workspace's service, for the same person.

    :raises ValidationError: ``workspace_id`` can't be a workspace id.
    """
    return _open(workspace_id, signed_in_email())[0]


def workspaces_open_to_me() -> list[str]:
    """The workspaces the person may open, ``default`` first when they may open it."""
    default = _service(DEFAULT_WORKSPACE)
    found = set(default.accessible_workspaces())
    if default.can("list"):
        found.add(DEFAULT_WORKSPACE)
    return sorted(found, key=lambda workspace: (workspace != DEFAULT_WORKSPACE, workspace))


def choose_workspace(workspace: str) -> None:
    """Callback: open ``workspace`` (the picker, and so the URL, follow)."""
    st.session_state[WORKSPACE] = workspace


def key_source() -> str:
    """Where the key came from: ``environment``, ``secrets``, ``file`` (generated
    earlier), ``generated`` (just now), or ``demo`` (made for the demo, in memory)."""
    if showing_demo():
        return "demo"
    return _open(_workspace(), signed_in_email())[1]


def _workspace() -> str:
    if WORKSPACE in st.session_state:
        return str(st.session_state[WORKSPACE])
    # The sidebar's widget has not run yet: the URL says which, else the first one the
    # person may open (the picker's first choice, so the two agree).
    if WORKSPACE in st.query_params:
        return st.query_params[WORKSPACE]
    return next(iter(workspaces_open_to_me()), DEFAULT_WORKSPACE)


def _demo() -> ConnectionService:
    """The demo's service, for the person (an instance admin, with sign-in on).

    :raises PermissionDeniedError: they are not an instance admin.
    :raises ConnectionsError: the stand-ins can't start.
    """
    return open_demo(actor=signed_in_email(), admins=_service(DEFAULT_WORKSPACE).admins)


def _service(workspace_id: str) -> ConnectionService:
    try:
        return _open(workspace_id, signed_in_email())[0]
    except ValidationError as error:
        if "workspace_id" in error.field_errors:
            show_error(f"'{workspace_id}' can't be a workspace: "
                       f"{error.field_errors['workspace_id']}")
            st.stop()
        raise  # a bad CONNECTIONS_ADMINS or e-mail address: reported as an error


def _refuse(service: ConnectionService) -> NoReturn:
    """The person may not open this workspace: say so, and offer the ones they may."""
    st.error(f"You don't have access to the workspace **{md(service.workspace_id)}**. Ask "
             "one of its admins to add you, or open one of yours.", icon=":material/lock:")
    with st.container(horizontal=True):
        for workspace in workspaces_open_to_me():
            st.button(md(workspace), key=f"workspace_open_{workspace}",
                      icon=":material/folder_open:", on_click=choose_workspace, args=(workspace,))
    st.stop()


@st.cache_resource(show_spinner=False, max_entries=256)
def _open(workspace_id: str, actor: str | None) -> tuple[ConnectionService, str]:
    environ, from_secrets = screens_environment()
    service = ConnectionService.from_env(workspace_id, environ, actor=actor)
    return service, "secrets" if from_secrets else service.key_source


def screens_environment() -> tuple[dict[str, str], bool]:
    """The environment, with what it lacks taken from ``st.secrets``: the key (only
    when the environment names no key at all) and ``CONNECTIONS_ADMINS``; and whether
    the key came from there.  The server's own work (:mod:`server`) reads the store
    the screens read through it."""
    environ = dict(os.environ)
    if not st.secrets.load_if_toml_exists():
        return environ, False
    names = list(_OTHER_SECRETS)
    if not any(environ.get(name, "").strip() for name in _KEY_VARIABLES):
        names += _KEY_SECRETS
    found = {name: _text(st.secrets[name]) for name in names
             if name in st.secrets and not environ.get(name, "").strip()}
    environ.update(found)
    return environ, "ENCRYPTION_KEY" in found


def _text(value: object) -> str:
    """A secret as the environment would hold it; a TOML list becomes comma-separated."""
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
