"""Application access: tokens that let an application read its workspace's default
credentials over HTTP, without the encryption key and without reading the store.

A workspace's admins make a token for each application, limited to the provider
types it needs and to a lifetime (90 days by default, a year at most)::

    token, secret = service.create_app_token("billing-worker", types=["openai"])
    secret                      # "cnx_..." shown once; only its SHA-256 is stored
    service.revoke_app_token(token.id)

and the application asks the dashboard's server (``GET /api/v1/credentials/openai``
with ``Authorization: Bearer cnx_...``), which answers through :class:`CredentialsGate`:
the token's workspace's default connection of that type, exactly as
:meth:`ConnectionService.resolve_config` gives it, each answer recorded as one
``credentials.resolved`` audit entry.  Nothing about a token is cached: every
request reads it from the store, so a revoked token stops working on every replica
at once.

What a leaked token reaches: the keys of its types in its workspace, until it
expires or is revoked, at most :data:`RATE_LIMIT` answers a minute per replica,
each recorded.  Not the encryption key, not another workspace, not the connections
themselves (it can't list, change or check anything).
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from . import crypto
from .errors import ConnectionsError, NotFoundError, PermissionDeniedError, ValidationError
from .inputs import checked_name
from .providers import PROVIDERS, get_provider
from .records import Records, parse_time
from .scope import DEFAULT_AUDIT_DAYS, Clock, Room, utc_now
from .storage import Record, Store, Transaction
from .text import shown

__all__ = ["DEFAULT_EXPIRY", "MAX_EXPIRY", "RATE_LIMIT", "TOKEN_PREFIX", "AppAccess", "AppToken",
           "Credentials", "CredentialsGate", "RateLimitedError", "TokenRefusedError",
           "token_hash"]

TOKEN_PREFIX = "cnx_"  # noqa: S105  (what every token starts with, not a token)
DEFAULT_EXPIRY = timedelta(days=90)
MAX_EXPIRY = timedelta(days=365)
#: Answers a token gets per minute, per process (a replica counts its own).
RATE_LIMIT = 60
RATE_WINDOW = 60.0  # seconds
#: How often a token's "last used" is written at most: every answer is in the audit
#: trail anyway, and on the data file writing a token rewrites the file.
LAST_USED_EVERY = timedelta(minutes=1)
_SECRET_BYTES = 32
_SECRET_MAX = 200  # characters of a presented token that are looked at
#: The one answer to a token that is missing, unknown, expired or revoked.
REFUSED = ("The application token is missing, unknown, expired or revoked. Ask an admin of "
           "the workspace for a new one (Settings, Application access).")

TokenStatus = Literal["active", "expired", "revoked"]
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


def token_hash(secret: str) -> str:
    """What is stored of a token's secret: its SHA-256, in hex.  A secret is 256 random
    bits, so a fast hash is enough: nobody can guess one to match."""
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class AppToken:
    """An application token as its workspace's admins see it (never its secret).

    ``types`` is None when the token may read every provider type.
    """

    id: str
    workspace_id: str
    name: str
    types: tuple[str, ...] | None
    created_by: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def status(self, now: datetime) -> TokenStatus:
        """``revoked``, ``expired`` (at ``now``) or ``active``."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if now >= self.expires_at else "active"

    def allows(self, type: str) -> bool:
        return self.types is None or type in self.types


@dataclass(frozen=True)
class Credentials:
    """What an application gets for a type: the default connection and its config,
    decrypted (so the config is left out of ``repr``)."""

    type: str
    connection_id: str
    name: str
    config: dict[str, str] = field(repr=False)

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "connection_id": self.connection_id, "name": self.name,
                "config": dict(self.config)}


class TokenRefusedError(ConnectionsError):
    """The token is missing, unknown, expired or revoked (the same words for each)."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


class RateLimitedError(ConnectionsError):
    """The token asked more than :data:`RATE_LIMIT` times in the last minute."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"This application token asked more than {RATE_LIMIT} times in a "
                         f"minute. Retry after {retry_after} s.")


