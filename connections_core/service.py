"""ConnectionService: the operations users perform on their connections.

A service is bound to one workspace; an id from another workspace behaves
exactly like an id that does not exist.  Secrets are encrypted before they
reach the store and only :meth:`ConnectionService.resolve_config` returns
them in the clear.
"""

from __future__ import annotations

import builtins
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

from . import access, checks, crypto, http, ollama, sessions
from .errors import (
    ConflictError,
    ConnectionsError,
    DecryptionError,
    EncryptionKeyError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    StoreError,
    ValidationError,
)
from .models import (
    MASK,
    STATUSES,
    AuditEntry,
    Connection,
    Member,
    ResidualSecret,
    Role,
    Status,
)
from .permissions import permission_warnings
from .providers import (
    Provider,
    TestResult,
    bounded_models,
    get_provider,
    test_connection,
    validate_config,
)
from .records import (
    ID_MAX,
    Records,
    checked_fields,
    damage_of,
    holds_secrets,
    last_result,
    not_found,
    parse_time,
    secret_context,
    secret_fields,
    text_or,
    version_of,
)
from .storage import Store, Transaction
from .store import TinyDBStore
from .text import name_problem, shown

__all__ = ["ConnectionService"]

log = logging.getLogger(__name__)

DATA_DIR_VARIABLE = "CONNECTIONS_DATA_DIR"
DATABASE_URL_VARIABLE = "CONNECTIONS_DATABASE_URL"
DEFAULT_DATA_DIR = "data"
STORE_FILE = "connections.json"
KEY_FILE = "encryption.key"

ADMINS_VARIABLE = "CONNECTIONS_ADMINS"
AUDIT_DAYS_VARIABLE = "CONNECTIONS_AUDIT_DAYS"
DEFAULT_AUDIT_DAYS = 365
LOCAL_ACTOR = "local"  # who trusted code is, in the audit trail
CLI_ACTOR = "cli"  # who the command line is, in the audit trail
TRUSTED_ACTORS = (LOCAL_ACTOR, CLI_ACTOR)
#: Seconds a pull may be silent: Ollama says nothing while it verifies a
#: downloaded layer, which takes minutes for a large model.
PULL_SILENCE_LIMIT = 600.0

NAME_MAX = 100
_CLOCK_SKEW = timedelta(days=1)  # how far two processes' clocks may disagree
#: What a refusal of an operation in access.OWN says a person may do.
_OWN_WORDS = {"sign_out": "sign yourself out",
              "signed_out_at": "see when you yourself signed out"}

