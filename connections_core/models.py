"""The typed records that :class:`~connections_core.ConnectionService` returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .providers import PROVIDERS

Status = Literal["unconfigured", "connected", "error"]
STATUSES: tuple[Status, ...] = ("unconfigured", "connected", "error")
#: What each status is called wherever a person reads it: the dashboard's cards,
#: filters, Test all and toasts, and the command line.  One vocabulary.
STATUS_LABELS: Mapping[Status, str] = {"connected": "Connected", "error": "Error",
                                       "unconfigured": "Not checked"}

MASK = "••••"
#: How often a connection may be checked in the background, in minutes (0: never).
SCHEDULE_MINUTES: tuple[int, ...] = (0, 1, 5, 15, 60)


@dataclass(frozen=True)
class LastResult:
    """The outcome of the most recent check, as stored on a connection."""

    success: bool
    message: str
    kind: str
    latency_ms: int
    status_code: int | None = None


@dataclass(frozen=True)
class Connection:
    """A provider connection as users see it: never a secret, nor its ciphertext.

    In ``config`` a secret field shows as ``••••`` and its last four
    characters, with ``has_<field>`` set to true beside it.  ``version``
    changes whenever the name, the config or the deleted state changes; pass it
    back to :meth:`~connections_core.ConnectionService.update`.
    ``schedule_minutes`` is how often it is checked in the background (0: never,
    see :meth:`~connections_core.ConnectionService.set_schedule`), and
    ``next_check_at`` when that check is due next (None when not scheduled).
    """

    id: str
    workspace_id: str
    type: str
    name: str
    config: Mapping[str, Any]
    is_default: bool
    status: Status
    last_checked_at: datetime | None
    last_result: LastResult | None
    available_models: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int
    schedule_minutes: int = 0
    next_check_at: datetime | None = None

    @property
    def base_url(self) -> str:
        return str(self.config.get("baseUrl", ""))

    @property
    def where(self) -> str:
        """Where its checks and its keys go: the base URL for most providers, Azure's
        endpoint, Bedrock's region's endpoint (or its own)."""
        provider = PROVIDERS.get(self.type)
        return provider.where(self.config) if provider is not None else self.base_url

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


Role = Literal["viewer", "editor", "admin"]
#: The roles a member can have in a workspace, from least to most allowed.
ROLES: tuple[Role, ...] = ("viewer", "editor", "admin")


@dataclass(frozen=True)
class Member:
    """A person who may open a workspace, and what they may do there."""

    email: str
    role: Role
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """One change (or refused attempt) in a workspace's audit trail.

    ``actor`` is the signed-in person's e-mail, or ``"local"`` for trusted
    code.  ``details`` never holds a secret, nor any part of one.
    """

    at: datetime
    workspace_id: str
    actor: str
    action: str
    target_id: str | None
    target_name: str | None
    details: Mapping[str, Any]


Residue = Literal["previous_key", "no_key", "unbound"]


@dataclass(frozen=True)
class ResidualSecret:
    """A stored secret that the current key alone does not serve, and why: only a
    previous key decrypts it (``previous_key``), no key does (``no_key``: damaged,
    moved, or not a token at all), or it is an old token not bound to its record
    (``unbound``).  Names where it is and where it would be sent (``base_url``: the
    base URL, or the provider's endpoint or region, where an unbound one would go
    once re-sealed), never its value."""

    workspace_id: str
    name: str
    id: str
    field: str
    reason: Residue
    base_url: str | None = None
