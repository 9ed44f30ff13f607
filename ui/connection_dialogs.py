"""The Connections screen's dialogs: add, edit, delete (through :mod:`ui.confirm`), and a
connection's history (what it shows is :mod:`ui.connection_history`'s).

A dialog is open while ``st.session_state["conn_dialog"]`` names it.  Buttons
set the flag in a callback (:func:`open_dialog`); Save, Delete and Cancel clear
it and rerun the app, and so does dismissing the dialog.  Opening from a flag,
rather than from ``if st.button(...): dialog()``, keeps a dialog open through
the reruns its own widgets cause.

The config fields are rendered from the provider registry.  A secret goes in a
password input that starts empty: in the edit dialog, empty keeps the stored
key.  Errors show under the field they are about, and the fields keep what was
typed.

Test runs off the script thread, as a card's does (:mod:`ui.checks`): the
dialog says "Testing…" while a fragment polls, so Cancel, the close button and
Save act at once whatever the server does.  A Test still running when the
dialog closes is forgotten; Save then stores the connection as not checked.
Test remembers its check with a fingerprint of exactly what was tested (a keyed
hash, with a key made for the session, so the API key typed is not kept beyond
the widget that holds it).  The result shows while the form still holds that
config, and Save passes it, passed or failed, to the core, which stores it as
the connection's status; once a field changes, it no longer applies.

When a new base URL means the stored key can't be kept, every text about the
key says it must be typed again: the header, the key's placeholder and help, and
the warning under it.
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
from streamlit.delta_generator import DeltaGenerator

from connections_core import (
    PROVIDERS,
    ConfigField,
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
from ui.connection_history import connection_history
from ui.errors import reported_errors, show_error
from ui.format import md
from ui.notices import notify
from ui.provider_icons import provider_icon
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
#: why a new base URL needs the key again, in the key's help
KEY_KEPT_FOR_ITS_ADDRESS = ("A stored key is only sent to the address it was saved for, so a "
                            "new base URL needs the key typed again.")

#: field name -> the slot under that field where its error shows ("" for the rest)
Slots = dict[str, DeltaGenerator]

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
        type = st.selectbox("Provider", list(PROVIDERS), key="conn_form_type",
                            format_func=lambda t: PROVIDERS[t].display_name)
        provider = PROVIDERS[type]
        where = "Get an API key" if provider.secret_fields else f"Get {provider.display_name}"
        with st.container(horizontal=True, vertical_alignment="center"):
            provider_icon(provider, size=24)
            st.caption(f"{md(provider.description)} [{where}]({provider.key_url})")
        name, config, slots = _form(provider)
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
        # Asked before the form is drawn: the key's input comes before the base URL's.
        key_again = bool(provider.secret_fields) and service.needs_key_again(
            id, _typed_settings(provider, connection))
        if provider.secret_fields:
            st.caption(_key_header(provider, key_again))
        name, config, slots = _form(provider, connection, key_again=key_again)
        if key_again:
            _ask_for_the_key_again(provider, config, slots)
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


# -- the form ----------------------------------------------------------------------------

def _form(provider: Provider, existing: Connection | None = None, *,
          key_again: bool = False) -> tuple[str, dict[str, str], Slots]:
    """The name and config inputs, each with a slot for its error under it."""
    name = st.text_input("Name", value=existing.name if existing else "", key="conn_form_name",
                         placeholder=f"e.g. {provider.display_name} (work)")
    slots: Slots = {"name": st.empty()}
    config: dict[str, str] = {}
    for field in provider.fields:
        config[field.name] = _input(provider, field, existing, key_again=key_again)
        slots[field.name] = st.empty()
    slots[""] = st.empty()
    return name, config, slots


def _input(provider: Provider, field: ConfigField, existing: Connection | None, *,
           key_again: bool) -> str:
    key = _key(provider, field)
    help = field.help or None
    if field.secret:
        stored = existing.config.get(field.name) if existing else None
        placeholder = f"Leave empty to keep {stored}" if stored else field.placeholder
        if stored and key_again:
            placeholder = f"Enter the {field.label} again for the new base URL"
            help = " ".join(filter(None, (KEY_KEPT_FOR_ITS_ADDRESS, field.help)))
        return st.text_input(field.label, key=key, type="password", placeholder=placeholder,
                             help=help)
    value = _initial(field, existing)
    return st.text_input(field.label, value=value, key=key, placeholder=field.placeholder,
                         help=help)


def _key(provider: Provider, field: ConfigField) -> str:
    return f"conn_form_{provider.type}_{field.name}"


def _initial(field: ConfigField, existing: Connection | None) -> str:
    """What a field that holds no secret shows when the form opens."""
    return str(existing.config.get(field.name, "") if existing else field.default or "")


def _typed_settings(provider: Provider, existing: Connection) -> dict[str, str]:
    """The fields other than secrets as the form holds them, before it is drawn."""
    return {field.name: st.session_state.get(_key(provider, field), _initial(field, existing))
            for field in provider.fields if not field.secret}


def _key_header(provider: Provider, key_again: bool) -> str:
    if not key_again:
        return "Leave the key empty to keep the stored one."
    labels = " and ".join(f.label for f in provider.fields if f.secret)
    return f"The base URL changed, so the stored key can't be kept: enter the {labels} again."


def _ask_for_the_key_again(provider: Provider, config: dict[str, str], slots: Slots) -> None:
    """Under each key left empty, why it is needed now.  Save's refusal, if it comes,
    takes the same place, so the reason shows once."""
    for field in provider.secret_fields:
        if not config.get(field):
            slots[field].warning("The base URL changed, so enter the API key again: a stored "
                                 "key is only sent to the address it was saved for.",
                                 icon=":material/key:")


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
        for key in ["conn_form_name", *(_key(provider, f) for f in provider.fields)]:
            st.session_state.pop(key, None)
        st.session_state[TARGET_VERSION] = connection.version
        st.session_state[CONFLICT] = None
        st.rerun()


def _close() -> None:
    close_dialog()
    st.rerun()