Record = dict[str, Any]
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ConnectionService:
    """Create, check, and resolve the provider connections of one workspace.

    :param store: where records live (shared by every workspace).
    :param keyring: encrypts new secrets; decrypts with the current or a previous key.
    :param workspace_id: every operation is scoped to this workspace.
    :param actor: the signed-in person's e-mail address, whose role in the
        workspace decides what they may do; ``None`` for trusted code
        (application code, scripts, the dashboard with sign-in off).
    :param admins: the instance administrators' e-mail addresses.
    :param timeout: seconds each provider request may take.
    :param clock: returns the current time (tests pass a fixed one).
    :param audit_days: audit entries older than this many days are dropped.
    :raises EncryptionKeyError: the key ring can't decrypt the data in ``store``.
    :raises ValidationError: ``actor`` or an admin is not an e-mail address.
    """

    #: Where the key came from: ``environment``, ``file`` (an earlier generated
    #: local key), ``generated`` (made just now) or ``given`` (passed in).
    key_source: str = "given"
    key_file: Path | None = None

    def __init__(self, store: Store, keyring: crypto.KeyRing,
                 workspace_id: str = "default", *, actor: str | None = None,
                 admins: Iterable[str] = (), timeout: float = http.DEFAULT_TIMEOUT,
                 clock: Clock = _utc_now, audit_days: int = DEFAULT_AUDIT_DAYS) -> None:
        self.store = store
        self.keyring = keyring
        self.workspace_id = _checked_workspace(workspace_id)
        self.actor = None if actor is None else access.checked_email(actor, "actor")
        self.admins = access.checked_emails(
            [admins] if isinstance(admins, str) else admins, "admins")
        self.timeout = _checked_timeout(timeout, "timeout")
        self.audit_days = _checked_audit_days(audit_days, "audit_days")
        self._clock = clock
        self._records = Records(store, keyring, self.workspace_id, clock=clock,
                                audit_days=self.audit_days, actor_name=lambda: self._actor_name)
        self._records.check_key(self.store.key_check())

    @classmethod
    def from_env(cls, workspace_id: str = "default",
                 environ: Mapping[str, str] | None = None, *,
                 actor: str | None = None) -> ConnectionService:
        """Build a service from the environment.

        The store is the PostgreSQL database ``CONNECTIONS_DATABASE_URL``
        (``postgresql://user:password@host:port/database``) when it is set, and
        otherwise the TinyDB file in ``CONNECTIONS_DATA_DIR`` (default ``./data``).
        The key is ``ENCRYPTION_KEY`` (or ``ENCRYPTION_SECRET``), with
        ``ENCRYPTION_KEY_PREVIOUS`` tried for rotation.  With no key set, a local
        key is read from (or, for an empty store, generated into)
        ``<data dir>/encryption.key``; on PostgreSQL the key must be set (every
        replica needs the same one).  ``CONNECTIONS_ADMINS`` lists the instance
        administrators (comma-separated e-mail addresses) and
        ``CONNECTIONS_AUDIT_DAYS`` how long audit entries are kept (default 365).
        ``CONNECTIONS_MAX_CHECKS`` (how many checks may run at once in the process,
        default 32) is checked here, so that a bad value is refused at start; the
        process's checks read it from the process's environment.

        :raises EncryptionKeyError: a key is malformed, does not fit the data,
            or is missing while the store already holds encrypted secrets (or is
            on PostgreSQL).
        :raises StoreError: the store can't be opened (naming where it is).
        :raises ValidationError: the workspace id, ``actor``, an admin's address,
            the retention period or ``CONNECTIONS_MAX_CHECKS`` is invalid.
        """
        workspace_id = _checked_workspace(workspace_id)
        env = os.environ if environ is None else environ
        checks.max_checks(env)
        admins = access.checked_emails(
            [a for a in env.get(ADMINS_VARIABLE, "").split(",") if a.strip()], ADMINS_VARIABLE)
        audit_days = _checked_audit_days(env.get(AUDIT_DAYS_VARIABLE) or DEFAULT_AUDIT_DAYS,
                                         AUDIT_DAYS_VARIABLE)
        data_dir = Path(env.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR)
        key = crypto.env_key(env)
        # Built before the store, so a malformed key is refused before anything
        # (even the data folder) is made.
        keyring = crypto.KeyRing(key, crypto.previous_keys(env)) if key else None
        database_url = env.get(DATABASE_URL_VARIABLE, "").strip()
        if database_url:
            if keyring is None:
                raise EncryptionKeyError(
                    f"{DATABASE_URL_VARIABLE} is set, so {crypto.KEY_VARIABLE} must be set too: "
                    "every replica needs the same key, and a key file made on one machine "
                    "would not be shared. Generate one with `python -c \"from connections_core "
                    "import generate_key; print(generate_key())\"` and keep it safe.")
            service = cls(open_database(database_url), keyring, workspace_id, actor=actor,
                          admins=admins, audit_days=audit_days)
            service.key_source = "environment"
            return service
        store = TinyDBStore(data_dir / STORE_FILE)
        key_file = data_dir / KEY_FILE
        source = "environment"
        if keyring is None:
            source = "file" if key_file.exists() else "generated"
            if source == "generated" and holds_secrets(store):
                raise EncryptionKeyError(
                    f"{store.path} holds encrypted API keys, but {crypto.KEY_VARIABLE} is not "
                    f"set and there is no {key_file}. Set {crypto.KEY_VARIABLE} to the key "
                    "this data was written with; a new key could not decrypt it."
                )
            local_key = crypto.read_key_file(key_file) if source == "file" \
                else _new_key_file(key_file)
            keyring = crypto.KeyRing(local_key, crypto.previous_keys(env))
        service = cls(store, keyring, workspace_id, actor=actor, admins=admins,
                      audit_days=audit_days)
        service.key_source = source
        service.key_file = None if source == "environment" else key_file
        for warning in service.file_warnings():
            log.warning("%s", warning)
        return service

    def file_warnings(self) -> builtins.list[str]:
        """Sentences about the key file or data folder being readable by others
        (empty when all is well); screens show them, ``from_env`` logs them."""
        return permission_warnings(None, self.key_file) + self.store.file_warnings()

    def __repr__(self) -> str:
        who = f" actor={self.actor!r}" if self.actor else ""
        return f"<ConnectionService workspace={self.workspace_id!r}{who} store={self.store!r}>"

    # -- who may do what --------------------------------------------------------------------

    @property
    def is_instance_admin(self) -> bool:
        """Whether the actor is an instance administrator (False for trusted code)."""
        return self.actor is not None and self.actor in self.admins

    @property
    def role(self) -> Role | None:
        """The actor's role in this workspace: ``"admin"`` for an instance admin,
        ``None`` when they have no access, and ``None`` for trusted code (which
        is not restricted)."""
        if self.actor is None:
            return None
        if self.is_instance_admin:
            return "admin"
        member = self._member_doc(self.store.members(self.workspace_id), self.actor)
        return access.checked_role(member["role"]) if member else None

    def can(self, operation: str) -> bool:
        """Whether the actor may call the method named ``operation`` (e.g. ``"create"``)
        here (on themselves, for ``sign_out``); screens use it to offer only what a
        role allows."""
        return self.actor is None or access.allows(self.role, operation, own=True,
                                                   instance_admin=self.is_instance_admin)

    def workspaces(self) -> builtins.list[str]:
        """The workspaces the actor may open (all of them for trusted code and
        instance admins), sorted: empty for someone who belongs to none.

        Never refused: it answers about the actor, whichever workspace this service
        is bound to, so a screen can offer it to someone who followed a link to a
        workspace they may not open.
        """
        members = self.store.members()
        if self.actor is None or self.is_instance_admin:
            rows = self.store.connections()[1]
            found = {row.get("workspace_id") for row in [*rows, *members]}
            return sorted({"default", *(w for w in found if isinstance(w, str))})
        return sorted({m["workspace_id"] for m in members if m.get("email") == self.actor
                       and isinstance(m.get("workspace_id"), str)})

    #: The name :meth:`workspaces` had when it refused a stranger; kept for callers.
    accessible_workspaces = workspaces

    # -- members ----------------------------------------------------------------------------

    def members(self) -> builtins.list[Member]:
        """The workspace's members: admins first, then by e-mail address."""
        self._authorize("members")
        found = [_to_member(doc) for doc in self.store.members(self.workspace_id)]
        return sorted(found, key=lambda m: (-access.ROLES.index(m.role), m.email))

    def set_member(self, email: str, role: str) -> Member:
        """Add a person to the workspace with ``role``, or change their role.

        :raises ValidationError: the address or role is invalid, or the change
            would leave the workspace's members without an admin.
        """
        self._authorize("set_member")
        clean, new_role = _member_input(email, role)
        with self._records.transaction() as tx:
            docs = tx.members(self.workspace_id)
            current = self._member_doc(docs, clean)
            if current is not None and current["role"] == new_role:
                return _to_member(current)
            if new_role != "admin" and not _has_admin(docs, without=clean):
                raise ValidationError({"role": "A workspace with members keeps at least one "
                                               "admin: add an admin first, or make someone "
                                               "else admin."})
            if current is None:
                doc: Record = {"workspace_id": self.workspace_id, "email": clean,
                               "role": new_role, "added_by": self._actor_name,
                               "added_at": self._records.now()}
            else:
                doc = {**current, "role": new_role}
            tx.put_member(doc)
            self._records.audit(tx, "member.set", None, clean, email=clean, role=new_role)
        return _to_member(doc)

    def remove_member(self, email: str) -> None:
        """Take a person's access to the workspace away, and end their open sessions
        (a sign-out, as :meth:`sign_out` records, in the same write).

        :raises NotFoundError: they are not a member.
        :raises ValidationError: they are its last admin while others remain.
        """
        self._authorize("remove_member")
        clean = access.checked_email(email)
        with self._records.transaction() as tx:
            docs = tx.members(self.workspace_id)
            current = self._member_doc(docs, clean)
            if current is None:
                raise NotFoundError(f"{clean} is not a member of workspace "
                                    f"'{self.workspace_id}'.", clean)
            others = [doc for doc in docs if doc.get("email") != clean]
            if others and not _has_admin(others):
                raise ValidationError({"email": "This is the workspace's last admin: make "
                                                "someone else admin first."})
            tx.remove_member(self.workspace_id, clean)
            # Their open sessions end too (in every workspace: a sign-out is per person),
            # so a dashboard they still have open stops at once, not at the token's exp.
            sessions.record_sign_out(tx, clean, self._clock())
            self._records.audit(tx, "member.removed", None, clean, email=clean)

    # -- sign-outs --------------------------------------------------------------------------

    def sign_out(self, email: str | None = None) -> datetime:
        """Record that a person signed out, now: every identity issued to them until
        then is ended (:meth:`session_ended`), in every tab, browser and replica.

        Recorded in the audit trail of this workspace (``session.signed_out``).

        :param email: whose sign-out; the actor's when None.  A signed-in person may
            record only their own, whatever their role; instance admins and trusted
            code anyone's.
        :returns: the time recorded (a later one already recorded is kept).
        :raises ValidationError: ``email`` is not an address, or is None for trusted
            code (nobody is signed in).
        """
        clean = self._person(email)
        self._authorize("sign_out", own=clean == self.actor)
        with self._records.transaction() as tx:
            at = sessions.record_sign_out(tx, clean, self._clock())
            self._records.audit(tx, "session.signed_out", None, clean, email=clean)
        log.info("Recorded a sign-out of %s", clean)
        return at

    def signed_out_at(self, email: str | None = None) -> datetime | None:
        """When a person last signed out (or was removed from a workspace), or None.

        :param email: whose; the actor's when None.  The same people may ask as may
            call :meth:`sign_out`.
        :raises ValidationError: as :meth:`sign_out`.
        """
        clean = self._person(email)
        self._authorize("signed_out_at", own=clean == self.actor)
        return sessions.signed_out_at(self.store, clean)

    def session_ended(self, issued_at: object) -> bool:
        """Whether the actor's identity, issued at ``issued_at`` (the ID token's
        ``iat``: seconds since the epoch), was ended by a sign-out since: one recorded
        at or after that time.  With a sign-out recorded, an identity with no readable
        ``iat`` is ended too.  Always False for trusted code (nobody is signed in).

        The sign-in gate asks it on every run, so a tab whose person signed out in
        another one, or was removed, stops at its next run.
        """
        if self.actor is None:
            return False
        signed_out = sessions.signed_out_at(self.store, self.actor)
        if signed_out is not None and sessions.issued_at(issued_at) is None:
            # Signing in again can't help: the person sees the sign-in page each time.
            log.warning("An identity of %s was refused: its ID token has no readable iat "
                        "(issue time), so it can't be told from one issued before they last "
                        "signed out. Have the identity provider include iat, as OpenID "
                        "Connect requires.", self.actor)
        return sessions.ended(issued_at, signed_out)

    # -- the audit trail --------------------------------------------------------------------

    def audit(self, limit: int = 100, *, actor: str | None = None, action: str | None = None,
              since: datetime | None = None) -> builtins.list[AuditEntry]:
        """This workspace's audit trail, newest first.

        :param limit: at most this many entries.
        :param actor: only entries by this e-mail address (or ``"local"``).
        :param action: only entries with this action, e.g. ``"connection.updated"``.
        :param since: only entries at or after this time.
        """
        self._authorize("audit")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValidationError({"limit": "The limit is a whole number, 0 or more."})
        if since is not None and not isinstance(since, datetime):
            raise ValidationError({"since": "Since is a date and time."})
        who = None if actor is None else (
            actor if actor in TRUSTED_ACTORS else access.checked_email(actor, "actor"))
        oldest = self._clock() - timedelta(days=self.audit_days)
        if since is not None:
            oldest = max(oldest, since if since.tzinfo else since.replace(tzinfo=UTC))
        found: builtins.list[AuditEntry] = []
        for raw in self.store.audit_entries(self.workspace_id):
            if len(found) >= limit:
                break
            entry = _to_audit_entry(raw)
            if entry is None or entry.workspace_id != self.workspace_id:
                continue
            if entry.at < oldest - _CLOCK_SKEW:
                break  # appended in time order, give or take the clocks of two processes
            if entry.at >= oldest and (who is None or entry.actor == who) \
                    and (action is None or entry.action == action):
                found.append(entry)
        return found

    # -- reading ------------------------------------------------------------------------

    def list(self, type: str | None = None) -> builtins.list[Connection]:
        """The workspace's connections, newest first, without deleted ones."""
        self._authorize("list")
        return self._records.active(type)

    def list_deleted(self) -> builtins.list[Connection]:
        """The workspace's deleted connections, most recently deleted first."""
        self._authorize("list_deleted")
        deleted = [c for c in self._records.workspace() if c.deleted_at is not None]
        return sorted(deleted, key=lambda c: c.deleted_at or c.created_at, reverse=True)

    def get(self, id: str) -> Connection:
        """One connection (deleted ones too). :raises NotFoundError:"""
        self._authorize("get")
        for connection in self._records.workspace():
            if connection.id == id:
                return connection
        raise not_found(id)

    def get_default(self, type: str) -> Connection | None:
        """The default connection of a provider type, or None when it has none."""
        self._authorize("get_default")
        get_provider(type)
        return next((c for c in self._records.active(type) if c.is_default), None)

    def resolve_config(self, type: str, id: str | None = None) -> dict[str, str]:
        """The decrypted config of connection ``id``, or of the type's default.

        This is the one call application code needs to get usable credentials.
        It is refused to every signed-in person: only trusted code gets a key
        in the clear.

        :raises NotFoundError: no such connection, or the type has none.
        :raises DecryptionError: its secret can't be decrypted with the key ring.
        """
        self._authorize("resolve_config")
        provider = get_provider(type)
        if id is None:
            default = self.get_default(type)
            if default is None:
                raise NotFoundError(
                    f"There is no {provider.display_name} connection in workspace "
                    f"'{self.workspace_id}'. Add one first.")
            id = default.id
        record = self._records.record(id)
        if record["type"] != type or record.get("deleted_at"):
            raise not_found(id)
        return self._records.decrypted(record)

    # -- changing -----------------------------------------------------------------------

    def create(self, type: str, name: str, config: Mapping[str, Any],
               initial_status: Status | None = None, *,
               checked: TestResult | None = None) -> Connection:
        """Validate, encrypt and store a new connection.

        The first connection of a type in the workspace becomes its default.
        ``checked`` is a check of exactly this ``type`` and ``config`` (from
        :meth:`test_draft`): it is stored as the connection's status, last
        result and models in the same write, as :meth:`test` would.

        :raises ValidationError: ``field_errors`` names every bad field.
        """
        self._authorize("create")
        provider = get_provider(type)
        errors: dict[str, str] = {}
        clean_name = _checked_name(name, errors)
        if initial_status is not None and initial_status not in STATUSES:
            errors["initial_status"] = f"Status must be one of: {', '.join(STATUSES)}."
        if initial_status is not None and checked is not None:
            errors["checked"] = "Give an initial status or a check's result, not both."
        try:
            clean = validate_config(provider, _checked_config(config))
        except ValidationError as error:
            errors.update(error.field_errors)
        if errors:
            raise ValidationError(errors)
        now = self._records.now()
        id = str(uuid.uuid4())  # first: the secrets are bound to it
        record: Record = {
            "id": id, "workspace_id": self.workspace_id, "type": type,
            "name": clean_name, **self._records.seal(provider, clean, id), "is_default": False,
            "status": initial_status or "unconfigured", "last_checked_at": None,
            "last_result": None, "available_models": [], "created_at": now,
            "updated_at": now, "deleted_at": None, "version": 1,
        }
        if checked is not None:
            record.update(checked_fields(checked, now))
        with self._records.transaction() as tx:
            record["is_default"] = tx.default_connection(self.workspace_id, type) is None
            tx.insert_connection(record)
            self._records.audit(tx, "connection.created", record, type=type,
                                **_check_details(checked))
        log.info("Created %s connection %s in workspace %s", type, record["id"],
                 self.workspace_id)
        return self._records.to_connection(record)

    def update(self, id: str, version: int, name: str | None = None,
               config: Mapping[str, Any] | None = None, *,
               checked: TestResult | None = None) -> Connection:
        """Change a connection's name and/or config, if nobody changed it since ``version``.

        Fields missing from ``config`` keep their values; an empty optional field
        is cleared; a missing or empty secret keeps the stored one.  Changing the
        base URL of a connection that holds a key needs the key again, so a stored
        key can't be sent to another server by someone who can't see it.  A
        changed config resets the status to ``unconfigured``, unless ``checked``
        is a check of exactly the config saved (from :meth:`test_draft` with
        ``existing_id``): that becomes its status, last result and models, in the
        same write (a check alone is not an edit: the version stays).

        :raises ConflictError: ``version`` is stale.
        :raises ValidationError: a field is invalid.
        :raises NotFoundError: no such (undeleted) connection.
        """
        self._authorize("update")
        version = _checked_version(version)
        if config is not None:
            config = _checked_config(config)
        with self._records.transaction() as tx:
            doc = self._records.active_doc(tx, id)
            if doc["version"] != version:
                raise ConflictError(
                    f"'{doc['name']}' was changed by someone else (version {doc['version']}, "
                    f"you had {version}). Reload it and apply your change again.", id)
            provider = get_provider(doc["type"])
            errors: dict[str, str] = {}
            changes: Record = {}
            fields: builtins.list[str] = []
            if name is not None:
                clean_name = _checked_name(name, errors)
                if clean_name != doc["name"]:
                    changes["name"] = clean_name
                    fields.append("name")
            if config is not None:
                try:
                    sealed, changed = self._config_changes(provider, doc, config)
                except ValidationError as error:
                    errors.update(error.field_errors)
                else:
                    changes.update(sealed)
                    fields += changed
            if errors:
                raise ValidationError(errors)
            if not changes and checked is None:
                return self._records.to_connection(doc)
            if "config" in changes:
                changes.update(status="unconfigured", last_checked_at=None, last_result=None,
                               available_models=[])
            if changes:
                changes.update(version=doc["version"] + 1, updated_at=self._records.now())
            if checked is not None:
                changes.update(checked_fields(checked, self._records.now()))
            tx.update_connection(self.workspace_id, id, changes)
            if fields:
                self._records.audit(tx, "connection.updated", {**doc, **changes}, fields=fields,
                            **_check_details(checked))
            else:
                self._records.audit(tx, "connection.tested", {**doc, **changes},
                                    **_check_details(checked))
        return self._records.to_connection({**doc, **changes})

    def delete(self, id: str) -> Connection:
        """Soft-delete a connection; :meth:`restore` brings it back.

        When it was its type's default, the oldest remaining connection of that
        type becomes the default.
        """
        self._authorize("delete")
        with self._records.transaction() as tx:
            doc = self._records.active_doc(tx, id, damaged=True)
            changes = {"deleted_at": self._records.now(), "is_default": False,
                       "version": version_of(doc) + 1}
            tx.update_connection(self.workspace_id, id, changes)
            self._records.audit(tx, "connection.deleted", doc)
            if doc.get("is_default") is True:
                self._records.promote_oldest(tx, str(doc.get("type")),
                                             "the previous default was deleted")
        log.info("Deleted connection %s in workspace %s", id, self.workspace_id)
        return self._records.to_connection({**doc, **changes})

    def restore(self, id: str) -> Connection:
        """Bring back a deleted connection (the default of its type if it has none)."""
        self._authorize("restore")
        with self._records.transaction() as tx:
            doc = self._records.doc(tx, id)
            if doc.get("deleted_at") is None:
                return self._records.to_connection(doc)
            changes = {"deleted_at": None, "version": doc["version"] + 1,
                       "is_default": tx.default_connection(self.workspace_id,
                                                           doc["type"]) is None,
                       "updated_at": self._records.now()}
            tx.update_connection(self.workspace_id, id, changes)
            self._records.audit(tx, "connection.restored", doc)
        return self._records.to_connection({**doc, **changes})

    def set_default(self, id: str) -> Connection:
        """Make a connection the default of its type; other types are untouched."""
        self._authorize("set_default")
        with self._records.transaction() as tx:
            doc = self._records.active_doc(tx, id)
            if doc["is_default"]:
                return self._records.to_connection(doc)
            current = tx.default_connection(self.workspace_id, doc["type"])
            if current is not None:
                tx.update_connection(self.workspace_id, current["id"], {"is_default": False})
            tx.update_connection(self.workspace_id, id, {"is_default": True})
            self._records.audit(tx, "connection.default_set", doc)
        return self._records.to_connection({**doc, "is_default": True})

    def rotate_keys(self, *, reseal: Iterable[ResidualSecret] = ()) -> int:
        """Re-encrypt every stored secret, in every workspace (deleted connections
        too), with the current key, bound to its record.

        An old unbound (``v1``) secret is never used: nothing shows it was saved for
        the base URL beside it, which anyone who can write the store could have set.
        It is re-sealed (bound to its record and that base URL) only when it is in
        ``reseal``, the unbound secrets an operator was shown (see
        :meth:`residual_secrets`: workspace, name, base URL) and agreed to, and only
        while it still points where it did then; any other is left as it is.  All
        or nothing: if one secret can't be decrypted, nothing is written.  Only
        trusted code and instance admins may rotate.

        :returns: how many secrets were re-encrypted.
        :raises DecryptionError: naming the record whose secret can't be decrypted.
        """
        self._authorize("rotate_keys")
        agreed = {(r.workspace_id, r.id, r.field, r.base_url) for r in reseal
                  if r.reason == "unbound"}
        #: workspace -> [secrets re-encrypted, of which old unbound ones re-sealed]
        counts: dict[str, builtins.list[int]] = {self.workspace_id: [0, 0]}

        def reseal_doc(doc: Record) -> None:
            opened = {}
            resealed_unbound = 0
            for field in secret_fields(doc):
                token = doc["config"].get(field)
                unbound = crypto.is_encrypted(token) and not crypto.is_bound(token)
                if unbound and (doc["workspace_id"], doc["id"], field,
                                secret_context(doc, field)["baseUrl"]) not in agreed:
                    continue  # never opened: left for an operator to look at
                try:
                    opened[field] = self._records.open_secret(doc, field, reseal=unbound)
                except DecryptionError as error:
                    raise DecryptionError(
                        f"{error} It is in workspace '{doc.get('workspace_id')}'. Nothing "
                        "was re-encrypted.", error.record_id) from None
                resealed_unbound += unbound
            doc["config"] = {**doc["config"], **{
                field: self.keyring.encrypt(value, secret_context(doc, field))
                for field, value in opened.items()}}
            if opened:
                counted = counts.setdefault(doc["workspace_id"], [0, 0])
                counted[0] += len(opened)
                counted[1] += resealed_unbound

        with self._records.transaction() as tx:
            # An error in the middle leaves the transaction unfinished: it is then
            # rolled back, and nothing was re-encrypted.
            resealed = []
            for doc in tx.connections(None):
                if not secret_fields(doc) or not isinstance(doc.get("workspace_id"), str) \
                        or not isinstance(doc.get("id"), str):
                    continue  # nothing to re-encrypt, or nothing could address it
                reseal_doc(doc)
                resealed.append((doc["workspace_id"], doc["id"], {"config": doc["config"]}))
            tx.update_connections(resealed)
            self._records.write_key_check(tx)
            # An entry in every workspace whose keys were re-encrypted (and this one):
            # each workspace's Activity shows what happened to its keys.
            for workspace, (count, unbound) in sorted(counts.items()):
                self._records.in_workspace(workspace).audit(
                    tx, "keys.rotated", None, count=count, resealed_unbound=unbound)
        count = sum(c for c, _ in counts.values())
        log.info("Re-encrypted %d secrets with the current key (%d old unbound ones "
                 "re-sealed)", count, sum(u for _, u in counts.values()))
        return count

    # -- backups (connections_core.backup) --------------------------------------------------

    def in_workspace(self, workspace_id: str) -> ConnectionService:
        """This service (same store, keys, actor, clock and settings) bound to another
        workspace."""
        other = ConnectionService(self.store, self.keyring, workspace_id, actor=self.actor,
                                  admins=self.admins, timeout=self.timeout, clock=self._clock,
                                  audit_days=self.audit_days)
        other.key_source, other.key_file = self.key_source, self.key_file
        other.trusted_actor = self.trusted_actor
        return other

    def backup_records(self) -> builtins.list[Record]:
        """Every connection of the workspace, deleted ones too, oldest first, as stored
        but with its secrets decrypted and without hints: what a backup holds.

        Like :meth:`resolve_config`, it is refused to every signed-in person.

        :raises StoreCorruptError: a record is damaged (naming it).
        :raises DecryptionError: a secret can't be decrypted (naming its record).
        """
        self._authorize("resolve_config")
        # Every key of the workspace is about to be decrypted: recorded first.
        self._records.attempt("connections.exported", None)
        _, rows = self.store.connections(self.workspace_id)
        mine = sorted((row for row in rows if self._records.is_mine(row)),
                      key=lambda row: str(row.get("created_at")))
        records = []
        for row in mine:
            self._records.refuse_damaged(row)
            kept = {k: v for k, v in row.items() if k not in ("hints", "workspace_id")}
            records.append({**kept, "config": self._records.decrypted(row)})
        return records

    def import_records(self, records: Iterable[Mapping[str, Any]],
                       members: Iterable[Mapping[str, Any]] = ()) -> None:
        """Store connections read from a backup in this workspace, and add its members.

        Each record is shaped as :meth:`backup_records` returns it (secrets in the
        clear).  It is checked as :meth:`create` checks, its secrets are sealed to it
        here, and it replaces the stored connection with its id or is added.  A
        member is added only if absent; nobody's role changes.

        The workspace keeps its defaults: a replaced connection keeps its place, and
        an imported one that was its type's default becomes the default only when
        the type has none afterwards; a type left with connections but no default
        gets its oldest, as after :meth:`delete`.  Only trusted code and instance
        admins may import.  All of it is one transaction with its audit entries
        (``connection.imported``, ``member.imported``), or part of the caller's
        store transaction.

        :raises ValidationError: a record or member is invalid; nothing is written.
        """
        self._authorize("import_records")
        checked = [self._imported(record) for record in records]
        with self._records.transaction() as tx:
            wanted: dict[str, builtins.list[str]] = {}
            for record in checked:
                if self._store_imported(tx, record):
                    wanted.setdefault(record["type"], []).append(record["id"])
                else:
                    wanted.setdefault(record["type"], [])
            for type, preferred in wanted.items():
                self._settle_default(tx, type, preferred)
            self._add_members(tx, members)

    def _imported(self, record: Mapping[str, Any]) -> Record:
        """A record to store from an imported one, secrets sealed; or ValidationError."""
        errors: dict[str, str] = {}
        provider = get_provider(record.get("type", ""))
        name = _checked_name(record.get("name"), errors)
        id = record.get("id")
        if not isinstance(id, str) or not 1 <= len(id) <= ID_MAX or name_problem(id, "An id"):
            errors["id"] = f"An id is 1-{ID_MAX} visible characters."
        try:
            clean = validate_config(provider, _checked_config(record.get("config")))
        except ValidationError as error:
            errors.update(error.field_errors)
        if record.get("status") not in STATUSES:
            errors["status"] = f"Status must be one of: {', '.join(STATUSES)}."
        if errors:
            raise ValidationError(errors)
        models = record.get("available_models")
        return {
            "id": id, "workspace_id": self.workspace_id, "type": provider.type, "name": name,
            **self._records.seal(provider, clean, str(id)),
            "is_default": record.get("is_default") is True and not record.get("deleted_at"),
            "status": record["status"],
            "last_checked_at": self._time_text(record.get("last_checked_at")),
            "last_result": self._last_result_doc(record.get("last_result")),
            "available_models": list(bounded_models(
                [m for m in models if isinstance(m, str)] if isinstance(models, list) else [])),
            "created_at": self._time_text(record.get("created_at")) or self._records.now(),
            "updated_at": self._time_text(record.get("updated_at")) or self._records.now(),
            "deleted_at": self._time_text(record.get("deleted_at")), "version": 1,
        }

    def _store_imported(self, tx: Transaction, record: Record) -> bool:
        """Add ``record``, or replace the stored one with its id; whether it asks to
        be its type's default (a replaced one keeps the flag it had here instead)."""
        wants_default = bool(record["is_default"])
        current = tx.connection(self.workspace_id, record["id"])
        record["is_default"] = False
        if current is not None:
            kept = current.get("is_default") is True and not record["deleted_at"] \
                and current.get("type") == record["type"]
            record.update(is_default=kept, version=version_of(current) + 1)
            tx.replace_connection(record)
            wants_default = False
            if current.get("type") != record["type"]:
                self._records.promote_oldest_if_none(tx, str(current.get("type")),
                                                     "a backup replaced the previous default")
        else:
            tx.insert_connection(record)
        self._records.audit(tx, "connection.imported", record, type=record["type"],
                    replaced=current is not None)
        return wants_default

    def _settle_default(self, tx: Transaction, type: str, preferred: Iterable[str]) -> None:
        """Give ``type`` a default if it has connections but none: the first of
        ``preferred`` (ids) still undeleted, else the oldest."""
        if tx.default_connection(self.workspace_id, type) is not None:
            return
        active = {row["id"]: row
                  for row in tx.connections(self.workspace_id, type=type, active=True)}
        for id in preferred:
            if id in active:
                self._records.make_default(tx, active[id], "a backup was imported")
                return
        self._records.promote_oldest(tx, type, "a backup was imported")

    def _add_members(self, tx: Transaction, members: Iterable[Mapping[str, Any]]) -> None:
        """Add each member who is absent (within the transaction under way)."""
        present = {doc.get("email") for doc in tx.members(self.workspace_id)}
        added = False
        for member in members:
            email, role = _member_input(member.get("email"), member.get("role"))
            if email in present:
                continue
            tx.put_member({"workspace_id": self.workspace_id, "email": email, "role": role,
                           "added_by": self._actor_name, "added_at": self._records.now()})
            self._records.audit(tx, "member.imported", None, email, email=email, role=role)
            present.add(email)
            added = True
        if added and not _has_admin(tx.members(self.workspace_id)):
            raise ValidationError({"members": "A workspace with members keeps at least one "
                                              "admin: the imported members have none."})

    @staticmethod
    def _time_text(value: Any) -> str | None:
        """An imported time as stored (ISO 8601, UTC), or None when it is not one."""
        when = parse_time(value)
        return None if when is None else when.astimezone(UTC).isoformat()

    @staticmethod
    def _last_result_doc(value: Any) -> Record | None:
        """An imported last result as stored, or None when it is not a sound one."""
        result = last_result(value)
        if result is None:
            return None
        return {"success": result.success, "message": shown(result.message, 2000),
                "kind": shown(result.kind, 40), "latency_ms": result.latency_ms,
                "status_code": result.status_code}

    # -- checking -----------------------------------------------------------------------

    def test(self, id: str) -> TestResult:
        """Check a connection and record its status, time and result.

        For Ollama the model names are stored too.  If the connection is edited
        while the check runs, the result is returned but not recorded: it
        describes a config that no longer exists.  The check waits for a free
        slot of the process's checks (``CONNECTIONS_MAX_CHECKS``).
        """
        self._authorize("test")
        return checks.shared_pool().call(partial(self._test, id))

    def start_test(self, id: str) -> Future[TestResult]:
        """:meth:`test`, run off the caller's thread: returns at once, and the future's
        ``result()`` is what :meth:`test` would return or raise.  A screen polls it
        instead of keeping a thread of its own waiting."""
        self._authorize("start_test")
        return checks.shared_pool().submit(partial(self._test, id))

    def test_draft(self, type: str, config: Mapping[str, Any], *,
                   existing_id: str | None = None) -> TestResult:
        """Check a config before it is saved; nothing is written.

        With ``existing_id``, what ``config`` leaves out is that stored connection's:
        its base URL, and its secrets unless the base URL differs from the stored one.

        :raises ValidationError: the config is invalid, or ``existing_id`` is a
            connection of another type.
        """
        self._authorize("test_draft")
        config = _checked_config(config)
        if existing_id is not None:
            record = self._records.record(existing_id)
            if record["type"] != type:
                raise ValidationError({"type": "A draft is tested with the stored key of a "
                                               "connection of the same provider only."})
            if "baseUrl" not in config:
                # Never the provider's default: the stored key goes where it was saved for.
                config = {**config, "baseUrl": record["config"].get("baseUrl")}
        if existing_id is not None and not self.needs_key_again(existing_id, config):
            provider = get_provider(record["type"])
            kept = _kept_secrets(provider, record["config"], config)
            config = {**_without_display_values(provider, config),
                      **{f: self._records.open_secret(record, f) for f in kept}}
            if kept:  # the stored key is sent: recorded first (once valid), as by test()
                validate_config(provider, config)
                self._records.attempt("connection.test_started", record, draft=True)
        return checks.shared_pool().call(partial(test_connection, type, config, self.timeout))

    def needs_key_again(self, id: str, config: Mapping[str, Any]) -> bool:
        """Whether saving ``config`` on connection ``id`` needs its secrets typed again:
        the base URL changes while a stored secret would be kept."""
        self._authorize("needs_key_again")
        config = _checked_config(config)
        record = self._records.record(id)
        provider = get_provider(record["type"])
        stored = record["config"]
        return bool(_kept_secrets(provider, stored, config)) and \
            _base_url_of(provider, config, stored) != stored.get("baseUrl")

    def iter_test_all(self) -> Iterator[tuple[Connection, TestResult]]:
        """Check every connection of the workspace at once, yielding each result as
        it arrives (in the caller's thread, so a screen can show progress).

        If a Test all of this workspace is under way in the process (started by
        anyone, on any service over the same store), this joins it: its results
        come first, then the rest as they arrive, and nothing is checked twice.
        The run is recorded in the audit trail once, when it ends, or when every
        caller following it has stopped (the checks not started are dropped).
        """
        self._authorize("iter_test_all")
        return self._follow_test_all()

    def test_all(self) -> dict[str, TestResult]:
        """Check every connection of the workspace concurrently: ``{id: result}``
        (joining a Test all under way, as :meth:`iter_test_all` does)."""
        self._authorize("test_all")
        return {connection.id: result for connection, result in self._follow_test_all()}

    def start_test_all(self) -> checks.TestAllRun:
        """:meth:`iter_test_all`, run off the caller's thread: starts (or joins) the
        workspace's Test all and returns at once; the run hands over the results as
        they arrive (``arrived()``), so a screen polls it instead of keeping a thread
        waiting.  It runs to its end unless every caller following it closes it.
        """
        self._authorize("start_test_all")
        return checks.test_all_run(self._records, self._check)

    def refresh_ollama_models(self, id: str) -> builtins.list[ollama.OllamaModel]:
        """List an Ollama connection's models and store their names on it.

        :raises ValidationError: the connection is not an Ollama connection.
        :raises ProviderError: the server can't be reached (also recorded).
        """
        self._authorize("refresh_ollama_models")
        record = self._ollama_record(id)
        started = time.perf_counter()
        try:
            models = ollama.list_models(record["config"]["baseUrl"], timeout=self.timeout)
        except ProviderError as error:
            failed = TestResult(False, str(error), error.kind,  # type: ignore[arg-type]
                                _ms_since(started), status_code=error.status_code)
            self._records.record_results([(record, failed)], each="connection.tested")
            raise
        names = tuple(bounded_models([m.name for m in models]))
        found = TestResult(True, f"{len(models)} models on the server.", "ok",
                           _ms_since(started), names, 200)
        self._records.record_results([(record, found)], each="connection.tested")
        return models

    # -- Ollama models ----------------------------------------------------------------------

    def ollama_models(self, id: str) -> builtins.list[ollama.OllamaModel]:
        """The models on the server of Ollama connection ``id``, read now.

        A read: it records nothing and leaves the connection's status as it is
        (only :meth:`test`, :meth:`test_all` or :meth:`refresh_ollama_models` do).

        :raises ValidationError: the connection is not an Ollama connection.
        :raises ProviderError: the server can't be reached or is not Ollama.
        """
        self._authorize("ollama_models")
        return ollama.list_models(self._ollama_record(id)["config"]["baseUrl"],
                                  timeout=self.timeout)

    def ollama_version(self, id: str) -> str:
        """The Ollama version of connection ``id``'s server (a read, as :meth:`ollama_models`)."""
        self._authorize("ollama_version")
        return ollama.version(self._ollama_record(id)["config"]["baseUrl"], timeout=self.timeout)

    def running_models(self, id: str) -> builtins.list[ollama.RunningModel]:
        """The models loaded in memory on connection ``id``'s server (a read)."""
        self._authorize("running_models")
        return ollama.list_running(self._ollama_record(id)["config"]["baseUrl"],
                                   timeout=self.timeout)

    def model_details(self, id: str, name: str) -> ollama.ModelInfo:
        """What connection ``id``'s server says about model ``name`` (a read).

        :raises ValidationError: ``name`` is not a model name.
        :raises NotFoundError: the model is not on the server.
        """
        self._authorize("model_details")
        record = self._ollama_record(id)
        return ollama.show_model(record["config"]["baseUrl"], ollama.checked_name(name),
                                 timeout=self.timeout)

    def pull_model(self, id: str, name: str, *, timeout: float = PULL_SILENCE_LIMIT
                   ) -> ollama.Pull:
        """Pull ``name`` onto the server of Ollama connection ``id``, yielding the same
        progress as :func:`connections_core.ollama.pull_model`.

        Access is checked and the name validated at once; the request is sent
        when iteration starts.  A pull that ends with success is recorded;
        closing the iterator early, or ``cancel()`` from another thread,
        cancels it.  ``timeout`` bounds the silence between two progress
        lines, not the whole pull.
        """
        self._authorize("pull_model")
        timeout = _checked_timeout(timeout, "timeout")
        record = self._ollama_record(id)
        model = ollama.checked_name(name)
        pull = ollama.pull_model(record["config"]["baseUrl"], model, timeout=timeout)
        return ollama.Pull(self._recorded_pull(record, model, pull), pull.cancel)

    def delete_model(self, id: str, name: str) -> None:
        """Delete ``name`` from the server of Ollama connection ``id``, and record it.

        :raises NotFoundError: the model is not on the server.
        """
        self._authorize("delete_model")
        record = self._ollama_record(id)
        model = ollama.checked_name(name)
        self._records.attempt("ollama.model_delete_started", record, model=model)
        try:
            ollama.delete_model(record["config"]["baseUrl"], model, timeout=self.timeout)
        except ConnectionsError as error:
            self._outcome("ollama.model_delete_failed", record, model=model,
                          error=_error_kind(error))
            raise
        self._outcome("ollama.model_deleted", record, model=model, required=True)

    def _recorded_pull(self, record: Record, name: str, steps: ollama.Pull
                       ) -> Generator[ollama.PullProgress, None, None]:
        try:
            self._records.attempt("ollama.model_pull_started", record, model=name)
        except StoreError:
            steps.close()  # never started: nothing was sent
            raise
        try:
            yield from steps  # raises unless the server said "success"
        except GeneratorExit:
            self._outcome("ollama.model_pull_cancelled", record, model=name)
            raise
        except ConnectionsError as error:
            if getattr(error, "kind", None) == "cancelled":
                self._outcome("ollama.model_pull_cancelled", record, model=name)
            else:
                self._outcome("ollama.model_pull_failed", record, model=name,
                              error=_error_kind(error))
            raise
        self._outcome("ollama.model_pulled", record, model=name, required=True)

    def _outcome(self, action: str, record: Record, *, required: bool = False,
                 **details: Any) -> None:
        """Record how something recorded as started ended.  When that can't be written
        the start is in the trail already: a failure or a cancel is only logged, and a
        change that happened (``required``) is a StoreError that says it happened."""
        try:
            self._records.attempt(action, record, **details)
        except StoreError as error:
            if required:
                raise _unsaved(error, f"Done on '{shown(record.get('name'))}' "
                                      f"({action})") from None
            log.warning("Could not record %s on connection %s: %s", action,
                        shown(record.get("id")), error)

    def _ollama_record(self, id: str) -> Record:
        record = self._records.record(id)
        if record["type"] != "ollama" or record.get("deleted_at"):
            raise ValidationError({"type": "Only Ollama connections have local models."})
        return record

    # -- operations: the command line ------------------------------------------------------

    #: Who trusted code is in the audit trail: ``"local"``, or ``"cli"`` for the command line.
    trusted_actor: str = LOCAL_ACTOR

    def purge_deleted(self, before: datetime) -> builtins.list[Connection]:
        """Permanently remove this workspace's connections deleted before ``before``;
        each removal is recorded (``connection.purged``) in the same write.  Only
        trusted code and instance admins may purge.

        :returns: the connections removed, as they were.
        """
        self._authorize("purge_deleted")
        if not isinstance(before, datetime):
            raise ValidationError({"before": "Before is a date and time."})
        cutoff = before if before.tzinfo else before.replace(tzinfo=UTC)
        with self._records.transaction() as tx:
            gone = [doc for doc in tx.connections(self.workspace_id) if self._records.is_mine(doc)
                    and (parse_time(doc.get("deleted_at")) or cutoff) < cutoff]
            tx.remove_connections(self.workspace_id, [doc["id"] for doc in gone])
            for doc in gone:
                self._records.audit(tx, "connection.purged", doc)
        if gone:
            log.info("Purged %d deleted connections in workspace %s", len(gone),
                     self.workspace_id)
        return [self._records.to_connection(doc) for doc in gone]

    def residual_secrets(self) -> builtins.list[ResidualSecret]:
        """The stored secrets, in every workspace (deleted connections too), that the
        current key alone can't serve: what :meth:`rotate_keys` would still have to
        re-encrypt, or can't, each with the base URL beside it.  Empty after a
        complete rotation.  Only trusted code and instance admins may ask.
        """
        self._authorize("residual_secrets")
        found: builtins.list[ResidualSecret] = []
        for row in self.store.connections()[1]:
            for field in secret_fields(row):
                reason = self._records.residue(row, field)
                if reason is not None:
                    found.append(ResidualSecret(
                        workspace_id=text_or(row.get("workspace_id"), "?"),
                        name=text_or(row.get("name"), "(no name)"),
                        id=text_or(row.get("id"), "?"), field=field, reason=reason,
                        base_url=secret_context(row, field)["baseUrl"]))
        return sorted(found, key=lambda r: (r.workspace_id, r.name, r.id, r.field))

    # -- internals: checks and changes ------------------------------------------------------

    def _test(self, id: str) -> TestResult:
        """Check one connection and record the result (on a thread of the pool): the
        attempt first (what can't be recorded is not sent), then its outcome."""
        record = self._records.record(id, damaged=True)
        if record.get("deleted_at"):
            raise not_found(id)
        self._records.attempt("connection.test_started", record)
        result = self._check(record)
        try:
            self._records.record_results([(record, result)], each="connection.tested")
        except StoreError as error:
            raise _unsaved(error, f"'{shown(record.get('name'))}' was checked "
                                  f"({result.kind})") from None
        return result

    def _follow_test_all(self) -> Iterator[tuple[Connection, TestResult]]:
        # A generator: nothing starts until the caller asks for the first result.
        run = checks.test_all_run(self._records, self._check)
        try:
            yield from run.results()
        finally:
            run.close()

    def _config_changes(self, provider: Provider, doc: Mapping[str, Any],
                        config: Mapping[str, Any]) -> tuple[Record, builtins.list[str]]:
        """The ``config``/``hints`` fields an update writes, and the names of the config
        fields that change (both empty when nothing changed)."""
        stored = doc["config"]
        secrets = set(provider.secret_fields)
        config = _without_display_values(provider, config)
        kept = _kept_secrets(provider, stored, config)
        given_secrets = secrets - kept
        merged = {**{k: v for k, v in stored.items() if k not in secrets},
                  **{k: v for k, v in config.items() if k not in kept}}
        clean = validate_config(provider, merged, kept=kept)
        if kept and clean.get("baseUrl") != stored.get("baseUrl"):
            raise ValidationError({field: "Enter the key again: the base URL changed, and a "
                                   "stored key is only sent to the address it was saved for."
                                   for field in kept})
        changed = sorted(k for k in set(clean) | set(stored)
                         if k not in secrets and clean.get(k) != stored.get(k))
        changed += sorted(f for f in given_secrets if f in clean
                          and not self._records.same_secret(doc, f, clean[f]))
        if not changed:
            return {}, []
        # A kept token stays bound: the record and its base URL are the same.
        sealed = self._records.seal(provider, clean, doc["id"])
        sealed["config"].update({f: stored[f] for f in kept})
        sealed["hints"] = {**doc.get("hints", {}), **sealed["hints"]}
        return sealed, changed

    def _check(self, record: Record) -> TestResult:
        """Check one record; whatever happens becomes its result (never an exception,
        so that one bad connection can't stop a run over all of them)."""
        damage = damage_of(record)
        if damage is not None:
            return TestResult(False, self._records.damage_message(record, damage),
                              "invalid_response", 0)
        try:
            config = self._records.decrypted(record)
        except DecryptionError as error:
            return TestResult(False, str(error), "auth", 0)
        try:
            return test_connection(record["type"], config, self.timeout)
        except ValidationError as error:  # saved before today's rules
            return TestResult(False, "This connection's saved settings are no longer accepted "
                                     f"({error}). Edit it and save it again.",
                              "invalid_response", 0)
        except ConnectionsError as error:
            return TestResult(False, str(error), "invalid_response", 0)
        except Exception:
            log.exception("Checking connection %s failed unexpectedly", shown(record.get("id")))
            return TestResult(False, "The check failed unexpectedly; the server's log has the "
                                     "details.", "invalid_response", 0)

    # -- internals: access ------------------------------------------------------------------

    @property
    def _actor_name(self) -> str:
        return self.actor or self.trusted_actor

    def _authorize(self, operation: str, *, own: bool = False) -> None:
        """Refuse ``operation`` (on the actor themselves, when ``own``) unless the actor
        may perform it; a refusal is recorded."""
        if self.actor is None:
            return
        role, admin = self.role, self.is_instance_admin
        if access.allows(role, operation, instance_admin=admin, own=own):
            return
        try:
            with self._records.transaction() as tx:
                self._records.audit(tx, "access.denied", None, operation=operation)
        except (StoreError, EncryptionKeyError) as error:
            log.warning("Could not record a refused %s: %s", operation, error)
        raise PermissionDeniedError(self._refusal(operation, role), operation)

    def _refusal(self, operation: str, role: Role | None) -> str:
        if operation in access.TRUSTED_ONLY:
            return ("Decrypted credentials are given only to application code, never to a "
                    "signed-in person.")
        if operation in access.INSTANCE_ADMIN_ONLY:
            return (f"Only an instance admin ({ADMINS_VARIABLE}) may do this "
                    f"({operation.replace('_', ' ')}).")
        if operation in access.OWN:
            return (f"You may only {_OWN_WORDS[operation]}; for someone else, ask an "
                    f"instance admin ({ADMINS_VARIABLE}).")
        if role is None:
            # The same words whether the workspace exists or not.
            return (f"{self.actor} has no access to workspace '{self.workspace_id}'. Ask one "
                    "of its admins, or an instance admin, to add you.")
        return (f"Your role in workspace '{self.workspace_id}' is {role}; "
                f"{operation.replace('_', ' ')} needs the {access.needed_role(operation)} role.")

    def _person(self, email: str | None) -> str:
        """The address ``email`` names, or the actor's when None."""
        if email is not None:
            return access.checked_email(email)
        if self.actor is None:
            raise ValidationError({"email": "Name whose sign-out this is: this service "
                                            "was built without an actor, for nobody "
                                            "signed in."})
        return self.actor

    def _member_doc(self, docs: Iterable[Any], email: str) -> Any:
        return next((d for d in docs if d.get("workspace_id") == self.workspace_id
                     and d.get("email") == email), None)


