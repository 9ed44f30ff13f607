"""The ConnectionService of the workspace chosen in the sidebar.

One service per workspace per process, shared by every session through
``st.cache_resource`` (the store is safe to share between threads).  The key
comes from the environment, else from ``st.secrets``, else the core's
generated local key applies.
"""

from __future__ import annotations

import os

import streamlit as st

from connections_core import ConnectionService, ValidationError

#: The sidebar widget's key, which is also the URL's query parameter.
WORKSPACE = "workspace"
DEFAULT_WORKSPACE = "default"

_KEY_VARIABLES = ("ENCRYPTION_KEY", "ENCRYPTION_SECRET")
_SECRET_NAMES = ("ENCRYPTION_KEY", "ENCRYPTION_KEY_PREVIOUS")


def current_service() -> ConnectionService:
    """The chosen workspace's service; a bad workspace id stops the page with why.

    :raises EncryptionKeyError: the key is malformed or does not fit the data.
    :raises StoreError: the data file can't be read or written (StoreCorruptError: not valid JSON).
    """
    try:
        return _open(_workspace())[0]
    except ValidationError as error:
        st.error(f"'{_workspace()}' can't be a workspace: "
                 f"{error.field_errors.get('workspace_id', error)}", icon=":material/error:")
        st.stop()


def key_source() -> str:
    """Where the key came from: ``environment``, ``secrets``, ``file`` (generated
    earlier) or ``generated`` (just now)."""
    return _open(_workspace())[1]


def _workspace() -> str:
    if WORKSPACE in st.session_state:
        return str(st.session_state[WORKSPACE])
    # The sidebar's widget did not run (a page run on its own): the URL still says which.
    return st.query_params.get(WORKSPACE, DEFAULT_WORKSPACE)


@st.cache_resource(show_spinner=False, max_entries=64)
def _open(workspace_id: str) -> tuple[ConnectionService, str]:
    environ, from_secrets = _environment()
    service = ConnectionService.from_env(workspace_id, environ)
    return service, "secrets" if from_secrets else service.key_source


def _environment() -> tuple[dict[str, str], bool]:
    """The environment, with the key from ``st.secrets`` when the environment has none."""
    environ = dict(os.environ)
    if any(environ.get(name, "").strip() for name in _KEY_VARIABLES):
        return environ, False
    if not st.secrets.load_if_toml_exists():
        return environ, False
    found = {name: str(st.secrets[name]) for name in _SECRET_NAMES
             if name in st.secrets and not environ.get(name, "").strip()}
    environ.update(found)
    return environ, "ENCRYPTION_KEY" in found
