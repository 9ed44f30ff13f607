"""Errors as short messages, never tracebacks.

:func:`reported_errors` wraps each page (in the entry point) and each dialog or
fragment (they rerun on their own, outside the page).  A key, data file or
database that can't be used gets :func:`show_store_failure`: a full-page
explanation with the fix, and nothing else runs.  Every message from the core is
shown through :func:`show_error`, escaped: it can quote a connection's name, a
URL or what a server said.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from connections_core import ConnectionsError, EncryptionKeyError, StoreError
from ui.format import md

log = logging.getLogger("connections.ui")

KEY_HELP = """
The key is read from, in this order:

1. the `ENCRYPTION_KEY` environment variable;
2. `ENCRYPTION_KEY` in `.streamlit/secrets.toml`;
3. with neither, a key generated for local use in `data/encryption.key`.

Set the key the data was written with, then restart the app. To move to a new
key, set the old one as `ENCRYPTION_KEY_PREVIOUS` and the new one as
`ENCRYPTION_KEY`; the Settings screen says how to finish the rotation.
"""

STORE_HELP = """
The file was not changed. Restore it from a backup, or move it aside to start
with an empty store, then reload this page.
"""

UNTRUSTED_HELP = """
Nothing was read from it and nothing was written. If you made it yourself, run the
command above, then reload this page. If you don't know who did, don't use it:
move it aside, and keep the data folder closed to other users (`chmod 700`).
"""

DATABASE_HELP = """
Nothing was changed. The message above names the database's host and what to
do: check that PostgreSQL runs there and this server can reach it, that
`CONNECTIONS_DATABASE_URL` holds the right user and password, or that every
replica runs the same version of the app. Then reload this page.
"""


@contextmanager
def reported_errors() -> Iterator[None]:
    """Show an error that escapes the block as a short message on the page."""
    try:
        yield
    except (EncryptionKeyError, StoreError) as error:
        show_store_failure(error)
    except ConnectionsError as error:
        show_error(error)
    except Exception as error:  # the one catch-all: the details go to the server's log
        log.exception("Unexpected error while rendering a screen")
        st.error(f"Something unexpected went wrong ({type(error).__name__}). The details "
                 "are in the server's log; reload the page to try again.",
                 icon=":material/error:")


def show_error(message: object, icon: str = ":material/error:", *,
               where: DeltaGenerator | None = None) -> None:
    """An error box (on the page, or in ``where``) with ``message`` as written: an
    exception from the core, or one of a :class:`ValidationError`'s field messages."""
    (st.error if where is None else where.error)(md(message), icon=icon)


def show_store_failure(error: EncryptionKeyError | StoreError) -> NoReturn:
    """Replace the page with what is wrong with the key, the data file or the database,
    and the fix."""
    if error.untrusted:
        st.title("A file in the data folder can't be trusted")
        show_error(error, ":material/gpp_bad:")
        st.markdown(UNTRUSTED_HELP)
    elif isinstance(error, StoreError) and os.environ.get("CONNECTIONS_DATABASE_URL"):
        st.title("The database can't be used")
        show_error(error, ":material/database_off:")
        st.markdown(DATABASE_HELP)
    elif isinstance(error, StoreError):
        st.title("The data file can't be read")
        show_error(error, ":material/database:")
        st.markdown(STORE_HELP)
    else:
        st.title("The encryption key can't be used")
        show_error(error, ":material/key_off:")
        st.markdown(KEY_HELP)
    st.stop()