#: The databases opened by :func:`open_database` in this process, by URL: every
#: service of a process (one per signed-in person and workspace, in the dashboard)
#: shares one store, and so one pool of connections to the server.
_DATABASES: dict[str, Store] = {}
_DATABASES_GUARD = threading.Lock()


def open_database(url: str) -> Store:
    """The store at a database URL (``postgresql://...``), opened once per process.

    psycopg is imported only here, so that the TinyDB path never needs it.

    :raises StoreError: the URL is not a PostgreSQL one, psycopg is missing, or
        the database can't be opened (naming the host, never the password).
    """
    if not url.startswith(("postgresql://", "postgres://")):
        raise StoreError(f"{DATABASE_URL_VARIABLE} must be a PostgreSQL URL, "
                         "postgresql://user:password@host:5432/database; the store was not "
                         "opened.", DATABASE_URL_VARIABLE)
    try:
        from .postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]
    except ImportError as error:
        raise StoreError(f"{DATABASE_URL_VARIABLE} is set, but psycopg can't be imported "
                         f"({error.name or 'psycopg'}). Install it: pip install -r "
                         "requirements.txt.", DATABASE_URL_VARIABLE) from None
    with _DATABASES_GUARD:
        store = _DATABASES.get(url)
        if store is None or getattr(store, "closed", False):
            store = _DATABASES[url] = PostgresStore(url)
        return store


