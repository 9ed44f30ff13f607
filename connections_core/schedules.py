"""Schedules: how often each connection is checked in the background.

A connection's record keeps its ``schedule_minutes`` (one of
:data:`~connections_core.models.SCHEDULE_MINUTES`; 0, the default, is never) and,
while it has one, ``next_check_at``: when its next check is due.  Setting a
schedule is :meth:`Schedules.set_schedule`; running the due checks is the
scheduler's (:mod:`connections_core.scheduler`), which claims a check by moving
its time on with :func:`next_due`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .errors import ValidationError
from .models import SCHEDULE_MINUTES, Connection
from .records import schedule_minutes
from .scope import Room
from .text import shown

__all__ = ["Schedules", "checked_minutes", "next_due"]


class Schedules(Room):
    """The schedules of the scope's workspace's connections."""

    def set_schedule(self, id: str, minutes: int) -> Connection:
        """Check a connection in the background every ``minutes`` minutes (1, 5, 15 or
        60), or never (0, the default).

        The first check is due at once; the app's server (or ``python -m
        connections_core watch``) runs it, then one every ``minutes``.  The change is
        recorded (``connection.schedule_set``); setting the schedule it already has
        changes nothing.  Editors and admins may set it.

        :raises ValidationError: ``minutes`` is not one of those.
        :raises NotFoundError: no such (undeleted) connection.
        """
        self.scope.authorize("set_schedule")
        minutes = checked_minutes(minutes)
        with self.records.transaction() as tx:
            doc = self.records.active_doc(tx, id)
            if schedule_minutes(doc) == minutes and (minutes == 0 or doc.get("next_check_at")):
                return self.records.to_connection(doc)
            changes = {"schedule_minutes": minutes,
                       "next_check_at": self.records.now() if minutes else None}
            tx.update_connection(self.scope.workspace_id, id, changes)
            self.records.audit(tx, "connection.schedule_set", doc, minutes=minutes)
        return self.records.to_connection({**doc, **changes})


def checked_minutes(value: Any) -> int:
    """How often to check, in minutes: one of :data:`SCHEDULE_MINUTES`.

    :raises ValidationError: anything else, naming the allowed values.
    """
    if type(value) is int and value in SCHEDULE_MINUTES:
        return value
    every = ", ".join(str(m) for m in SCHEDULE_MINUTES[1:-1])
    raise ValidationError({"minutes": (
        f"A connection is checked every {every} or {SCHEDULE_MINUTES[-1]} minutes, or "
        f"never (0), not every '{shown(value, 40)}'.")})


def next_due(due: datetime, minutes: int, now: datetime) -> datetime:
    """When a check due at ``due`` and claimed at ``now`` is due next: one period after
    it was due, so the schedule holds; or, for a check that fell behind (the process
    was down), one period from ``now``, so that it runs once, not once per period missed."""
    following = due + timedelta(minutes=minutes)
    return following if following > now else now + timedelta(minutes=minutes)
