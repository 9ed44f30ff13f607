"""The records below the operations: connections as the store keeps them.

:class:`Records` is what the rooms of the service (:mod:`connections_core.connections`,
:mod:`~connections_core.members`, ...) stand on, and their only way to the store.
The rooms decide who may do what and what a valid change is;
the records turn a change into writes on a :class:`~connections_core.storage.Store`,
whichever store it is:

* every write happens in :meth:`Records.transaction`, which first proves that
  the key fits the data (so a wrong key is refused before anything is written)
  and commits the change and its audit entries together;
* secrets are sealed to their record (AES-256-GCM, bound to the workspace, id,
  field and base URL) before they reach the store, and opened only here;
* a record someone damaged by hand is read as damaged, never as a crash;
* the workspace's connections are rebuilt only when the store's revision moved.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from . import crypto
from .errors import (
    DecryptionError,
    EncryptionKeyError,
    NotFoundError,
    StoreCorruptError,
    StoreError,
    ValidationError,
)
from .models import MASK, SCHEDULE_MINUTES, STATUSES, Connection, LastResult, Residue
from .providers import PROVIDERS, Provider, TestResult, get_provider
from .storage import Record, Revision, Store, Transaction, due_at
from .text import shown

__all__ = ["DEFAULT_HISTORY_DAYS", "KEY_CHECK_CONTEXT", "KEY_CHECK_PLAINTEXT", "SOURCES",
           "Records", "listen_for_status_changes", "secret_context"]

KEY_CHECK_PLAINTEXT = "connections key check v1"
#: What a bound key check is bound to: nothing a record's context could equal.
KEY_CHECK_CONTEXT: Mapping[str, str | None] = MappingProxyType({"purpose": "key_check"})

log = logging.getLogger(__name__)

ID_MAX = 100  # longer "ids" are not echoed back in errors
DEFAULT_HISTORY_DAYS = 30
#: Where a check was run from, in its record of the check history.
SOURCES = ("manual", "test_all", "schedule", "cli")

Clock = Callable[[], datetime]


class Records:
    """The connections, key check and audit trail of one workspace, on a store.

    :param store: where records live (shared by every workspace).
    :param keyring: seals new secrets; opens them with the current or a previous key.
    :param workspace_id: the workspace whose records these are (already checked).
    :param clock: returns the current time.
    :param audit_days: audit entries older than this many days may be dropped.
    :param actor_name: returns who is acting, for the audit trail.
    :param history_days: check records older than this many days may be dropped.
    """

    def __init__(self, store: Store, keyring: crypto.KeyRing, workspace_id: str, *,
                 clock: Clock, audit_days: int, actor_name: Callable[[], str],
                 history_days: int = DEFAULT_HISTORY_DAYS) -> None:
        self.store = store
        self.keyring = keyring
        self.workspace_id = workspace_id
        self.audit_days = audit_days
        self.history_days = history_days
        self.actor_name = actor_name
        self._clock = clock
        self._cache: tuple[Revision, builtins.list[Connection]] | None = None

    # -- the store's transactions and the audit trail ------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A store transaction that first proves the key still fits the data."""
        cutoff = self._clock() - timedelta(days=self.audit_days)
        with self.store.transaction(audit_cutoff=cutoff) as tx:
            check = tx.key_check()
            self.check_key(check)
            if check is None:
                self.write_key_check(tx)
            yield tx

    def in_workspace(self, workspace_id: str) -> Records:
        """The records of another workspace, on the same store, key, clock and actor."""
        return Records(self.store, self.keyring, workspace_id, clock=self._clock,
                       audit_days=self.audit_days, actor_name=self.actor_name,
                       history_days=self.history_days)

    def audit(self, tx: Transaction, action: str, target: Mapping[str, Any] | None,
              target_name: str | None = None, **details: Any) -> None:
        """Add an entry to the transaction under way (never a secret: only names)."""
        tx.record({
            "at": self.now(), "workspace_id": self.workspace_id, "actor": self.actor_name(),
            "action": action, "target_id": target.get("id") if target else None,
            "target_name": target.get("name") if target else target_name, "details": details,
        })

    def attempt(self, action: str, target: Mapping[str, Any] | None, **details: Any) -> None:
        """Record ``action`` before doing something the store can't take back (a key sent
        to a server, a model pulled or deleted): what can't be recorded is not done.

        :raises StoreError: the entry could not be written; nothing was done.
        """
        with self.transaction() as tx:
            self.audit(tx, action, target, **details)

    def outcome(self, action: str, target: Mapping[str, Any], *, required: bool = False,
                **details: Any) -> None:
        """Record how something recorded by :meth:`attempt` ended.  When that can't be
        written the start is in the trail already: a failure or a cancel is only logged,
        and a change that happened (``required``) is a StoreError saying it happened."""
        try:
            self.attempt(action, target, **details)
        except StoreError as error:
            if required:
                raise unsaved(error, f"Done on '{shown(target.get('name'))}' "
                                     f"({action})") from None
            log.warning("Could not record %s on connection %s: %s", action,
                        shown(target.get("id")), error)

    # -- reading -------------------------------------------------------------------------------

    def check_store_key(self) -> None:
        """Refuse a key ring that can't decrypt the store's data (read at start)."""
        self.check_key(self.store.key_check())

    def rows(self, *, every_workspace: bool = False) -> builtins.list[Record]:
        """The stored connection rows, as stored (damaged ones too): this workspace's,
        or every workspace's (for the operations that span the store)."""
        return self.store.connections(None if every_workspace else self.workspace_id)[1]

    def members(self, *, every_workspace: bool = False) -> builtins.list[Record]:
        """The stored member rows: this workspace's, or every workspace's."""
        return self.store.members(None if every_workspace else self.workspace_id)

    def audit_entries(self) -> Iterator[Record]:
        """This workspace's audit entries as stored, newest first."""
        return self.store.audit_entries(self.workspace_id)

    def sign_out(self, email: str) -> Record | None:
        """The stored sign-out of ``email`` (any workspace: a sign-out is per person)."""
        return self.store.sign_out(email)

    def file_warnings(self) -> builtins.list[str]:
        """Sentences about the store's files being readable by others."""
        return self.store.file_warnings()

    def now(self) -> str:
        return self._clock().astimezone(UTC).isoformat()

    def workspace(self) -> builtins.list[Connection]:
        """This workspace's connections, newest first, rebuilt only when the store's
        revision moved."""
        cache = self._cache
        if cache is not None and cache[0] is not None and cache[0] == self.store.revision():
            return cache[1]
        revision, rows = self.store.connections(self.workspace_id)
        if cache is None or cache[0] != revision or revision is None:
            # Only this workspace's: what each service builds stays small however
            # many workspaces share the store.
            mine = [row for row in rows if self.is_mine(row)]
            mine.sort(key=lambda r: str(r.get("created_at")), reverse=True)
            cache = self._cache = (revision, [self.to_connection(row) for row in mine])
        return cache[1]

    def active(self, type: str | None = None) -> builtins.list[Connection]:
        return [c for c in self.workspace() if c.deleted_at is None
                and (type is None or c.type == type)]

    def is_mine(self, row: Mapping[str, Any]) -> bool:
        """Whether a stored row is a record of this workspace (one without a
        text id belongs nowhere: nothing could address it)."""
        return row.get("workspace_id") == self.workspace_id and isinstance(row.get("id"), str)

    def record(self, id: str, *, damaged: bool = False) -> Record:
        """The raw stored record of this workspace with that id (a copy).

        :raises StoreCorruptError: the record is damaged (unless ``damaged``).
        """
        row = self.store.connection(self.workspace_id, id)
        if row is None or not self.is_mine(row):
            raise not_found(id)
        if not damaged:
            self.refuse_damaged(row)
        return dict(row)

    def active_records(self) -> builtins.list[Record]:
        """Copies of this workspace's undeleted records, read in one snapshot."""
        _, rows = self.store.connections(self.workspace_id)
        return [dict(row) for row in rows if self.is_mine(row) and not row.get("deleted_at")]

    def doc(self, tx: Transaction, id: str, *, damaged: bool = False) -> Record:
        """The stored record with that id in this workspace.

        :raises StoreCorruptError: it is damaged (unless ``damaged``: deleting a
            damaged record is how a person gets rid of it).
        """
        doc = tx.connection(self.workspace_id, id)
        if doc is None:
            raise not_found(id)
        if not damaged:
            self.refuse_damaged(doc)
        return doc

    def active_doc(self, tx: Transaction, id: str, *, damaged: bool = False) -> Record:
        doc = self.doc(tx, id, damaged=damaged)
        if doc.get("deleted_at"):
            raise not_found(id)
        return doc

    def to_connection(self, record: Mapping[str, Any]) -> Connection:
        damage = damage_of(record)
        config: dict[str, Any] = {}
        hints = _mapping(record.get("hints"))
        secret = secret_fields(record)
        for field, value in _mapping(record.get("config")).items():
            if field in secret:
                # A secret stored in plain text is shown masked too, with no hint.
                config[field] = MASK + (text_or(hints.get(field), "")[-4:]
                                        if crypto.is_encrypted(value) else "")
                config[f"has_{field}"] = True
            else:
                config[field] = value
        status = record.get("status")
        last = last_result(record.get("last_result"))
        if damage is not None:
            status = "error"
            last = LastResult(False, self.damage_message(record, damage), "invalid_response", 0)
        models = record.get("available_models")
        version = record.get("version")
        return Connection(
            id=str(record["id"]), workspace_id=str(record["workspace_id"]),
            type=str(record.get("type")), name=text_or(record.get("name"), "(no name)"),
            config=MappingProxyType(config), is_default=record.get("is_default") is True,
            status=status if status in STATUSES else "error",
            last_checked_at=parse_time(record.get("last_checked_at")), last_result=last,
            available_models=tuple(m for m in models if isinstance(m, str))
            if isinstance(models, list) else (),
            created_at=parse_time(record.get("created_at")) or self._clock(),
            updated_at=parse_time(record.get("updated_at")) or self._clock(),
            deleted_at=parse_time(record.get("deleted_at")),
            version=version if type(version) is int else 0,
            schedule_minutes=schedule_minutes(record), next_check_at=due_at(record),
        )

    # -- damaged records -----------------------------------------------------------------------

    def refuse_damaged(self, record: Mapping[str, Any]) -> None:
        damage = damage_of(record)
        if damage is not None:
            raise StoreCorruptError(self.damage_message(record, damage), self.store.location)

    def damage_message(self, record: Mapping[str, Any], damage: str) -> str:
        return (f"The connection '{shown(record.get('name'))}' ({shown(record.get('id'))}) is "
                f"damaged in {self.store.location}: {damage}. Delete it and add it "
                "again, or restore the data from a backup.")

    # -- changing ------------------------------------------------------------------------------

    def make_default(self, tx: Transaction, doc: Mapping[str, Any], reason: str) -> None:
        """Make ``doc`` its type's default as a consequence of another change (``reason``),
        and record it: a default moves only where the audit trail shows why."""
        tx.update_connection(self.workspace_id, doc["id"], {"is_default": True})
        self.audit(tx, "connection.default_set", doc, reason=reason)

    def promote_oldest(self, tx: Transaction, type: str, reason: str) -> None:
        remaining = tx.connections(self.workspace_id, type=type, active=True)
        if remaining:
            self.make_default(tx, min(remaining, key=lambda d: str(d.get("created_at"))),
                              reason)

    def promote_oldest_if_none(self, tx: Transaction, type: str, reason: str) -> None:
        if tx.default_connection(self.workspace_id, type) is None:
            self.promote_oldest(tx, type, reason)

    def record_results(self, results: builtins.list[tuple[Record, TestResult]], *,
                       source: str, each: str | None = None,
                       summary: Mapping[str, Any] | None = None) -> dict[str, Record]:
        """Store check results on records that were not edited meanwhile.

        ``each`` is the audit action recorded for every result stored;
        ``summary`` the details of one ``connections.tested_all`` entry.  A check
        of a record edited (or deleted) while it ran is not stored, but it did
        reach the server, so it is recorded (``connection.tested``, ``saved: False``).
        Every check of a record still stored appends one record to the check
        history, from ``source`` (one of :data:`SOURCES`), in the same write.
        Once committed, the records whose status moved between connected and error
        are handed to the status listeners (:func:`listen_for_status_changes`).

        :returns: the records as they are stored now, by id (deleted ones are missing).
        """
        now = self.now()
        checked = {record["id"]: (record.get("version"), result) for record, result in results}
        stored: dict[str, Record] = {}
        flipped: builtins.list[Record] = []  # moved between connected and error: see below
        with self.transaction() as tx:
            updates = []
            for doc in tx.connections(self.workspace_id, ids=checked):
                id = doc["id"]
                stored[id] = doc
                version, result = checked[id]
                if doc.get("version") != version:
                    self.audit(tx, "connection.tested", doc, kind=result.kind,
                               latency_ms=result.latency_ms, saved=False)
                    continue
                changes = checked_fields(result, now)
                updates.append((self.workspace_id, id, changes))
                before = doc.get("status")
                doc.update(changes)
                if {before, doc["status"]} == {"connected", "error"}:
                    flipped.append(dict(doc))
                if each is not None:
                    self.audit(tx, each, doc, kind=result.kind, latency_ms=result.latency_ms)
            tx.update_connections(updates)
            self.append_checks(tx, [(stored[id], checked[id][1]) for id in stored], source, now)
            if summary is not None:
                self.audit(tx, "connections.tested_all", None, **summary)
        if flipped:
            for listener in tuple(_status_listeners):
                listener(self, flipped)
        return stored

    # -- the check history -----------------------------------------------------------------------

    def append_checks(self, tx: Transaction, checks: builtins.list[tuple[Record, TestResult]],
                      source: str, now: str | None = None) -> None:
        """Append one check record per ``(record, result)`` to the transaction under way:
        what the check found, never its message."""
        if source not in SOURCES:
            raise ValueError(f"A check's source is one of {', '.join(SOURCES)}, not {source!r}.")
        at = now or self.now()
        tx.append_checks(
            ({"at": at, "workspace_id": self.workspace_id, "connection_id": record["id"],
              "success": result.success, "kind": result.kind,
              "latency_ms": result.latency_ms, "status_code": result.status_code,
              "source": source} for record, result in checks),
            cutoff=self._clock() - timedelta(days=self.history_days))

    # -- secrets -------------------------------------------------------------------------------

    def seal(self, provider: Provider, clean: Mapping[str, str], id: str) -> Record:
        """``config`` with secrets encrypted and bound to record ``id`` (and the base URL
        in ``clean``), and ``hints`` (their last four characters)."""
        config = dict(clean)
        hints = {}
        record = {"workspace_id": self.workspace_id, "id": id, "type": provider.type,
                  "config": clean}
        for field in provider.secret_fields:
            if field in config:
                hints[field] = config[field][-4:]
                config[field] = self.keyring.encrypt(config[field], secret_context(record, field))
        return {"config": config, "hints": hints}

    def open_secret(self, record: Mapping[str, Any], field: str, *,
                    reseal: bool = False) -> str:
        """The secret ``field`` of ``record``, decrypted.

        A bound token decrypts only in the record, field and base URL it was made
        for.  An unbound (``v1``) token says nothing about where it belongs (anyone
        who can write the store could have put it beside their own base URL), so it
        is never opened for use: only to be re-sealed (``reseal``), by an operator
        who was shown where it points (see :meth:`ConnectionService.rotate_keys`).

        :raises DecryptionError: naming the record, when the value is not a token,
            is an unbound token, or does not decrypt.
        """
        token = record["config"].get(field)
        name, id = record.get("name"), record.get("id")
        what = _secret_label(record, field)
        if not crypto.is_encrypted(token):
            raise DecryptionError(
                f"The {what} of '{name}' is not stored as an encrypted token (it is plain "
                f"text, or a damaged token), so it is not used. Enter the {what} again.", id)
        bound = crypto.is_bound(token)
        if not bound and not reseal:
            raise DecryptionError(
                f"The {what} of '{name}' is an old token not bound to its connection and "
                "base URL, so it is not used (nothing shows it was saved for this address). "
                f"Enter the {what} again, or have an operator re-seal it with `rotate-key`, "
                "which shows where it points first.", id)
        try:
            return self.keyring.decrypt(token, secret_context(record, field) if bound else None)
        except DecryptionError:
            raise DecryptionError(
                f"The {what} of '{name}' can't be decrypted with the current key, or was "
                f"not saved for this connection and address (was {crypto.KEY_VARIABLE} "
                f"changed? Set the old one as {crypto.PREVIOUS_KEY_VARIABLE}. Was the data "
                f"file edited? Enter the {what} again).", id) from None

    def decrypted(self, record: Mapping[str, Any]) -> dict[str, str]:
        """``record``'s config with its secrets opened (see :meth:`open_secret`)."""
        secret = secret_fields(record)
        return {field: self.open_secret(record, field) if field in secret else value
                for field, value in record["config"].items()}

    def same_secret(self, doc: Mapping[str, Any], field: str, value: str) -> bool:
        if field not in doc["config"]:
            return False
        try:
            return self.open_secret(doc, field) == value
        except DecryptionError:
            return False

    def residue(self, record: Mapping[str, Any], field: str) -> Residue | None:
        token = record["config"].get(field)
        if not crypto.is_encrypted(token):
            return "no_key"
        bound = crypto.is_bound(token)
        which = self.keyring.decrypting_key(
            token, secret_context(record, field) if bound else None)
        if which is None:
            return "no_key"
        if not bound:
            return "unbound"
        return "previous_key" if which > 0 else None

    # -- the key check -------------------------------------------------------------------------

    def check_key(self, key_check: Record | None) -> None:
        """Refuse a key ring that can't decrypt this store's data, before any write."""
        check = None if key_check is None else key_check.get("key_check")
        if key_check is not None:
            if not isinstance(check, str) or not crypto.is_encrypted(check):
                raise EncryptionKeyError(
                    f"The key check in {self.store.location} is damaged (it is not an encrypted "
                    "token), so the key can't be verified. Restore the file from a backup.")
            context = KEY_CHECK_CONTEXT if crypto.is_bound(check) else None
            token, expected = check, KEY_CHECK_PLAINTEXT
        else:
            first = next(secret_tokens(self.store), None)
            if first is None:
                return
            record, field, token = first
            context = secret_context(record, field) if crypto.is_bound(token) else None
            expected = None
        try:
            plaintext = self.keyring.decrypt(token, context)
            fits = expected is None or plaintext == expected
        except DecryptionError:
            fits = False
        if not fits:
            raise EncryptionKeyError(
                f"{crypto.KEY_VARIABLE} does not match the key this data was written with "
                f"({self.store.location}). Set the key it was written with; to change keys, set "
                f"the old one as {crypto.PREVIOUS_KEY_VARIABLE}, the new one as "
                f"{crypto.KEY_VARIABLE}, and rotate.")

    def write_key_check(self, tx: Transaction) -> None:
        """Write the key check: a token bound to nothing a record could be, which
        proves at every start and before every write that the key fits the data."""
        tx.set_key_check({"key_check": self.keyring.encrypt(KEY_CHECK_PLAINTEXT,
                                                            KEY_CHECK_CONTEXT),
                          "bound": True})


