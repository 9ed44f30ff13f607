"""The Connections screen's dialogs: add, edit, delete (through :mod:`ui.confirm`), and a
connection's history (what it shows is :mod:`ui.connection_history`'s).

A dialog is open while ``st.session_state["conn_dialog"]`` names it.  Buttons
set the flag in a callback (:func:`open_dialog`); Save, Delete and Cancel clear
it and rerun the app, and so does dismissing the dialog.  Opening from a flag,
rather than from ``if st.button(...): dialog()``, keeps a dialog open through
the reruns its own widgets cause.

The Add dialog offers every provider of the registry in one list, by group (hosted
APIs, cloud platforms, local or self-hosted: :mod:`ui.providers`), and shows the
chosen one's mark, what it is, and a link to where its key is made.  The form is
built from the provider's fields (:mod:`ui.connection_form`, which also says when
an edit needs the stored secrets typed again).  Errors show under the field they
are about, and the fields keep what was typed.

Test runs off the script thread, as a card's does (:mod:`ui.checks`): the
dialog says "Testing…" while a fragment polls, so Cancel, the close button and
Save act at once whatever the server does.  A Test still running when the
dialog closes is forgotten; Save then stores the connection as not checked.
Test remembers its check with a fingerprint of exactly what was tested (a keyed
hash, with a key made for the session, so the API key typed is not kept beyond
the widget that holds it).  The result shows while the form still holds that
config, and Save passes it, passed or failed, to the core, which stores it as
the connection's status; once a field changes, it no longer applies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import streamlit as st

from connections_core import (
    PROVIDERS,
    ConflictError,
    Connection,
    ConnectionsError,
    ConnectionService,
    NotFoundError,
    Provider,
    TestResult,
    ValidationError,
)
from ui.checks import REFRESH_SECONDS, UNEXPECTED
from ui.confirm import confirm_dialog
from ui.connection_form import (
    Slots,
    ask_for_the_key_again,
    config_form,
    form_key,
    key_again,
    key_header,
)
from ui.connection_history import connection_history
from ui.errors import reported_errors, show_error
from ui.format import md
from ui.notices import notify
from ui.provider_icons import provider_icon
from ui.providers import in_group_order, key_link, offered_as
from ui.widgets import show_result

DIALOG = "conn_dialog"  # "add", "edit", "delete", "history" or None
TARGET = "conn_target"  # the id of the connection being edited, deleted or looked at
TARGET_VERSION = "conn_target_version"  # its version when the edit began
CONFLICT = "conn_conflict"  # why the last Save was refused as a conflict
UNDO = "conn_undo"  # the id of the connection deleted last, for Undo
TESTED = "conn_form_tested"  # the dialog's last Test (a DraftTest), or None
TESTED_SALT = "conn_form_tested_salt"  # the session's key for those fingerprints

#: dialog -> the service operation its main button performs
OPERATIONS = {"add": "create", "edit": "update", "delete": "delete", "history": "history"}

log = logging.getLogger("connections.ui")


@dataclass
class DraftTest:
    """The dialog's Test: a fingerprint of the config it checks, and its result to come."""

    fingerprint: str
    check: Future[TestResult]

    def of(self, fingerprint: str) -> bool:
        """Whether it checks the config with this fingerprint."""
        return hmac.compare_digest(self.fingerprint, fingerprint)


def open_dialog(kind: str, connection: Connection | None = None) -> None:
    """Button callback: open the ``add``, ``edit`` or ``delete`` dialog.

    Undo is offered for the last thing done, so moving on withdraws it.
    """
    st.session_state[UNDO] = None
    st.session_state[DIALOG] = kind
    st.session_state[TARGET] = connection.id if connection else None
    st.session_state[TARGET_VERSION] = connection.version if connection else None
    st.session_state[CONFLICT] = None
    _forget_test()


def close_dialog() -> None:
    """Close the open dialog (also its close button's callback); its Test, if one runs,
    is forgotten: its result is applied to nothing."""
    st.session_state[DIALOG] = None
    _forget_test()


