"""History: every check of a connection, and its health over a time range.

Each check that is run (a card's Test, Test all, the command line's ``test``, a
scheduled check, a draft's Test of a saved connection) appends one record,
committed with the connection's status (:meth:`Records.record_results
<connections_core.records.Records.record_results>`).  A record says what the check
found, never its message: no text a server sent, no header, no key.  Records are
kept ``CONNECTIONS_HISTORY_DAYS`` days (30 by default), and go when their
connection is purged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import ValidationError
from .scope import Room

__all__ = ["DEFAULT_LIMIT", "CheckRecord", "Health", "History"]

DEFAULT_LIMIT = 500
HEALTH_SPAN = timedelta(hours=24)  # what health() looks at, unless told


@dataclass(frozen=True)
class CheckRecord:
    """One check of a connection: when, what it found, how long it took, and where it
    was run from (``"manual"``, ``"test_all"``, ``"schedule"`` or ``"cli"``)."""

    at: datetime  # aware, UTC
    connection_id: str
    success: bool
    kind: str  # a TestResult's kind: "ok", "auth", "timeout", ...
    latency_ms: int
    status_code: int | None
    source: str


@dataclass(frozen=True)
class Health:
    """A connection's checks over a time range, summed up.

    ``uptime`` is the share of checks that succeeded (None with no checks); the
    latencies are those of successful checks, by the nearest rank (None with none).
    """

    checks: int
    failures: int
    uptime: float | None
    latency_p50_ms: int | None
    latency_p95_ms: int | None
    last_success_at: datetime | None
    last_failure_at: datetime | None


class History(Room):
    """The check history of the scope's workspace's connections."""

    def history(self, id: str, *, since: datetime | None = None,
                limit: int = DEFAULT_LIMIT) -> list[CheckRecord]:
        """Connection ``id``'s checks, newest first.

        :param since: only checks at or after this time (all that are kept when None).
        :param limit: at most this many checks.
        :raises NotFoundError: no connection ``id`` in this workspace.
        :raises ValidationError: ``since`` is not a date and time, or ``limit`` is not
            a whole number, 0 or more.
        """
        self.scope.authorize("history")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValidationError({"limit": "The limit is a whole number, 0 or more "
                                            f"(e.g. {DEFAULT_LIMIT})."})
        oldest = self._oldest(since)
        self.records.record(id, damaged=True)  # refuses an id of another workspace
        rows = self.records.store.checks(self.scope.workspace_id, id, since=oldest,
                                         limit=limit)
        return [_check_record(row) for row in rows]

    def health(self, id: str, *, since: datetime | None = None) -> Health:
        """Connection ``id``'s health: its checks at or after ``since`` (the last 24
        hours when None), counted.

        :raises NotFoundError: no connection ``id`` in this workspace.
        :raises ValidationError: ``since`` is not a date and time.
        """
        self.scope.authorize("health")
        oldest = self._oldest(since if since is not None
                              else self.scope.clock() - HEALTH_SPAN)
        self.records.record(id, damaged=True)
        summary = self.records.store.check_summary(self.scope.workspace_id, id, since=oldest)
        checks, failures = summary["checks"], summary["failures"]
        return Health(checks=checks, failures=failures,
                      uptime=(checks - failures) / checks if checks else None,
                      latency_p50_ms=summary["latency_p50_ms"],
                      latency_p95_ms=summary["latency_p95_ms"],
                      last_success_at=_utc(summary["last_success_at"]),
                      last_failure_at=_utc(summary["last_failure_at"]))

    def _oldest(self, since: datetime | None) -> datetime:
        """The oldest time to read from: ``since``, but never before what is kept (the
        file store drops old records about once a day, not the moment they expire)."""
        if since is not None and not isinstance(since, datetime):
            raise ValidationError({"since": "Since is a date and time, e.g. "
                                            "datetime.now(UTC) - timedelta(days=7)."})
        kept = self.scope.clock() - timedelta(days=self.scope.history_days)
        if since is None:
            return kept
        return max(kept, since if since.tzinfo else since.replace(tzinfo=UTC))


def _check_record(row: Mapping[str, Any]) -> CheckRecord:
    at = row["at"]
    return CheckRecord(at=at if at.tzinfo is UTC else at.astimezone(UTC),
                       connection_id=row["connection_id"],
                       success=row["success"], kind=row["kind"], latency_ms=row["latency_ms"],
                       status_code=row["status_code"], source=row["source"])


def _utc(at: datetime | None) -> datetime | None:
    return None if at is None else at.astimezone(UTC)
