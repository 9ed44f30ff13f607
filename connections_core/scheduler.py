"""The scheduler: runs the due scheduled checks of every workspace of a store.

The dashboard's server runs one in the background (``server/lifespan.py``), and
``python -m connections_core watch`` runs one in the foreground, for a deployment
that prefers a separate worker::

    scheduler = Scheduler.for_service(ConnectionService.from_env())
    scheduler.start()       # on a daemon thread of its own; or run() in this one
    ...
    scheduler.stop()        # returns once it has stopped

Each pass of its loop:

* **claims** the due checks (:func:`~connections_core.storage.due_at`), at most twice
  as many as the process's check pool has slots, in one store transaction that moves
  each one's ``next_check_at`` on (:func:`~connections_core.schedules.next_due`):
  that commit is the record, made before a key is sent, that the check will run (no
  audit entry per check: at 1,000 checks a minute the trail would grow by millions a
  day and bury what people did; the check history holds every outcome).
  Transactions are serialised (the data file's lock; on PostgreSQL the revision row
  and ``FOR UPDATE SKIP LOCKED``), so however many processes or replicas run a
  scheduler over one store, each due check is taken by one of them, once; a check
  that fell far behind runs once, not once per period missed;
* **runs** them on the process's bounded pool (:func:`~connections_core.checks.shared_pool`,
  ``CONNECTIONS_MAX_CHECKS``), in a lane of their own, so a person's Test takes its
  turn beside them;
* **records** what arrived (``records.record_results(..., source="schedule")``: the
  status and one check record each, in the history) in one write every
  :data:`WRITE_SECONDS` at most, not one per check.

Between passes it sleeps on an event, woken by a check that ends, by :meth:`stop`,
or by the time the next check is due.  A store that fails (a locked file, a
database that went away) or a check that fails unexpectedly is logged, on one line
without any secret, and the loop carries on.  The demo's store is never scheduled.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from . import checks, crypto, http
from .checking import Checking
from .errors import ConnectionsError, ValidationError
from .models import Connection
from .providers import TestResult
from .records import Records, schedule_minutes
from .schedules import next_due
from .scope import DEFAULT_AUDIT_DAYS, SCHEDULE_ACTOR, Clock, Scope, utc_now
from .service import ConnectionService
from .storage import Record, Store, due_at
from .text import counted, shown

__all__ = ["SCHEDULER_VARIABLE", "ScheduledCheck", "Scheduler", "scheduler_enabled"]

log = logging.getLogger(__name__)

#: Set to 0 to keep the dashboard's server from running scheduled checks (a deployment
#: that runs ``watch`` as a separate worker instead).
SCHEDULER_VARIABLE = "CONNECTIONS_SCHEDULER"
#: Seconds between looks at the store when nothing is due sooner: a schedule set in
#: another process is seen within this.
TICK_SECONDS = 1.0
#: Results are written at most this often (and at once when nothing else runs).
WRITE_SECONDS = 0.5
#: Seconds :meth:`Scheduler.stop` waits for the checks under way to end.
STOP_GRACE_SECONDS = 2.0
#: Seconds between tries while the store fails.
RETRY_SECONDS = 5.0
#: A batch of results that can't be written is tried this many times, then dropped.
WRITE_TRIES = 3

_OFF = ("0", "false", "no", "off")
_ON = ("", "1", "true", "yes", "on")


def scheduler_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the dashboard's server runs scheduled checks: ``CONNECTIONS_SCHEDULER``
    (on by default; 0 turns it off).

    :raises ValidationError: it is neither on nor off.
    """
    value = (os.environ if environ is None else environ).get(SCHEDULER_VARIABLE, "")
    if value.strip().lower() in _ON:
        return True
    if value.strip().lower() in _OFF:
        return False
    raise ValidationError({SCHEDULER_VARIABLE: (
        f"Set {SCHEDULER_VARIABLE} to 1 (the server runs scheduled checks, the default) or "
        f"0 (it doesn't: `python -m connections_core watch` does), not '{shown(value, 40)}'.")})


@dataclass(frozen=True)
class ScheduledCheck:
    """One scheduled check, as recorded: the connection as it is stored now, its result,
    when it was due and when it started (``started_at - due_at`` is how late it ran)."""

    connection: Connection
    result: TestResult
    due_at: datetime
    started_at: datetime


@dataclass
class _Claim:
    """A due check this scheduler took: the record as claimed, and what it moved."""

    workspace: _Workspace
    record: Record
    due_at: datetime
    moved_to: str  # the next_check_at the claim wrote
    started_at: datetime | None = None
    result: TestResult | None = None
    tries: int = 0