def _without_display_values(provider: Provider, config: Mapping[str, Any]) -> Record:
    """``config`` without what a Connection shows in place of secrets (the masks and
    the ``has_`` flags): read back into an update, they mean "keep"."""
    secrets = set(provider.secret_fields)
    return {k: v for k, v in config.items()
            if not (k in secrets and isinstance(v, str) and v.startswith(MASK))
            and not (isinstance(k, str) and k.startswith("has_") and k[4:] in secrets)}


def _kept_secrets(provider: Provider, stored: Mapping[str, Any],
                  config: Mapping[str, Any]) -> set[str]:
    """The stored secrets that ``config`` leaves as they are (missing, empty or masked)."""
    given = _without_display_values(provider, config)
    # Only a missing, None or blank value keeps the secret: anything else (a number,
    # a list) is validated, and refused, as a new value.
    return {f for f in provider.secret_fields
            if f in stored and (given.get(f) is None
                                or (isinstance(given[f], str) and not given[f].strip()))}


def _base_url_of(provider: Provider, config: Mapping[str, Any], stored: Mapping[str, Any]) -> Any:
    """The base URL ``config`` would store, normalised as validation does."""
    value = config.get("baseUrl", stored.get("baseUrl"))
    if not isinstance(value, str):
        return value
    return value.strip().rstrip("/") or provider.default_base_url


