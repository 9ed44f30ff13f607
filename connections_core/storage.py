"""The storage seam: what the records layer needs from a store, and nothing more.

Two stores implement it: :class:`~connections_core.store.TinyDBStore` (one JSON
file, the embedded default) and :class:`~connections_core.postgres.PostgresStore`
(a PostgreSQL database, for several replicas).  Nothing above this seam knows
which one it runs on.

A store keeps these kinds of record, all plain ``dict`` values as JSON holds them:

* **connections**, identified by ``(workspace_id, id)``; the store keeps them
  as given (a record someone damaged by hand is still returned, so that it can
  be shown as damaged and deleted);
* **members**, identified by ``(workspace_id, email)``;
* **sign-outs**, identified by ``email`` alone (they hold for every workspace):
  when each person last signed out, which ends every identity issued before;
* **the key check**: one record (or none) proving which key the data was
  written with;
* **audit entries**, appended, read newest first;
* **check records**, one per check of a connection, appended, read newest
  first for one connection over a time range (see "the check history" below);
* **workspace settings**, one record (or none) per ``workspace_id``: what a
  workspace's admins set for the whole workspace (its alert webhook, sealed);
* **application tokens**, identified by ``(workspace_id, id)`` and found by the
  ``hash`` of their secret (the secret itself is never stored).

Reads outside a transaction are consistent per call.  Every change happens
inside :meth:`Store.transaction`: all of it, with the audit entries recorded
in it, is committed together or not at all, and transactions are serialised
(a transaction sees everything committed before it began, and nothing
committed by another one while it runs), so a read-check-write inside one
can't lose another process's write.  Records passed in and returned are
copies: changing one changes nothing until it is written back.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from .models import SCHEDULE_MINUTES

__all__ = ["CHECK_FIELDS", "Record", "Revision", "Store", "Transaction", "check_summary",
           "due_at", "nearest_rank"]

Record = dict[str, Any]
#: Identifies one version of a store's connections: equal revisions mean equal
#: data.  ``None`` means "unknown" and is never equal to anything.
Revision = Hashable | None


class Transaction(ABC):
    """The changes of one :meth:`Store.transaction`, and the reads they depend on.

    ``workspace_id=None`` on a read means every workspace.
    """

    # -- connections -------------------------------------------------------------------------

    @abstractmethod
    def connection(self, workspace_id: str, id: str) -> Record | None:
        """The connection with that id in that workspace (deleted ones too), or None."""

    @abstractmethod
    def connections(self, workspace_id: str | None, *, type: str | None = None,
                    active: bool = False, ids: Collection[str] | None = None) -> list[Record]:
        """The connections of a workspace (of one ``type``; only undeleted ones when
        ``active``; only those with one of ``ids``), in no particular order."""

    @abstractmethod
    def default_connection(self, workspace_id: str, type: str) -> Record | None:
        """The undeleted connection whose ``is_default`` is ``True``, or None."""

    @abstractmethod
    def insert_connection(self, record: Mapping[str, Any]) -> None:
        """Add a connection (its ``(workspace_id, id)`` is not taken)."""

    def insert_connections(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Many :meth:`insert_connection` calls at once: a store may do them in one pass."""
        for record in records:
            self.insert_connection(record)

    @abstractmethod
    def update_connection(self, workspace_id: str, id: str, changes: Mapping[str, Any]) -> None:
        """Set the top-level fields in ``changes`` on a stored connection."""

    def update_connections(self, updates: Iterable[tuple[str, str, Mapping[str, Any]]]
                           ) -> None:
        """Many :meth:`update_connection` calls, ``(workspace_id, id, changes)`` each, at
        once: a store may do them in one pass."""
        for workspace_id, id, changes in updates:
            self.update_connection(workspace_id, id, changes)

    @abstractmethod
    def replace_connection(self, record: Mapping[str, Any]) -> None:
        """Put ``record`` in place of the stored connection with its ``(workspace_id, id)``
        (fields it lacks are gone)."""

    @abstractmethod
    def remove_connections(self, workspace_id: str, ids: Iterable[str]) -> None:
        """Remove connections for good (purge), and their check records."""

    # -- members -----------------------------------------------------------------------------

    @abstractmethod
    def members(self, workspace_id: str) -> list[Record]:
        """The members of a workspace, in no particular order."""

    @abstractmethod
    def put_member(self, record: Mapping[str, Any]) -> None:
        """Add a member, or replace the one with its ``(workspace_id, email)``."""

    @abstractmethod
    def remove_member(self, workspace_id: str, email: str) -> None:
        """Remove a member (nothing happens if absent)."""

    # -- sign-outs ---------------------------------------------------------------------------

    @abstractmethod
    def sign_out(self, email: str) -> Record | None:
        """The sign-out recorded for ``email``, or None."""

    @abstractmethod
    def put_sign_out(self, record: Mapping[str, Any]) -> None:
        """Add a sign-out, or replace the one with its ``email``."""

    # -- the key check -----------------------------------------------------------------------

    @abstractmethod
    def key_check(self) -> Record | None:
        """The key check, or None before the first write."""

    @abstractmethod
    def set_key_check(self, record: Mapping[str, Any]) -> None:
        """Replace the key check."""

    @abstractmethod
    def remove_key_check(self) -> None:
        """Remove the key check, as if none was written yet (the service never does: it is
        for tests, standing in for someone who edits the store by hand)."""

    # -- the audit trail ---------------------------------------------------------------------

    @abstractmethod
    def record(self, entry: Mapping[str, Any]) -> None:
        """Append an audit entry, committed with this transaction's changes."""

    def record_entries(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Many :meth:`record` calls, in order, at once: a store may do them in one pass."""
        for entry in entries:
            self.record(entry)

    # -- the check history -------------------------------------------------------------------

    @abstractmethod
    def append_checks(self, entries: Iterable[Mapping[str, Any]], *,
                      cutoff: datetime | None = None) -> None:
        """Append check records (:data:`CHECK_FIELDS`, ``at`` as ISO 8601 text), committed
        with this transaction's changes; records older than ``cutoff`` may be dropped
        meanwhile.  A connection's records go with it when it is removed
        (:meth:`remove_connections`)."""

    # -- workspace settings ------------------------------------------------------------------

    @abstractmethod
    def workspace_settings(self, workspace_id: str | None) -> list[Record]:
        """The settings record of a workspace (a list of one, or empty when it has none),
        or of every workspace."""

    @abstractmethod
    def put_workspace_settings(self, record: Mapping[str, Any]) -> None:
        """Add a workspace's settings, or replace the record with its ``workspace_id``."""

    # -- application tokens ------------------------------------------------------------------

    @abstractmethod
    def app_tokens(self, workspace_id: str | None) -> list[Record]:
        """The application tokens of a workspace (or of every one), revoked and expired
        ones too, in no particular order."""

    @abstractmethod
    def put_app_token(self, record: Mapping[str, Any]) -> None:
        """Add an application token, or replace the one with its ``(workspace_id, id)``
        (its ``hash`` is unique among tokens)."""

    # -- scheduled checks --------------------------------------------------------------------

    def due_connections(self, now: datetime, limit: int) -> list[Record]:
        """The connections of every workspace whose scheduled check is due at ``now``
        (:func:`due_at`), the longest overdue first, at most ``limit``.

        They are the caller's until the transaction ends: it claims them by moving
        their ``next_check_at`` on in this transaction, and another transaction
        (another replica's claim) never gets them meanwhile.  A store may find them
        without reading every connection.
        """
        due = [(when, row) for row in self.connections(None)
               if (when := due_at(row)) is not None and when <= now]
        due.sort(key=lambda pair: pair[0])
        return [row for _, row in due[:limit]]


class Store(ABC):
    """Where connections, members, sign-outs, the key check, the audit trail and the
    workspaces' settings live."""

    #: A short name for messages and ``doctor``: ``"tinydb"`` or ``"postgresql"``.
    kind: str
    #: True only for the demo's own store (:mod:`connections_core.demo`): its
    #: connections, and no others, may point at the demo's stand-in providers.
    demo: bool = False

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the data is, for messages: "the data file /srv/data/connections.json",
        "the PostgreSQL database connections on db.internal:5432" (never a password)."""

    @abstractmethod
    def transaction(self, *, audit_cutoff: datetime | None = None
                    ) -> AbstractContextManager[Transaction]:
        """A serialised read-modify-write, committed when the block ends without an
        exception (and rolled back, with its audit entries, when it raises).

        Nested ``transaction()`` blocks in one thread join the outermost one.
        Audit entries older than ``audit_cutoff`` may be dropped meanwhile.

        :raises StoreError: the store can't be reached, locked, read or written.
        """

    # -- reading ---------------------------------------------------------------------------

    @abstractmethod
    def revision(self) -> Revision:
        """The current revision of the connections (cheap): a caller that built
        something from :meth:`connections` at this revision may keep it."""

    @abstractmethod
    def connections(self, workspace_id: str | None = None) -> tuple[Revision, list[Record]]:
        """``(revision, records)``: the connections of one workspace (every workspace
        when None), deleted ones too, read together.  Treat them as read-only."""

    def connection(self, workspace_id: str, id: str) -> Record | None:
        """One connection of a workspace (deleted ones too), or None; treat it as
        read-only.  A store may find it without reading the others."""
        _, rows = self.connections(workspace_id)
        return next((row for row in rows if row.get("id") == id), None)

    @abstractmethod
    def members(self, workspace_id: str | None = None) -> list[Record]:
        """The members of one workspace (every workspace when None)."""

    @abstractmethod
    def sign_out(self, email: str) -> Record | None:
        """The sign-out recorded for ``email``, or None (read on every run of a
        signed-in page, so a store finds it without reading the others)."""

    @abstractmethod
    def key_check(self) -> Record | None:
        """The key check, or None when none was written yet."""

    @abstractmethod
    def audit_entries(self, workspace_id: str | None = None) -> Iterator[Record]:
        """The committed audit entries of one workspace (every workspace when None),
        newest first, read lazily: stopping early costs nothing more."""

    # -- the check history -----------------------------------------------------------------
    # Read on every rerun of the dashboard, for each card shown: a store finds one
    # connection's records over a time range without reading anyone else's.

    @abstractmethod
    def checks(self, workspace_id: str, connection_id: str, *, since: datetime,
               limit: int | None) -> list[Record]:
        """The committed check records of one connection at or after ``since``, newest
        first, at most ``limit`` (all when None): :data:`CHECK_FIELDS`, ``at`` an aware
        datetime."""

    def check_summary(self, workspace_id: str, connection_id: str, *,
                      since: datetime) -> Record:
        """What :func:`check_summary` says of :meth:`checks`: a store may count without
        reading every record."""
        return check_summary(self.checks(workspace_id, connection_id, since=since, limit=None))

    # -- workspace settings ----------------------------------------------------------------

    @abstractmethod
    def workspace_settings(self, workspace_id: str | None = None) -> list[Record]:
        """The settings record of one workspace (a list of one, or empty), or of every
        workspace when None; read when a check changes a status, so a store finds one
        without reading the others."""

    # -- application tokens ----------------------------------------------------------------

    @abstractmethod
    def app_token(self, hash: str) -> Record | None:
        """The application token whose ``hash`` is ``hash``, or None: read on every
        request an application makes, so a store finds it without reading the others."""

    @abstractmethod
    def app_tokens(self, workspace_id: str | None = None) -> list[Record]:
        """The application tokens of one workspace, or of every workspace when None."""

    # -- scheduled checks --------------------------------------------------------------------

    def next_check_at(self) -> datetime | None:
        """When the next scheduled check of any workspace is due (:func:`due_at`), or None
        when nothing is scheduled: cheap, read by the scheduler between claims."""
        return min(filter(None, map(due_at, self.connections()[1])), default=None)

    # -- about the store -------------------------------------------------------------------

    def size_bytes(self) -> int | None:
        """How much room the data takes, when the store can say (None otherwise)."""
        return None

    def file_warnings(self) -> list[str]:
        """Sentences about files others on this machine could read (none by default)."""
        return []

    def close(self) -> None:  # noqa: B027  (most stores hold nothing to release)
        """Release what the store holds (connections to a server); idempotent."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- the check history ------------------------------------------------------------------------

#: What a check record holds: never a message, a header or a key.
CHECK_FIELDS = ("at", "workspace_id", "connection_id", "success", "kind", "latency_ms",
                "status_code", "source")


def nearest_rank(ordered: Sequence[int], fraction: float) -> int | None:
    """The ``fraction`` percentile of ``ordered`` (sorted) by the nearest rank: the
    smallest value with at least that fraction of the values at or below it (what
    PostgreSQL's ``percentile_disc`` gives); None for no values."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def check_summary(records: Iterable[Mapping[str, Any]]) -> Record:
    """``checks``, ``failures``, ``latency_p50_ms`` and ``latency_p95_ms`` (of the
    successful checks), ``last_success_at`` and ``last_failure_at`` of check records."""
    checks = failures = 0
    latencies: list[int] = []
    last: dict[bool, datetime | None] = {True: None, False: None}
    for record in records:
        checks += 1
        success = record["success"] is True
        failures += not success
        if success:
            latencies.append(record["latency_ms"])
        at = last[success]
        last[success] = record["at"] if at is None else max(at, record["at"])
    latencies.sort()
    return {"checks": checks, "failures": failures,
            "latency_p50_ms": nearest_rank(latencies, 0.5),
            "latency_p95_ms": nearest_rank(latencies, 0.95),
            "last_success_at": last[True], "last_failure_at": last[False]}

# -- scheduled checks --------------------------------------------------------------------------

def due_at(record: Mapping[str, Any]) -> datetime | None:
    """When a stored connection's scheduled check is due: its ``next_check_at`` (an
    aware time) if it is undeleted and has a schedule (``schedule_minutes`` one of
    :data:`~connections_core.models.SCHEDULE_MINUTES` other than 0); None otherwise,
    and for a record whose fields can't be read (a deleted connection is never checked,
    nor one without a text id and workspace, which a claim could not move on)."""
    minutes = record.get("schedule_minutes")
    if record.get("deleted_at") or type(minutes) is not int or minutes not in SCHEDULE_MINUTES \
            or minutes == 0 or not isinstance(record.get("next_check_at"), str) \
            or not (isinstance(record.get("id"), str)
                    and isinstance(record.get("workspace_id"), str)):
        return None
    try:
        when = datetime.fromisoformat(record["next_check_at"])
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