def _to_token(record: Mapping[str, Any]) -> AppToken:
    types = record.get("types")
    return AppToken(
        id=str(record.get("id")), workspace_id=str(record.get("workspace_id")),
        name=str(record.get("name")),
        types=tuple(t for t in types if isinstance(t, str)) if isinstance(types, list) else None,
        created_by=str(record.get("created_by")),
        created_at=parse_time(record.get("created_at")) or _LONG_AGO,
        expires_at=parse_time(record.get("expires_at")) or _LONG_AGO,  # damaged: expired
        last_used_at=parse_time(record.get("last_used_at")),
        revoked_at=parse_time(record.get("revoked_at")))


class AppAccess(Room):
    """The scope's workspace's application tokens; only its admins (and trusted code)
    may see and change them."""

    def create_app_token(self, name: str, *, types: Iterable[str] | None = None,
                         expires_in: timedelta = DEFAULT_EXPIRY) -> tuple[AppToken, str]:
        """A new token named ``name`` (unique among the workspace's tokens not revoked)
        that reads the default connections of ``types`` (every type when None), for
        ``expires_in`` (at most a year), and its secret: shown this once, never stored.

        :raises ValidationError: a name, type or lifetime that can't be used.
        """
        self.scope.authorize("create_app_token")
        errors: dict[str, str] = {}
        clean_name = checked_name(name, errors)
        clean_types = _checked_types(types, errors)
        if not isinstance(expires_in, timedelta) or not (
                timedelta(minutes=1) <= expires_in <= MAX_EXPIRY):
            errors["expires_in"] = ("A token lasts from a minute to a year (365 days); "
                                    "make a new one when it ends.")
        if errors:
            raise ValidationError(errors)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
        now = self.scope.clock().astimezone(UTC)
        record: Record = {
            "workspace_id": self.scope.workspace_id, "id": str(uuid.uuid4()),
            "name": clean_name, "types": clean_types, "hash": token_hash(secret),
            "created_by": self.scope.actor_name, "created_at": now.isoformat(),
            "expires_at": (now + expires_in).isoformat(), "last_used_at": None,
            "revoked_at": None}
        with self.records.transaction() as tx:
            taken = {t.get("name") for t in tx.app_tokens(self.scope.workspace_id)
                     if not t.get("revoked_at")}
            if clean_name in taken:
                raise ValidationError({"name": f"A token named '{clean_name}' exists already: "
                                               "choose another name, or revoke that one."})
            tx.put_app_token(record)
            self.records.audit(tx, "app_token.created", record, types=clean_types,
                               expires_at=record["expires_at"])
        return _to_token(record), secret

    def app_tokens(self) -> builtins.list[AppToken]:
        """The workspace's tokens, revoked and expired ones too, the newest first."""
        self.scope.authorize("app_tokens")
        tokens = [_to_token(r) for r in self.records.store.app_tokens(self.scope.workspace_id)]
        return sorted(tokens, key=lambda t: t.created_at, reverse=True)

    def revoke_app_token(self, id: str) -> AppToken:
        """Stop token ``id`` from working, on every replica, from now on (revoking a
        revoked token changes nothing).

        :raises NotFoundError: no such token in this workspace.
        """
        self.scope.authorize("revoke_app_token")
        with self.records.transaction() as tx:
            record = next((t for t in tx.app_tokens(self.scope.workspace_id)
                           if t.get("id") == id), None)
            if record is None:
                raise NotFoundError(f"There is no application token '{shown(str(id), 60)}' in "
                                    f"workspace '{self.scope.workspace_id}'.", str(id))
            if not record.get("revoked_at"):
                record = {**record, "revoked_at": self.records.now()}
                tx.put_app_token(record)
                self.records.audit(tx, "app_token.revoked", record)
        return _to_token(record)


def _checked_types(types: Iterable[str] | None, errors: dict[str, str]) -> list[str] | None:
    if types is None:
        return None
    if isinstance(types, str):
        types = [types]
    try:
        chosen = sorted(set(types))
    except TypeError:
        errors["types"] = "Types are provider type names, such as 'openai'."
        return None
    unknown = [t for t in chosen if t not in PROVIDERS]
    if unknown or not chosen:
        errors["types"] = (f"Choose one or more of: {', '.join(PROVIDERS)} (or none for "
                           "every type).")
    return chosen