# -- what a change of status sets off -----------------------------------------------------------

#: Told, after each commit of check results, of the connections whose status the checks moved
#: between connected and error: ``listener(records, changed)``, ``changed`` the records as
#: committed.  Called on the committing thread, so a listener only hands the work on.
StatusListener = Callable[[Records, builtins.list[Record]], None]
_status_listeners: builtins.list[StatusListener] = []


def listen_for_status_changes(listener: StatusListener) -> None:
    """Have ``listener`` told of every status change committed in this process (once,
    however often it is added): :mod:`connections_core.alerts` listens when imported."""
    if listener not in _status_listeners:
        _status_listeners.append(listener)


def secret_context(record: Mapping[str, Any], field: str) -> dict[str, str | None]:
    """What the secret ``field`` of ``record`` is bound to: its workspace, record id,
    field name and where its provider sends it (the values of the provider's
    destination fields as stored, normalised: the base URL for most, Azure's endpoint,
    Bedrock's region and endpoint)."""
    config = record.get("config")
    return {"workspace": _str_or_none(record.get("workspace_id")),
            "id": _str_or_none(record.get("id")), "field": field,
            **destination_of(record.get("type"), config if isinstance(config, Mapping) else {})}


def _secret_label(record: Mapping[str, Any], field: str) -> str:
    """How a person calls the secret ``field`` of ``record``: "API key", "secret access key"."""
    type = record.get("type")
    provider = PROVIDERS.get(type) if isinstance(type, str) else None
    spec = provider.field(field) if provider is not None else None
    if spec is None or spec.label == "API key":
        return "API key"
    return spec.label[0].lower() + spec.label[1:]