@dataclass
class _Workspace:
    """What the checks of one workspace run on: its records and its checks."""

    records: Records
    check: Callable[[Record], TestResult]


@dataclass
class _State:
    """What the loop and the pool's threads share (under ``lock``)."""

    lock: threading.Condition = field(default_factory=threading.Condition)
    queued: dict[int, _Claim] = field(default_factory=dict)  # claimed, not started
    running: int = 0
    arrived: list[_Claim] = field(default_factory=list)  # ended, not yet recorded


class Scheduler:
    """Runs the due scheduled checks of every workspace of ``store``.

    :param store: the store (shared by every workspace); never the demo's.
    :param keyring: decrypts the keys the checks send.
    :param timeout: seconds each provider request may take.
    :param clock: returns the current time (due times are compared with it).
    :param audit_days: audit entries older than this many days are dropped.
    :param on_checked: called with each :class:`ScheduledCheck` once it is recorded
        (on the scheduler's thread), e.g. to print it.
    :raises ValidationError: ``store`` is the demo's.
    """

    def __init__(self, store: Store, keyring: crypto.KeyRing, *,
                 timeout: float = http.DEFAULT_TIMEOUT, clock: Clock = utc_now,
                 audit_days: int = DEFAULT_AUDIT_DAYS,
                 on_checked: Callable[[ScheduledCheck], None] | None = None) -> None:
        if store.demo:
            raise ValidationError({"store": "The demo's connections are never checked on a "
                                            "schedule: its providers are stand-ins."})
        self.store = store
        self._keyring = keyring
        self._timeout = timeout
        self._clock = clock
        self._audit_days = audit_days
        self._on_checked = on_checked
        self._workspaces: dict[str, _Workspace] = {}
        self._records = self._workspace_records("default")  # the claims' transactions
        self._state = _State()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lane = checks.shared_pool().lane()
        self._more_due = False  # the last claim took all it could: more may be due
        self._written_at = 0.0  # time.monotonic() of the last write of results
        self._problem: str | None = None  # what went wrong last, logged once
        self._resume_at = 0.0  # time.monotonic() before which a failing store is left alone

    @classmethod
    def for_service(cls, service: ConnectionService, *,
                    on_checked: Callable[[ScheduledCheck], None] | None = None) -> Scheduler:
        """A scheduler over ``service``'s store, with its key, timeout and retention."""
        return cls(service.store, service.keyring, timeout=service.timeout,
                   audit_days=service.audit_days, on_checked=on_checked)

    def __repr__(self) -> str:
        return f"<Scheduler store={self.store!r}>"

    # -- running and stopping -------------------------------------------------------------

    def start(self) -> None:
        """Run the loop on a daemon thread of its own (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="connections-scheduler",
                                            daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the loop started by :meth:`start` is still running."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the loop started by :meth:`start` to end; False if it still runs."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def stop(self, timeout: float | None = None) -> None:
        """Ask the loop to stop and wait (at most ``timeout`` seconds) until it has.

        Checks claimed but not started are given back (due as they were, for another
        process to take); those under way get :data:`STOP_GRACE_SECONDS` to end and be
        recorded.
        """
        self._stopping.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def run(self) -> None:
        """Run due checks in this thread until :meth:`stop` is called."""
        log.info("Running scheduled checks over %s", self.store.location)
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                self._wake.wait(self._pass())
        finally:
            self._wind_down()
            log.info("Stopped running scheduled checks over %s", self.store.location)

    def _pass(self) -> float:
        """One pass: record what arrived (when it is time), claim what is due as far as
        there is room, and hand it to the pool.  Never raises a store's failure
        (it is logged).  Returns how many seconds to rest before the next pass."""
        backing_off = self._resume_at - time.monotonic()
        if backing_off > 0:  # woken by a check that ended: the store is left alone a while
            return backing_off
        try:
            self._write_arrived()
            now = self._clock()
            claimed = self._claim(now) if self._may_claim() and self._due(now) else 0
            rest = self._rest(now, claimed)
        except ConnectionsError as error:
            return self._trouble(f"Scheduled checks are held up: {error}")
        except Exception as error:  # a bug: logged without its text (it could hold anything)
            return self._trouble(f"Scheduled checks failed unexpectedly "
                                 f"({type(error).__name__}); trying again.")
        if self._problem is not None:
            log.warning("Scheduled checks are running again.")
            self._problem = None
        return rest

    # -- claiming -------------------------------------------------------------------------

    def _room(self) -> int:
        """How many more checks to claim: up to twice the pool's slots in all, claimed
        and not ended, so that the slots have the next checks at hand while a claim is
        written (those not started at a stop are given back)."""
        with self._state.lock:
            return 2 * checks.shared_pool().size - self._busy()

    def _busy(self) -> int:
        """Our checks claimed and not ended (call holding the state's lock)."""
        return self._state.running + len(self._state.queued)

    def _may_claim(self) -> bool:
        """Whether to claim now: once no more of ours wait for a slot than there are
        slots (so claims come in batches, not one transaction per check that ends)."""
        size = checks.shared_pool().size
        with self._state.lock:
            busy = self._busy()
        return not self._stopping.is_set() and busy <= size

    def _claim(self, now: datetime) -> int:
        """Claim what is due, as far as there is room (:meth:`_room`), and hand it to
        the pool; how many were claimed."""
        limit = self._room()
        claims: list[_Claim] = []
        with self._records.transaction() as tx:
            moves: list[tuple[str, str, Mapping[str, Any]]] = []
            for row in tx.due_connections(now, limit):
                due, minutes = due_at(row), schedule_minutes(row)
                if due is None:  # the store's idea of due and ours differ: not ours
                    continue
                moved = next_due(due, minutes, now).isoformat()
                workspace = row["workspace_id"]
                moves.append((workspace, row["id"], {"next_check_at": moved}))
                claim = self._claimed(workspace, row, due, moved)
                if claim is not None:
                    claims.append(claim)
            tx.update_connections(moves)
        self._more_due = len(moves) >= limit
        for claim in claims:
            self._submit(claim)
        return len(moves)

    def _claimed(self, workspace: str, row: Record, due: datetime, moved: str) -> _Claim | None:
        """The claim of ``row``, or None for a record in a workspace whose id can't be one
        (written by hand): its time moves on, and it is not checked."""
        try:
            room = self._workspace(workspace)
        except ValidationError:
            log.warning("Connection %s is scheduled in '%s', which can't be a workspace: it "
                        "is not checked.", shown(row.get("id")), shown(workspace))
            return None
        return _Claim(room, row, due, moved)

    def _submit(self, claim: _Claim) -> None:
        with self._state.lock:
            self._state.queued[id(claim)] = claim
        checks.shared_pool().submit(partial(self._check, claim), self._lane)

    def _due(self, now: datetime) -> bool:
        """Whether a check may be due (a cheap read, outside any transaction): a pass
        with nothing due writes nothing, and opens no transaction (on an empty data
        folder it makes no data file)."""
        if self._more_due:
            return True
        following = self.store.next_check_at()
        return following is not None and following <= now

    def _rest(self, now: datetime, claimed: int) -> float:
        """Seconds until the next pass is worth it (a check that ends wakes it sooner)."""
        with self._state.lock:
            waiting = bool(self._state.arrived)
        rest = TICK_SECONDS
        if waiting:
            rest = min(rest, max(0.0, WRITE_SECONDS - (time.monotonic() - self._written_at)))
        if self._more_due and self._may_claim():
            return min(rest, 0.0)
        following = self.store.next_check_at()
        if following is not None and (following > now or claimed):
            rest = min(rest, max(0.0, (following - now).total_seconds()))
        return rest

    # -- on the pool's threads ------------------------------------------------------------

    def _check(self, claim: _Claim) -> None:
        with self._state.lock:
            if self._state.queued.pop(id(claim), None) is None:
                return  # given back at a stop
            self._state.running += 1
        claim.started_at = self._clock()
        try:
            claim.result = claim.workspace.check(claim.record)
        except Exception as error:  # a check reports its failures: this is a bug
            log.error("A scheduled check of connection %s failed unexpectedly (%s).",
                      shown(claim.record.get("id")), type(error).__name__)
        finally:
            with self._state.lock:
                self._state.running -= 1
                if claim.result is not None:
                    self._state.arrived.append(claim)
                self._state.lock.notify_all()
            self._wake.set()

    # -- recording ------------------------------------------------------------------------

    def _write_arrived(self, *, now: bool = False) -> None:
        """Record every result that arrived, in one write: when :data:`WRITE_SECONDS`
        passed since the last one, when nothing of ours runs any more, or ``now``."""
        with self._state.lock:
            idle = not self._state.running and not self._state.queued
            due = time.monotonic() - self._written_at >= WRITE_SECONDS
            if not self._state.arrived or not (now or idle or due):
                return
            batch, self._state.arrived = self._state.arrived, []
        self._written_at = time.monotonic()
        try:
            stored = self._record(batch)
        except ConnectionsError:
            self._keep_for_later(batch)
            raise
        if self._on_checked is not None:
            for claim in batch:
                assert claim.result is not None and claim.started_at is not None
                row = stored.get(claim.record["id"], claim.record)
                self._on_checked(ScheduledCheck(claim.workspace.records.to_connection(row),
                                                claim.result, claim.due_at, claim.started_at))

    def _record(self, batch: list[_Claim]) -> dict[str, Record]:
        """Record ``batch``, every workspace's in one transaction."""
        by_workspace: dict[str, list[_Claim]] = {}
        for claim in batch:
            by_workspace.setdefault(claim.workspace.records.workspace_id, []).append(claim)
        stored: dict[str, Record] = {}
        with self._records.transaction():  # the workspaces' writes join it: one write
            for claims in by_workspace.values():
                records = claims[0].workspace.records
                stored.update(records.record_results(
                    [(claim.record, claim.result) for claim in claims if claim.result],
                    source="schedule"))
        return stored

    def _keep_for_later(self, batch: list[_Claim]) -> None:
        """Put back results that could not be written, for the next write; a result tried
        :data:`WRITE_TRIES` times is dropped (its claim moved the due time on, so the next
        one comes a period later)."""
        kept = []
        for claim in batch:
            claim.tries += 1
            if claim.tries < WRITE_TRIES:
                kept.append(claim)
        if len(kept) < len(batch):
            log.warning("Dropped the results of %s that could not be recorded.",
                        counted(len(batch) - len(kept), "scheduled check"))
        with self._state.lock:
            self._state.arrived[:0] = kept

    # -- stopping -------------------------------------------------------------------------

    def _wind_down(self) -> None:
        """Give back what was claimed and not started, wait a little for what runs, and
        record what arrived."""
        checks.shared_pool().cancel(self._lane)
        with self._state.lock:
            unstarted = list(self._state.queued.values())
            self._state.queued.clear()
        try:
            self._give_back(unstarted)
        except ConnectionsError as error:
            log.warning("Could not give back %s at a stop: %s",
                        counted(len(unstarted), "scheduled check"), error)
        with self._state.lock:
            self._state.lock.wait_for(lambda: not self._state.running, STOP_GRACE_SECONDS)
        try:
            self._write_arrived(now=True)
        except ConnectionsError as error:
            log.warning("Could not record the last scheduled checks at a stop: %s", error)

    def _give_back(self, claims: list[_Claim]) -> None:
        """Make claims not started due as they were (unless changed meanwhile), so that
        another process takes them now rather than a period later."""
        if not claims:
            return
        with self._records.transaction() as tx:
            back = []
            for claim in claims:
                workspace, id = claim.record["workspace_id"], claim.record["id"]
                now = tx.connection(workspace, id)
                if now is not None and now.get("next_check_at") == claim.moved_to:
                    back.append((workspace, id,
                                 {"next_check_at": claim.record.get("next_check_at")}))
            tx.update_connections(back)

    # -- workspaces -----------------------------------------------------------------------

    def _workspace(self, workspace_id: str) -> _Workspace:
        """The records and checks of a workspace (made once).

        :raises ValidationError: ``workspace_id`` can't be a workspace.
        """
        room = self._workspaces.get(workspace_id)
        if room is None:
            scope = Scope(self.store, self._keyring, workspace_id, timeout=self._timeout,
                          clock=self._clock, audit_days=self._audit_days)
            scope.trusted_actor = SCHEDULE_ACTOR
            # The check a person's Test runs: whatever happens becomes its result.
            room = self._workspaces[workspace_id] = _Workspace(
                scope.records, Checking(scope)._check)
        return room

    def _workspace_records(self, workspace_id: str) -> Records:
        return Records(self.store, self._keyring, workspace_id, clock=self._clock,
                       audit_days=self._audit_days, actor_name=lambda: SCHEDULE_ACTOR)

    def _trouble(self, message: str) -> float:
        """Log what holds the checks up (once, until it changes) and back off: the
        seconds to rest."""
        message = " ".join(message.split())  # one line
        if message != self._problem:
            log.warning("%s", message)
            self._problem = message
        self._resume_at = time.monotonic() + RETRY_SECONDS
        return RETRY_SECONDS

