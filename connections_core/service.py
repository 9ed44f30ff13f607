"""ConnectionService: the one entry point to the operations users perform.

A service is bound to one workspace and one actor; an id from another workspace
behaves exactly like an id that does not exist.  Secrets are encrypted before they
reach the store and only :meth:`ConnectionService.resolve_config` returns them in
the clear.

The service itself decides nothing: each operation lives in a room of its own,
named by concern, and the service hands the call over (with the room's docstring):

* :mod:`~connections_core.connections`: reading and changing connections;
* :mod:`~connections_core.members`: members, roles and sign-outs;
* :mod:`~connections_core.checking`: Test, a draft's Test and Test all;
* :mod:`~connections_core.history`: every check's record, and a connection's health;
* :mod:`~connections_core.schedules`: how often each connection is checked in the
  background (:mod:`~connections_core.scheduler` runs the checks);
* :mod:`~connections_core.local_models`: an Ollama server's models;
* :mod:`~connections_core.key_rotation`: re-encrypting with a new key;
* :mod:`~connections_core.transfers`: what a backup takes out and puts back;
* :mod:`~connections_core.activity`: the audit trail;
* :mod:`~connections_core.alerts`: the workspace's alert webhook;
* :mod:`~connections_core.app_access`: the tokens applications read credentials with.

Every room stands on one :class:`~connections_core.scope.Scope` (who is acting,
where, and whether they may: the access rule) and reaches the store only through
its :class:`~connections_core.records.Records`.  Which store, and which key, is
:mod:`~connections_core.environment`'s business.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from . import checks, crypto, environment, http, ollama
from .activity import Activity
from .alerts import AlertDelivery, Alerts, AlertWebhook
from .app_access import DEFAULT_EXPIRY, AppAccess, AppToken
from .checking import Checking
from .connections import Connections
from .history import DEFAULT_LIMIT, CheckRecord, Health, History
from .inputs import checked_timeout, checked_workspace
from .key_rotation import KeyRotation
from .local_models import PULL_SILENCE_LIMIT, LocalModels
from .members import Members
from .models import AuditEntry, Connection, Member, ResidualSecret, Role, Status
from .permissions import permission_warnings
from .providers import TestResult
from .schedules import Schedules
from .scope import DEFAULT_AUDIT_DAYS, DEFAULT_HISTORY_DAYS, Clock, Scope, utc_now
from .storage import Store
from .transfers import Transfers

__all__ = ["ConnectionService"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def _as(room_method: Callable[..., Any]) -> Callable[[F], F]:
    """Give a service method the docstring of the room's method it hands over to."""
    def documented(method: F) -> F:
        method.__doc__ = room_method.__doc__
        return method
    return documented


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
    :param history_days: check records older than this many days are dropped.
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
                 clock: Clock = utc_now, audit_days: int = DEFAULT_AUDIT_DAYS,
                 history_days: int = DEFAULT_HISTORY_DAYS) -> None:
        self._scope = Scope(store, keyring, workspace_id, actor=actor, admins=admins,
                            timeout=timeout, clock=clock, audit_days=audit_days,
                            history_days=history_days)
        self._connections = Connections(self._scope)
        self._members = Members(self._scope)
        self._checking = Checking(self._scope)
        self._local_models = LocalModels(self._scope)
        self._key_rotation = KeyRotation(self._scope)
        self._transfers = Transfers(self._scope)
        self._activity = Activity(self._scope)
        self._history = History(self._scope)
        self._alerts = Alerts(self._scope)
        self._schedules = Schedules(self._scope)
        self._app_access = AppAccess(self._scope)

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
        ``CONNECTIONS_AUDIT_DAYS`` how long audit entries are kept (default 365),
        ``CONNECTIONS_HISTORY_DAYS`` how long check records are kept (default 30).
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
        # The workspace is checked before anything (even the data folder) is made.
        checked_workspace(workspace_id)
        opened = environment.open_from_env(environ)
        service = cls(opened.store, opened.keyring, workspace_id, actor=actor,
                      admins=opened.admins, audit_days=opened.audit_days,
                      history_days=opened.history_days)
        service.key_source, service.key_file = opened.key_source, opened.key_file
        for warning in service.file_warnings():
            log.warning("%s", warning)
        return service

    def in_workspace(self, workspace_id: str) -> ConnectionService:
        """This service (same store, keys, actor, clock and settings) bound to another
        workspace."""
        other = ConnectionService(self.store, self.keyring, workspace_id, actor=self.actor,
                                  admins=self.admins, timeout=self.timeout,
                                  clock=self._scope.clock, audit_days=self.audit_days,
                                  history_days=self.history_days)
        other.key_source, other.key_file = self.key_source, self.key_file
        other.trusted_actor = self.trusted_actor
        return other

    def file_warnings(self) -> builtins.list[str]:
        """Sentences about the key file or data folder being readable by others
        (empty when all is well); screens show them, ``from_env`` logs them."""
        return permission_warnings(None, self.key_file) + self._scope.records.file_warnings()

    def __repr__(self) -> str:
        who = f" actor={self.actor!r}" if self.actor else ""
        return f"<ConnectionService workspace={self.workspace_id!r}{who} store={self.store!r}>"

    # -- the scope: who is acting, where, with what settings -------------------------------

    @property
    def store(self) -> Store:
        """Where records live (shared by every workspace)."""
        return self._scope.records.store

    @property
    def keyring(self) -> crypto.KeyRing:
        return self._scope.records.keyring

    @property
    def workspace_id(self) -> str:
        return self._scope.workspace_id

    @property
    def actor(self) -> str | None:
        """The signed-in person's e-mail address; None for trusted code."""
        return self._scope.actor

    @property
    def admins(self) -> frozenset[str]:
        return self._scope.admins

    @property
    def audit_days(self) -> int:
        return self._scope.audit_days

    @property
    def history_days(self) -> int:
        return self._scope.history_days

    @property
    def timeout(self) -> float:
        """Seconds each provider request may take."""
        return self._scope.timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self._scope.timeout = checked_timeout(seconds, "timeout")

    @property
    def trusted_actor(self) -> str:
        """Who trusted code is in the audit trail: ``"local"``, or ``"cli"`` for the
        command line."""
        return self._scope.trusted_actor

    @trusted_actor.setter
    def trusted_actor(self, name: str) -> None:
        self._scope.trusted_actor = name

    @property
    def is_instance_admin(self) -> bool:
        """Whether the actor is an instance administrator (False for trusted code)."""
        return self._scope.is_instance_admin

    @property
    def role(self) -> Role | None:
        """The actor's role in this workspace: ``"admin"`` for an instance admin,
        ``None`` when they have no access, and ``None`` for trusted code (which
        is not restricted)."""
        return self._scope.role

    def can(self, operation: str) -> bool:
        """Whether the actor may call the method named ``operation`` (e.g. ``"create"``)
        here (on themselves, for ``sign_out``); screens use it to offer only what a
        role allows."""
        return self._scope.can(operation)

    # -- connections (connections_core.connections) -----------------------------------------

    @_as(Connections.list)
    def list(self, type: str | None = None) -> builtins.list[Connection]:
        return self._connections.list(type)

    @_as(Connections.list_deleted)
    def list_deleted(self) -> builtins.list[Connection]:
        return self._connections.list_deleted()

    @_as(Connections.list_every_workspace)
    def list_every_workspace(self) -> builtins.list[Connection]:
        return self._connections.list_every_workspace()

    @_as(Connections.get)
    def get(self, id: str) -> Connection:
        return self._connections.get(id)

    @_as(Connections.get_default)
    def get_default(self, type: str) -> Connection | None:
        return self._connections.get_default(type)

    @_as(Connections.resolve_config)
    def resolve_config(self, type: str, id: str | None = None) -> dict[str, str]:
        return self._connections.resolve_config(type, id)

    @_as(Connections.create)
    def create(self, type: str, name: str, config: Mapping[str, Any],
               initial_status: Status | None = None, *,
               checked: TestResult | None = None) -> Connection:
        return self._connections.create(type, name, config, initial_status, checked=checked)

    @_as(Connections.update)
    def update(self, id: str, version: int, name: str | None = None,
               config: Mapping[str, Any] | None = None, *,
               checked: TestResult | None = None) -> Connection:
        return self._connections.update(id, version, name, config, checked=checked)

    @_as(Connections.delete)
    def delete(self, id: str) -> Connection:
        return self._connections.delete(id)

    @_as(Connections.restore)
    def restore(self, id: str) -> Connection:
        return self._connections.restore(id)

    @_as(Connections.set_default)
    def set_default(self, id: str) -> Connection:
        return self._connections.set_default(id)

    @_as(Connections.needs_key_again)
    def needs_key_again(self, id: str, config: Mapping[str, Any]) -> bool:
        return self._connections.needs_key_again(id, config)

    @_as(Connections.purge_deleted)
    def purge_deleted(self, before: datetime) -> builtins.list[Connection]:
        return self._connections.purge_deleted(before)

    # -- members and sign-outs (connections_core.members) -----------------------------------

    @_as(Members.workspaces)
    def workspaces(self) -> builtins.list[str]:
        return self._members.workspaces()

    #: The name :meth:`workspaces` had when it refused a stranger; kept for callers.
    accessible_workspaces = workspaces

    @_as(Members.members)
    def members(self) -> builtins.list[Member]:
        return self._members.members()

    @_as(Members.set_member)
    def set_member(self, email: str, role: str) -> Member:
        return self._members.set_member(email, role)

    @_as(Members.remove_member)
    def remove_member(self, email: str) -> None:
        self._members.remove_member(email)

    @_as(Members.sign_out)
    def sign_out(self, email: str | None = None) -> datetime:
        return self._members.sign_out(email)

    @_as(Members.signed_out_at)
    def signed_out_at(self, email: str | None = None) -> datetime | None:
        return self._members.signed_out_at(email)

    @_as(Members.session_ended)
    def session_ended(self, issued_at: object) -> bool:
        return self._members.session_ended(issued_at)

    # -- checks (connections_core.checking) -------------------------------------------------

    @_as(Checking.test)
    def test(self, id: str) -> TestResult:
        return self._checking.test(id)

    @_as(Checking.start_test)
    def start_test(self, id: str) -> Future[TestResult]:
        return self._checking.start_test(id)

    @_as(Checking.test_draft)
    def test_draft(self, type: str, config: Mapping[str, Any], *,
                   existing_id: str | None = None) -> TestResult:
        return self._checking.test_draft(type, config, existing_id=existing_id)

    @_as(Checking.start_test_draft)
    def start_test_draft(self, type: str, config: Mapping[str, Any], *,
                         existing_id: str | None = None) -> Future[TestResult]:
        return self._checking.start_test_draft(type, config, existing_id=existing_id)

    @_as(Checking.iter_test_all)
    def iter_test_all(self) -> Iterator[tuple[Connection, TestResult]]:
        return self._checking.iter_test_all()

    @_as(Checking.test_all)
    def test_all(self) -> dict[str, TestResult]:
        return self._checking.test_all()

    @_as(Checking.start_test_all)
    def start_test_all(self) -> checks.TestAllRun:
        return self._checking.start_test_all()

    # -- scheduled checks (connections_core.schedules) ---------------------------------------

    @_as(Schedules.set_schedule)
    def set_schedule(self, id: str, minutes: int) -> Connection:
        return self._schedules.set_schedule(id, minutes)

    # -- an Ollama server's models (connections_core.local_models) --------------------------

    @_as(LocalModels.refresh_ollama_models)
    def refresh_ollama_models(self, id: str) -> builtins.list[ollama.OllamaModel]:
        return self._local_models.refresh_ollama_models(id)

    @_as(LocalModels.ollama_models)
    def ollama_models(self, id: str) -> builtins.list[ollama.OllamaModel]:
        return self._local_models.ollama_models(id)

    @_as(LocalModels.ollama_version)
    def ollama_version(self, id: str) -> str:
        return self._local_models.ollama_version(id)

    @_as(LocalModels.running_models)
    def running_models(self, id: str) -> builtins.list[ollama.RunningModel]:
        return self._local_models.running_models(id)

    @_as(LocalModels.model_details)
    def model_details(self, id: str, name: str) -> ollama.ModelInfo:
        return self._local_models.model_details(id, name)

    @_as(LocalModels.pull_model)
    def pull_model(self, id: str, name: str, *, timeout: float = PULL_SILENCE_LIMIT
                   ) -> ollama.Pull:
        return self._local_models.pull_model(id, name, timeout=timeout)

    @_as(LocalModels.delete_model)
    def delete_model(self, id: str, name: str) -> None:
        self._local_models.delete_model(id, name)

    # -- keys, backups and the audit trail ---------------------------------------------------

    @_as(KeyRotation.rotate_keys)
    def rotate_keys(self, *, reseal: Iterable[ResidualSecret] = ()) -> int:
        return self._key_rotation.rotate_keys(reseal=reseal)

    @_as(KeyRotation.residual_secrets)
    def residual_secrets(self) -> builtins.list[ResidualSecret]:
        return self._key_rotation.residual_secrets()

    @_as(Transfers.backup_records)
    def backup_records(self) -> builtins.list[dict[str, Any]]:
        return self._transfers.backup_records()

    @_as(Transfers.import_records)
    def import_records(self, records: Iterable[Mapping[str, Any]],
                       members: Iterable[Mapping[str, Any]] = ()) -> None:
        self._transfers.import_records(records, members)

    @_as(Activity.audit)
    def audit(self, limit: int = 100, *, actor: str | None = None, action: str | None = None,
              since: datetime | None = None) -> builtins.list[AuditEntry]:
        return self._activity.audit(limit, actor=actor, action=action, since=since)

    # -- the check history (connections_core.history) ---------------------------------------

    @_as(History.history)
    def history(self, id: str, *, since: datetime | None = None,
                limit: int = DEFAULT_LIMIT) -> builtins.list[CheckRecord]:
        return self._history.history(id, since=since, limit=limit)

    @_as(History.health)
    def health(self, id: str, *, since: datetime | None = None) -> Health:
        return self._history.health(id, since=since)
    # -- alerts (connections_core.alerts) ---------------------------------------------------

    @_as(Alerts.set_alert_webhook)
    def set_alert_webhook(self, url: str | None) -> AlertWebhook:
        return self._alerts.set_alert_webhook(url)

    @_as(Alerts.alert_webhook)
    def alert_webhook(self) -> AlertWebhook:
        return self._alerts.alert_webhook()

    @_as(Alerts.send_test_alert)
    def send_test_alert(self) -> AlertDelivery:
        return self._alerts.send_test_alert()

    # -- application access (connections_core.app_access) -------------------------------------

    @_as(AppAccess.create_app_token)
    def create_app_token(self, name: str, *, types: Iterable[str] | None = None,
                         expires_in: timedelta = DEFAULT_EXPIRY) -> tuple[AppToken, str]:
        return self._app_access.create_app_token(name, types=types, expires_in=expires_in)

    @_as(AppAccess.app_tokens)
    def app_tokens(self) -> builtins.list[AppToken]:
        return self._app_access.app_tokens()

    @_as(AppAccess.revoke_app_token)
    def revoke_app_token(self, id: str) -> AppToken:
        return self._app_access.revoke_app_token(id)