def destination_of(type: Any, config: Mapping[str, Any]) -> dict[str, str | None]:
    """Where a key of a ``type`` connection with ``config`` goes (see
    :attr:`Provider.destination`); a record of an unknown type is read as having a
    base URL, as every record did before providers had other destinations."""
    provider = PROVIDERS.get(type) if isinstance(type, str) else None
    if provider is None:
        base_url = config.get("baseUrl")
        return {"baseUrl": base_url if isinstance(base_url, str) else None}
    return provider.destination_of(config)


def destination_text(record: Mapping[str, Any]) -> str | None:
    """Where ``record``'s keys go, as a person reads it: its base URL, endpoint or
    region (several joined by ", "); None when nothing is set."""
    config = record.get("config")
    values = destination_of(record.get("type"), config if isinstance(config, Mapping) else {})
    shown = [value for value in values.values() if value]
    return ", ".join(shown) if shown else None



def secret_fields(record: Mapping[str, Any]) -> builtins.list[str]:
    """The fields of ``record`` that hold secrets: those its provider declares
    secret, and any holding a token."""
    config = record.get("config")
    if not isinstance(config, Mapping):
        return []
    try:
        declared = set(get_provider(record.get("type", "")).secret_fields)
    except ValidationError:
        declared = set()
    return [field for field, value in config.items()
            if field in declared or crypto.is_encrypted(value)]



