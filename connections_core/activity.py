"""Activity: reading a workspace's audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from . import access
from .errors import ValidationError
from .models import AuditEntry
from .scope import TRUSTED_ACTORS, Room

_CLOCK_SKEW = timedelta(days=1)  # how far two processes' clocks may disagree


class Activity(Room):
    """The audit trail of the scope's workspace."""

    def audit(self, limit: int = 100, *, actor: str | None = None, action: str | None = None,
              since: datetime | None = None) -> list[AuditEntry]:
        """This workspace's audit trail, newest first.

        :param limit: at most this many entries.
        :param actor: only entries by this e-mail address (or ``"local"``).
        :param action: only entries with this action, e.g. ``"connection.updated"``.
        :param since: only entries at or after this time.
        """
        self.scope.authorize("audit")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValidationError({"limit": "The limit is a whole number, 0 or more."})
        if since is not None and not isinstance(since, datetime):
            raise ValidationError({"since": "Since is a date and time."})
        who = None if actor is None else (
            actor if actor in TRUSTED_ACTORS else access.checked_email(actor, "actor"))
        oldest = self.scope.clock() - timedelta(days=self.scope.audit_days)
        if since is not None:
            oldest = max(oldest, since if since.tzinfo else since.replace(tzinfo=UTC))
        found: list[AuditEntry] = []
        for raw in self.records.audit_entries():
            if len(found) >= limit:
                break
            entry = _to_audit_entry(raw)
            if entry is None or entry.workspace_id != self.scope.workspace_id:
                continue
            if entry.at < oldest - _CLOCK_SKEW:
                break  # appended in time order, give or take the clocks of two processes
            if entry.at >= oldest and (who is None or entry.actor == who) \
                    and (action is None or entry.action == action):
                found.append(entry)
        return found


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
