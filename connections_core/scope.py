"""Scope: who is acting, in which workspace, with what settings.

Every room of the service (connections, members, checks, local models, ...) is
built on one :class:`Scope`, and each operation starts by asking it
(:meth:`Scope.authorize`) whether the actor may perform it, so the rule lives in
one place whichever room the operation is in.  The scope reaches the store only
through its :class:`~connections_core.records.Records`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from . import access, crypto, http
from .errors import EncryptionKeyError, PermissionDeniedError, StoreError, ValidationError
from .inputs import checked_audit_days, checked_history_days, checked_timeout, checked_workspace
from .models import Role
from .records import DEFAULT_HISTORY_DAYS, Records
from .storage import Store

__all__ = ["ADMINS_VARIABLE", "CLI_ACTOR", "DEFAULT_AUDIT_DAYS", "DEFAULT_HISTORY_DAYS",
           "LOCAL_ACTOR", "SCHEDULE_ACTOR", "TRUSTED_ACTORS", "Clock", "Room", "Scope"]

log = logging.getLogger(__name__)

ADMINS_VARIABLE = "CONNECTIONS_ADMINS"
DEFAULT_AUDIT_DAYS = 365
LOCAL_ACTOR = "local"  # who trusted code is, in the audit trail
CLI_ACTOR = "cli"  # who the command line is, in the audit trail
SCHEDULE_ACTOR = "schedule"  # who runs scheduled checks, in the audit trail
TRUSTED_ACTORS = (LOCAL_ACTOR, CLI_ACTOR, SCHEDULE_ACTOR)

#: What a refusal of an operation in access.OWN says a person may do.
_OWN_WORDS = {"sign_out": "sign yourself out",
              "signed_out_at": "see when you yourself signed out"}

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Scope:
    """One actor in one workspace: the context every operation runs in.

    :param store: where records live (shared by every workspace).
    :param keyring: encrypts new secrets; decrypts with the current or a previous key.
    :param workspace_id: the workspace every operation is scoped to.
    :param actor: the signed-in person's e-mail address, or ``None`` for trusted code.
    :param admins: the instance administrators' e-mail addresses.
    :param timeout: seconds each provider request may take.
    :param clock: returns the current time (tests pass a fixed one).
    :param audit_days: audit entries older than this many days are dropped.
    :param history_days: check records older than this many days are dropped.
    :raises EncryptionKeyError: the key ring can't decrypt the data in ``store``.
    :raises ValidationError: a value is invalid (naming it).
    """

    #: Who trusted code is in the audit trail: ``"local"``, or ``"cli"`` for the command line.
    trusted_actor: str = LOCAL_ACTOR

    def __init__(self, store: Store, keyring: crypto.KeyRing, workspace_id: str = "default", *,
                 actor: str | None = None, admins: Iterable[str] = (),
                 timeout: float = http.DEFAULT_TIMEOUT, clock: Clock = utc_now,
                 audit_days: int = DEFAULT_AUDIT_DAYS,
                 history_days: int = DEFAULT_HISTORY_DAYS) -> None:
        self.workspace_id = checked_workspace(workspace_id)
        self.actor = None if actor is None else access.checked_email(actor, "actor")
        self.admins = access.checked_emails(
            [admins] if isinstance(admins, str) else admins, "admins")
        self.timeout = checked_timeout(timeout, "timeout")
        self.audit_days = checked_audit_days(audit_days, "audit_days")
        self.history_days = checked_history_days(history_days, "history_days")
        self.clock = clock
        #: Measures how long a request took (monotonic seconds): every latency the
        #: operations record is timed with it, and checks are given it.
        self.ticks: Callable[[], float] = time.perf_counter
        self.records = Records(store, keyring, self.workspace_id, clock=clock,
                               audit_days=self.audit_days, actor_name=lambda: self.actor_name,
                               history_days=self.history_days)
        self.records.check_store_key()

    @property
    def demo(self) -> bool:
        """Whether this is the demo's own store, whose connections (and no others) may
        point at the demo's stand-in providers."""
        return self.records.store.demo

    @property
    def actor_name(self) -> str:
        """Who is acting, as the audit trail names them."""
        return self.actor or self.trusted_actor

    def check_source(self, otherwise: str) -> str:
        """Where a check a person runs comes from, in the check history: ``"cli"`` from
        the command line, else ``otherwise`` (``"manual"``, ``"test_all"``)."""
        return "cli" if self.actor is None and self.trusted_actor == CLI_ACTOR else otherwise

    def elapsed_ms(self, started: float) -> int:
        """Milliseconds since ``started`` (a reading of :attr:`ticks`)."""
        return max(0, round((self.ticks() - started) * 1000))

    # -- who may do what ---------------------------------------------------------------------

    @property
    def is_instance_admin(self) -> bool:
        return self.actor is not None and self.actor in self.admins

    @property
    def role(self) -> Role | None:
        if self.actor is None:
            return None
        if self.is_instance_admin:
            return "admin"
        member = self.member_doc(self.records.members(), self.actor)
        return access.checked_role(member["role"]) if member else None

    def can(self, operation: str) -> bool:
        return self.actor is None or access.allows(self.role, operation, own=True,
                                                   instance_admin=self.is_instance_admin)

    def authorize(self, operation: str, *, own: bool = False) -> None:
        """Refuse ``operation`` (on the actor themselves, when ``own``) unless the actor
        may perform it; a refusal is recorded.

        :raises PermissionDeniedError: with a sentence saying who may.
        """
        if self.actor is None:
            return
        role, admin = self.role, self.is_instance_admin
        if access.allows(role, operation, instance_admin=admin, own=own):
            return
        try:
            with self.records.transaction() as tx:
                self.records.audit(tx, "access.denied", None, operation=operation)
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

    def person(self, email: str | None) -> str:
        """The address ``email`` names, or the actor's when None."""
        if email is not None:
            return access.checked_email(email)
        if self.actor is None:
            raise ValidationError({"email": "Name whose sign-out this is: this service "
                                            "was built without an actor, for nobody "
                                            "signed in."})
        return self.actor

    def member_doc(self, docs: Iterable[Any], email: str) -> Any:
        """The member row of ``email`` in this workspace among ``docs``, or None."""
        return next((d for d in docs if d.get("workspace_id") == self.workspace_id
                     and d.get("email") == email), None)


class Room:
    """What every room of the service is built on: its scope, and the records it
    reaches the store through."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.records = scope.records