def secret_tokens(store: Store) -> Iterator[tuple[Record, str, str]]:
    """``(record, field, token)`` for every token stored in a record."""
    for row in store.connections()[1]:
        config = row.get("config")
        for field, value in (config.items() if isinstance(config, dict) else ()):
            if crypto.is_encrypted(value):
                yield row, field, value



def holds_secrets(store: Store) -> bool:
    return store.key_check() is not None or next(secret_tokens(store), None) is not None



def checked_fields(result: TestResult, now: str) -> Record:
    """The fields a check's result sets on a record: its status, when, what was found,
    and, when it succeeded, the models the server offered (already bounded)."""
    fields: Record = {
        "status": "connected" if result.success else "error", "last_checked_at": now,
        "last_result": {"success": result.success, "message": result.message,
                        "kind": result.kind, "latency_ms": result.latency_ms,
                        "status_code": result.status_code}}
    if result.success:
        fields["available_models"] = list(result.models)
    return fields



def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)



def damage_of(record: Mapping[str, Any]) -> str | None:
    """What makes a stored connection record unusable (someone edited the file by
    hand, or an old bug wrote it), or None when it is sound."""
    kind = record.get("type")
    if not (isinstance(kind, str) and kind in PROVIDERS):
        return "its provider type is unknown"
    if not isinstance(record.get("name"), str):
        return "its name is not text"
    if type(record.get("version")) is not int:
        return "its version is not a whole number"
    config = record.get("config")
    if not isinstance(config, dict):
        return "its config is not a mapping of fields"
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in config.items()):
        return "its config holds a value that is not text"
    return None