def _new_key_file(path: Path) -> str:
    try:
        return crypto.create_key_file(path)
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise EncryptionKeyError(
            f"{crypto.KEY_VARIABLE} is not set, and a key for local use can't be written to "
            f"{path} ({reason}). Free disk space and make that folder writable, or set "
            f"{crypto.KEY_VARIABLE}. {crypto.MAKE_A_KEY}") from None


def _error_kind(error: ConnectionsError) -> str:
    """What went wrong, as an audit entry says it: a provider error's kind
    (``unreachable``, ``auth``, ...), ``not_found``, or the error's class."""
    if isinstance(error, NotFoundError):
        return "not_found"
    return str(getattr(error, "kind", None) or type(error).__name__)


def _unsaved(error: StoreError, done: str) -> StoreError:
    """A StoreError for a change that reached a server but whose outcome could not be
    written: it says what happened, since "nothing was changed" is no longer true."""
    return StoreError(f"{done}, and its start is in the audit trail, but the outcome "
                      f"could not be saved: {error}", error.path)


def _check_details(result: TestResult | None) -> Record:
    """An audit entry's details about a check saved with a change: its kind and latency."""
    return {} if result is None else {"kind": result.kind, "latency_ms": result.latency_ms}


def _checked_workspace(workspace_id: Any) -> str:
    clean = workspace_id.strip() if isinstance(workspace_id, str) else ""
    if not 1 <= len(clean) <= NAME_MAX:
        raise ValidationError({"workspace_id": f"A workspace id is 1-{NAME_MAX} characters."})
    problem = name_problem(clean, "A workspace id")
    if problem:
        raise ValidationError({"workspace_id": problem})
    return clean