class _RateLimit:
    """At most ``limit`` uses per ``window`` seconds per token, in this process."""

    def __init__(self, limit: int, window: float, monotonic: Callable[[], float]) -> None:
        self._limit, self._window, self._monotonic = limit, window, monotonic
        self._uses: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, token_id: str) -> None:
        """:raises RateLimitedError: the token used its minute's answers."""
        now = self._monotonic()
        with self._lock:
            uses = self._uses.setdefault(token_id, deque())
            while uses and uses[0] <= now - self._window:
                uses.popleft()
            if len(uses) >= self._limit:
                raise RateLimitedError(max(1, int(uses[0] + self._window - now + 0.999)))
            uses.append(now)
            if len(self._uses) > 10_000:  # tokens not seen for a minute are forgotten
                for stale in [k for k, v in self._uses.items() if not v or v[-1] <= now - 60]:
                    del self._uses[stale]


class CredentialsGate:
    """Answers applications: the credentials a token may read, each answer recorded.

    One per process (its rate limit counts this process's answers).

    :param store: where tokens and connections live.
    :param keyring: opens the connections' secrets.
    """

    def __init__(self, store: Store, keyring: crypto.KeyRing, *, clock: Clock = utc_now,
                 audit_days: int = DEFAULT_AUDIT_DAYS, rate_limit: int = RATE_LIMIT,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store, self._keyring, self._clock = store, keyring, clock
        self._audit_days = audit_days
        self._rate = _RateLimit(rate_limit, RATE_WINDOW, monotonic)

    def resolve(self, secret: str | None, type: str) -> Credentials:
        """The default connection of ``type`` in the workspace of the token whose secret
        is ``secret``, decrypted, recorded as ``credentials.resolved`` before it is given.

        :raises TokenRefusedError: the token is missing, unknown, expired or revoked.
        :raises RateLimitedError: it asked too often in the last minute.
        :raises PermissionDeniedError: ``type`` is outside the token's types.
        :raises NotFoundError: the workspace has no default of ``type`` (or no such type).
        :raises ConnectionsError: the store can't be read or written, or the key opened.
        """
        token = self._token(secret)
        self._rate.take(token.id)
        if not token.allows(type):
            allowed = ", ".join(token.types or ())
            raise PermissionDeniedError(
                f"This application token reads only {allowed}, not '{shown(type, 40)}'. Ask "
                "an admin for a token that includes it.", "credentials")
        if type not in PROVIDERS:
            raise NotFoundError(f"There is no provider type '{shown(type, 40)}'; the types "
                                f"are: {', '.join(PROVIDERS)}.")
        records = Records(self._store, self._keyring, token.workspace_id, clock=self._clock,
                          audit_days=self._audit_days,
                          actor_name=lambda: f"app token '{token.name}'")
        with records.transaction() as tx:
            default = tx.default_connection(token.workspace_id, type)
            if default is None or default.get("deleted_at"):
                raise NotFoundError(
                    f"There is no default {get_provider(type).display_name} connection in "
                    "this token's workspace. Ask an admin to make one the default.")
            records.refuse_damaged(default)  # a StoreError: the API says 503
            config = records.decrypted(default)
            records.audit(tx, "credentials.resolved", default, token=token.name, type=type)
            if token.last_used_at is None or \
                    self._clock() - token.last_used_at >= LAST_USED_EVERY:
                self._used(tx, token, records.now())
        return Credentials(type, str(default["id"]), str(default.get("name")), config)

    @staticmethod
    def _used(tx: Transaction, token: AppToken, now: str) -> None:
        """Note the token's use (Activity has every use: this is the list's "last used")."""
        stored = next((t for t in tx.app_tokens(token.workspace_id)
                       if t.get("id") == token.id), None)
        if stored is not None:
            tx.put_app_token({**stored, "last_used_at": now})

    def _token(self, secret: str | None) -> AppToken:
        if (not isinstance(secret, str) or not secret.startswith(TOKEN_PREFIX)
                or len(secret) > _SECRET_MAX or not secret.isascii()):
            raise TokenRefusedError()
        record = self._store.app_token(token_hash(secret))
        if record is None:
            raise TokenRefusedError()
        token = _to_token(record)
        if token.status(self._clock()) != "active":
            raise TokenRefusedError()
        return token