def schedule_minutes(record: Mapping[str, Any]) -> int:
    """How often a stored connection is checked in the background, in minutes (0 for
    a record without a schedule, or with one that can't be read)."""
    minutes = record.get("schedule_minutes")
    return minutes if type(minutes) is int and minutes in SCHEDULE_MINUTES else 0



def version_of(doc: Mapping[str, Any]) -> int:
    version = doc.get("version")
    return version if type(version) is int else 0



def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}



def text_or(value: Any, otherwise: str) -> str:
    return value if isinstance(value, str) else otherwise



def last_result(value: Any) -> LastResult | None:
    if not isinstance(value, dict):
        return None
    try:
        result = LastResult(**value)
    except TypeError:
        return None
    sound = (isinstance(result.success, bool) and isinstance(result.message, str)
             and isinstance(result.kind, str) and type(result.latency_ms) is int
             and (result.status_code is None or type(result.status_code) is int))
    return result if sound else None



def unsaved(error: StoreError, done: str) -> StoreError:
    """A StoreError for a change that reached a server but whose outcome could not be
    written: it says what happened, since "nothing was changed" is no longer true."""
    return StoreError(f"{done}, and its start is in the audit trail, but the outcome "
                      f"could not be saved: {error}", error.path)


def not_found(id: object) -> NotFoundError:
    # A long or odd id is cut short, not echoed back whole.
    return NotFoundError(f"No connection with id '{shown(id)}' in this workspace.",
                         id if isinstance(id, str) and len(id) <= ID_MAX else None)



def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