def show_open_dialog(service: ConnectionService) -> None:
    """Show the dialog the flag names, if any (call it once, at the end of the screen).

    A dialog opened before the person's role was lowered is closed: its main
    button would only be refused.
    """
    kind = st.session_state.get(DIALOG)
    if kind in OPERATIONS and not service.can(OPERATIONS[kind]):
        close_dialog()
        return
    if kind == "add":
        add_dialog(service)
    elif kind == "edit":
        edit_dialog(service, st.session_state[TARGET])
    elif kind == "delete":
        delete_dialog(service, st.session_state[TARGET])
    elif kind == "history":
        history_dialog(service, st.session_state[TARGET])


@st.dialog("Add connection", width="medium", on_dismiss=close_dialog)
def add_dialog(service: ConnectionService) -> None:
    with reported_errors():
        type = st.selectbox("Provider", in_group_order(), key="conn_form_type",
                            format_func=offered_as,
                            help="Hosted APIs, cloud platforms, or a server of your own: "
                                 "type to search.")
        provider = PROVIDERS[type]
        with st.container(horizontal=True, vertical_alignment="center"):
            provider_icon(provider, size=24)
            st.caption(f"{md(provider.description)} [{key_link(type)}]({provider.key_url})")
        name, config, slots = config_form(provider)
        tested = _fingerprint(type, config)
        test, save = _buttons()
        if test:
            _start_test(lambda: service.start_test_draft(type, config), tested, slots)
        _show_test(tested, slots)
        if save:
            try:
                created = service.create(type, name, config, checked=_result_of(tested))
            except ValidationError as error:
                _show_field_errors(error, slots)
                return
            notify(f"Added **{md(created.name)}**.")
            _close()


def edit_dialog(service: ConnectionService, id: str) -> None:
    """The edit dialog, titled with the provider of the connection it edits."""
    try:
        title = f"Edit {PROVIDERS[service.get(id).type].display_name} connection"
    except ConnectionsError:
        title = "Edit connection"  # and the dialog says what went wrong
    st.dialog(title, width="medium", on_dismiss=close_dialog)(_edit)(service, id)


def _edit(service: ConnectionService, id: str) -> None:
    with reported_errors():
        connection = service.get(id)
        provider = PROVIDERS[connection.type]
        if st.session_state.get(CONFLICT):
            _conflict(connection, provider)
        # Asked before the form is drawn: a secret's input may come before the address's.
        again = key_again(service, provider, connection)
        if header := key_header(again):
            st.caption(header)
        name, config, slots = config_form(provider, connection, again)
        ask_for_the_key_again(again, config, slots)
        version = st.session_state[TARGET_VERSION]
        tested = _fingerprint(connection.type, config, f"{id}@{version}")
        test, save = _buttons()
        if test:
            _start_test(lambda: service.start_test_draft(connection.type, config,
                                                         existing_id=id), tested, slots)
        _show_test(tested, slots)
        if save:
            try:
                updated = service.update(id, version, name=name, config=config,
                                         checked=_result_of(tested))
            except ValidationError as error:
                _show_field_errors(error, slots)
                return
            except ConflictError as error:
                st.session_state[CONFLICT] = str(error)
                st.rerun()
            notify(f"Saved **{md(updated.name)}**.")
            _close()


def delete_dialog(service: ConnectionService, id: str) -> None:
    """Asks before the connection goes to *Recently deleted*; Undo is offered after."""
    try:
        connection = service.get(id)
    except NotFoundError as error:  # deleted meanwhile: nothing to ask about
        close_dialog()
        show_error(error)
        return

    def delete() -> None:
        service.delete(id)
        st.session_state[UNDO] = id
        notify(f"Deleted **{md(connection.name)}**.", icon=":material/delete:")

    confirm_dialog("Delete connection",
                   f"Delete **{md(connection.name)}**? It moves to *Recently deleted*, where "
                   "you can restore it.", "Delete", delete, key="conn_delete",
                   on_close=close_dialog)


@st.dialog("Connection history", width="large", on_dismiss=close_dialog)
def history_dialog(service: ConnectionService, id: str) -> None:
    """How the connection's checks went, and its schedule (:mod:`ui.connection_history`)."""
    with reported_errors():
        connection_history(service, id, close=_close)


# -- the buttons -------------------------------------------------------------------------