def _checked_name(name: Any, errors: dict[str, str]) -> str:
    clean = name.strip() if isinstance(name, str) else ""
    if not isinstance(name, str):
        errors["name"] = "A name is text."
    elif not clean:
        errors["name"] = "Enter a name, so you can tell this connection from others."
    elif len(clean) > NAME_MAX:
        errors["name"] = f"A name is at most {NAME_MAX} characters."
    else:
        problem = name_problem(clean, "A name")
        if problem:
            errors["name"] = problem
    return clean


def _checked_timeout(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 < value < float("inf"):
        raise ValidationError({field: "A timeout is a number of seconds, more than 0."})
    return float(value)


def _checked_version(version: Any) -> int:
    # bool is an int in Python, and 1.0 == 1: neither is a version.
    if type(version) is not int:
        raise ValidationError({"version": "The version is the whole number the connection "
                                          "was read with (Connection.version)."})
    return version


def _checked_config(config: Any) -> Mapping[str, Any]:
    if not isinstance(config, Mapping):
        raise ValidationError({"config": "The config is a mapping of field names to values, "
                                         "like {\"apiKey\": \"sk-...\"}."})
    return config


def _checked_audit_days(value: Any, field: str) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = 0
    if isinstance(value, bool) or days < 1 or str(days) != str(value).strip():
        raise ValidationError({field: "Keep audit entries for a whole number of days, 1 or "
                                      "more (e.g. 365)."})
    return days


def _member_input(email: Any, role: Any) -> tuple[str, Role]:
    """The checked e-mail address and role, or one error naming every bad field."""
    errors: dict[str, str] = {}
    clean, checked_role = "", access.ROLES[0]
    try:
        clean = access.checked_email(email)
    except ValidationError as error:
        errors.update(error.field_errors)
    try:
        checked_role = access.checked_role(role)
    except ValidationError as error:
        errors.update(error.field_errors)
    if errors:
        raise ValidationError(errors)
    return clean, checked_role


def _has_admin(docs: Iterable[Mapping[str, Any]], without: str | None = None) -> bool:
    """Whether ``docs`` (members) has an admin other than ``without``."""
    return any(d.get("role") == "admin" and d.get("email") != without for d in docs)


def _to_member(doc: Mapping[str, Any]) -> Member:
    return Member(email=doc["email"], role=access.checked_role(doc["role"]),
                  added_by=str(doc.get("added_by", "")),
                  added_at=parse_time(doc.get("added_at")) or datetime.min.replace(
                      tzinfo=UTC))


def _to_audit_entry(raw: Mapping[str, Any]) -> AuditEntry | None:
    """An entry as read from the trail; None for one that is not (a damaged line)."""
    try:
        at = datetime.fromisoformat(raw["at"])
        details = raw.get("details") or {}
        if not isinstance(details, dict):
            return None
        return AuditEntry(at=at if at.tzinfo else at.replace(tzinfo=UTC),
                          workspace_id=str(raw["workspace_id"]), actor=str(raw["actor"]),
                          action=str(raw["action"]), target_id=_text_or_none(raw.get("target_id")),
                          target_name=_text_or_none(raw.get("target_name")),
                          details=MappingProxyType(details))
    except (KeyError, TypeError, ValueError):
        return None


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _ms_since(started: float) -> int:
    return max(0, round((time.perf_counter() - started) * 1000))