def _buttons() -> tuple[bool, bool]:
    """Test and Save (returned), and Cancel (handled here)."""
    with st.container(horizontal=True):
        test = st.button("Test", key="conn_form_test", icon=":material/network_check:")
        save = st.button("Save", key="conn_form_save", type="primary", icon=":material/save:")
        cancel = st.button("Cancel", key="conn_form_cancel")
    if cancel:
        _close()
    return test, save


# -- the dialog's Test -------------------------------------------------------------------

def _start_test(start: Callable[[], Future[TestResult]], fingerprint: str,
                slots: Slots) -> None:
    """Start checking the config with this fingerprint, unless its Test runs (a Test of
    other values is forgotten); an invalid config is refused at once, under its fields."""
    test: DraftTest | None = st.session_state.get(TESTED)
    if test is not None and test.of(fingerprint) and not test.check.done():
        return
    _forget_test()
    try:
        check = start()
    except ValidationError as error:
        _show_field_errors(error, slots)
        return
    check.add_done_callback(_log_unexpected)
    st.session_state[TESTED] = DraftTest(fingerprint, check)


def _show_test(fingerprint: str, slots: Slots) -> None:
    """The last Test's result, or that it runs, while the form holds the config it checks."""
    test: DraftTest | None = st.session_state.get(TESTED)
    if test is None or not test.of(fingerprint):
        return
    if not test.check.done():
        st.fragment(_follow, run_every=REFRESH_SECONDS)(test.check)
        return
    error = test.check.exception()
    if error is None:
        show_result(test.check.result())
    elif isinstance(error, ValidationError):
        _show_field_errors(error, slots)
    else:
        show_error(error if isinstance(error, ConnectionsError) else UNEXPECTED,
                   where=slots[""])


def _follow(check: Future[TestResult]) -> None:
    """Polled while the Test runs: the app runs again (and shows the result) when it ends."""
    if check.done():
        st.rerun()
    st.caption(":material/progress_activity: Testing…")


def _result_of(fingerprint: str) -> TestResult | None:
    """The last Test's result, passed or failed, if it has arrived and was of exactly
    this config: what Save stores as the connection's status."""
    test: DraftTest | None = st.session_state.get(TESTED)
    if test is None or not test.of(fingerprint) or not test.check.done():
        return None
    return None if test.check.exception() is not None else test.check.result()


def _forget_test() -> None:
    """Drop the dialog's Test: nothing will show or save its result.  One still waiting
    for a free slot of the pool is not sent at all."""
    test: DraftTest | None = st.session_state.get(TESTED)
    if test is not None:
        test.check.cancel()
    st.session_state[TESTED] = None


def _log_unexpected(check: Future[TestResult]) -> None:
    """Done callback: an error that is not the core's goes to the log, once."""
    error = None if check.cancelled() else check.exception()
    if error is not None and not isinstance(error, ConnectionsError):
        log.error("A dialog's Test failed unexpectedly", exc_info=error)


def _fingerprint(type: str, config: dict[str, str], existing: str = "") -> str:
    """A keyed hash of what a Test checks: the provider, the config as typed, and (when
    editing) the connection and version whose stored key an empty key stands for."""
    salt = st.session_state.setdefault(TESTED_SALT, secrets.token_bytes(32))
    tested = json.dumps([type, existing, sorted(config.items())])
    return hmac.new(salt, tested.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def _show_field_errors(error: ValidationError, slots: Slots) -> None:
    others = [message for field, message in error.field_errors.items() if field not in slots]
    for field, message in error.field_errors.items():
        if field in slots:
            show_error(message, where=slots[field])
    if others:
        show_error(" ".join(others), where=slots[""])


def _conflict(connection: Connection, provider: Provider) -> None:
    """Someone saved this connection meanwhile: offer to start again from their version."""
    show_error(st.session_state[CONFLICT], ":material/sync_problem:")
    if st.button("Reload", key="conn_form_reload", icon=":material/refresh:"):
        for key in ["conn_form_name", *(form_key(provider, f) for f in provider.fields)]:
            st.session_state.pop(key, None)
        st.session_state[TARGET_VERSION] = connection.version
        st.session_state[CONFLICT] = None
        st.rerun()


def _close() -> None:
    close_dialog()
    st.rerun()
