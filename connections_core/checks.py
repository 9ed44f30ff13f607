"""Checks run on one bounded pool per process, and one Test all per workspace at a time.

Every provider request a check makes (a connection's Test, Test all, a draft's
Test) runs on the process's :func:`shared_pool`: at most ``CONNECTIONS_MAX_CHECKS``
(default 32) checks are in flight at once in the whole process, whoever asked and
from whichever thread, on at most that many threads.  A check waits for a free
slot instead of adding one, so a provider never sees more requests with a team's
key at once from one dashboard, and the threads don't grow with what people press.

The pool serves its lanes in turn: a Test all's checks are one lane, a single
check is a lane of its own, so a colleague's one Test starts after at most one
check of each run ahead of it, not after a whole workspace's Test all::

    pool = shared_pool()
    result = pool.call(lambda: test_connection("ollama", config))   # waits for a slot

:func:`test_all_run` is one workspace's Test all.  While one runs, Test all
pressed again in the same workspace of the same store (in this process) joins
it: the second caller gets every result, those already in first, and each
connection is checked and recorded once.  The results of every run are recorded
on one thread, which rests between writes as long as each took, so that a store
written for many runs at once still answers everyone else.  Runs and the bound
are per process: two replicas each run their own, each within its own bound.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from functools import partial
from typing import Any, TypeVar

from .errors import ConnectionsError, StoreError, ValidationError
from .models import Connection
from .providers import TestResult
from .records import Records
from .text import shown

__all__ = ["DEFAULT_MAX_CHECKS", "MAX_CHECKS_VARIABLE", "CheckPool", "Lane", "TestAllRun",
           "max_checks", "shared_pool", "test_all_run"]

log = logging.getLogger(__name__)

MAX_CHECKS_VARIABLE = "CONNECTIONS_MAX_CHECKS"
DEFAULT_MAX_CHECKS = 32
#: Seconds a pool thread waits for work before it ends (an idle process keeps none).
IDLE_SECONDS = 60.0

T = TypeVar("T")
Record = dict[str, Any]
Result = tuple[Connection, TestResult]
#: Checks one stored record.
Check = Callable[[Record], TestResult]


def max_checks(environ: Mapping[str, str] | None = None) -> int:
    """How many checks may be in flight at once: ``CONNECTIONS_MAX_CHECKS`` (default 32).

    :raises ValidationError: it is not a whole number, 1 or more.
    """
    value = (os.environ if environ is None else environ).get(MAX_CHECKS_VARIABLE, "").strip()
    if not value:
        return DEFAULT_MAX_CHECKS
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise ValidationError({MAX_CHECKS_VARIABLE: (
            f"How many checks may reach providers at once is a whole number, 1 or more "
            f"(default {DEFAULT_MAX_CHECKS}), not '{shown(value, 40)}'.")})
    return int(value)


class Lane:
    """Work that the pool takes in turn with the other lanes (see :meth:`CheckPool.lane`)."""

    def __init__(self) -> None:
        self.tasks: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
        self.in_turn = False  # in the pool's round
        self.cancelled = False


class CheckPool:
    """At most ``size`` pieces of work at once, on at most ``size`` threads.

    Threads start as work arrives and end after :data:`IDLE_SECONDS` without any.
    The lanes are served in turn, one piece of work each.

    :param size: how many may run at once; :meth:`resize` changes it.
    """

    def __init__(self, size: int, *, idle_seconds: float = IDLE_SECONDS) -> None:
        self._size = size
        self._idle_seconds = idle_seconds
        self._reset()

    def _reset(self) -> None:
        self._changed = threading.Condition()
        self._round: deque[Lane] = deque()  # the lanes with work waiting, in turn
        self._waiting = 0  # pieces of work queued and not yet taken
        self._threads = 0
        self._busy = 0

    @property
    def size(self) -> int:
        return self._size

    def resize(self, size: int) -> None:
        """Allow ``size`` at once from now on; surplus threads end after their work."""
        with self._changed:
            self._size = size
            self._start_threads()
            self._changed.notify_all()

    def lane(self) -> Lane:
        """A new lane, for work that should take its turn as one (a Test all's checks)."""
        return Lane()

    def submit(self, work: Callable[[], T], lane: Lane | None = None) -> Future[T]:
        """Run ``work`` when a slot is free and it is its lane's turn (a lane of its own
        by default); the future holds what it returned or raised."""
        future: Future[T] = Future()
        with self._changed:
            lane = lane or Lane()
            if lane.cancelled:
                future.cancel()
                return future
            lane.tasks.append((future, work))
            if not lane.in_turn:
                lane.in_turn = True
                self._round.append(lane)
            self._waiting += 1
            self._start_threads()
            self._changed.notify()
        return future

    def call(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the pool and wait for it: what it returns, or raises."""
        future = self.submit(work)
        try:
            return future.result()
        finally:
            future.cancel()  # interrupted while waiting for a slot: not started for nothing

    def cancel(self, lane: Lane) -> None:
        """Drop the lane's work not started yet (its futures are cancelled); work that
        runs goes on to its end."""
        with self._changed:
            lane.cancelled = True
            for future, _ in lane.tasks:
                future.cancel()
            self._waiting -= len(lane.tasks)
            lane.tasks.clear()
            if lane.in_turn:
                lane.in_turn = False
                self._round.remove(lane)

    def _start_threads(self) -> None:
        """Start threads for work that no free thread will take (the lock is held)."""
        while self._threads < self._size and self._threads - self._busy < self._waiting:
            self._threads += 1
            threading.Thread(target=self._serve, name="connections-check", daemon=True).start()

    def _serve(self) -> None:
        while (task := self._next()) is not None:
            future, work = task
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(work())
                    except BaseException as error:  # the future's owner gets it
                        future.set_exception(error)
            finally:
                with self._changed:
                    self._busy -= 1

    def _next(self) -> tuple[Future[Any], Callable[[], Any]] | None:
        """The next work in turn, once there is some; None when this thread should end."""
        with self._changed:
            while not self._round and self._threads <= self._size:
                if not self._changed.wait(self._idle_seconds) and not self._round:
                    break
            if not self._round or self._threads > self._size:
                self._threads -= 1
                return None
            lane = self._round.popleft()
            task = lane.tasks.popleft()
            if lane.tasks:
                self._round.append(lane)
            else:
                lane.in_turn = False
            self._waiting -= 1
            self._busy += 1
            return task


class _Run:
    """One workspace's Test all, shared by everyone who follows it.

    The checks are one lane of the pool; their results are recorded by the
    process's :class:`_Recorder`, every result that arrived since the last write
    in one write, the last of which also records the run.  When the last
    follower leaves before the end, the checks not started are dropped and the
    run is recorded as it stands.
    """

    def __init__(self, records: Records, check: Check, pool: CheckPool,
                 on_end: Callable[[_Run], None], source: str = "test_all") -> None:
        self._records = records
        self._source = source  # in the check history
        self._pool = pool
        self._on_end = on_end
        todo = records.active_records()
        self.total = len(todo)
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self._arrived: list[tuple[Record, TestResult]] = []  # checked, not yet recorded
        self._recorded: list[Result] = []  # what followers get, in order of arrival
        self._failed = 0
        self._writing = False  # the recorder is writing results
        self._queued = False  # the recorder has this run to write
        self._open = bool(todo)  # results are still taken in
        self._done = not todo  # nothing more will be recorded
        self._followers = 0
        self._lane = pool.lane()
        self._todo, self._check = todo, check

    def start(self) -> None:
        """Record the run's start, then hand its checks to the pool.  What reaches a
        server is recorded first: if the start can't be, nothing is sent, and the run
        ends with that error (raised here too, and to anyone following it)."""
        try:
            self._records.attempt("connections.test_all_started", None, count=self.total)
        except ConnectionsError as error:
            self._fail(error)
            raise
        for record in self._todo:
            self._pool.submit(partial(self._check_and_record, self._check, record), self._lane)

    # -- followers --------------------------------------------------------------------------

    def join(self) -> bool:
        """Follow this run; False if it has ended (start another)."""
        with self._changed:
            if not self._open:
                return False
            self._followers += 1
            return True

    def leave(self) -> None:
        """Stop following; the last follower to leave before the end stops the run."""
        with self._changed:
            self._followers -= 1
            if self._followers or not self._open:
                return
            self._open = False
        self._pool.cancel(self._lane)
        with self._changed:
            self._changed.wait_for(lambda: not self._writing)  # a write under way ends first
            if self._done:  # its last write, or a failure, ended it meanwhile
                return
            count, failed = len(self._recorded), self._failed
        try:
            self._records.attempt("connections.tested_all", None, count=count, failed=failed)
        except StoreError as error:
            log.warning("Could not record the end of a stopped Test all: %s", error)
        finally:
            self._end()

    def arrived(self, start: int = 0) -> list[Result]:
        with self._changed:
            return self._recorded[start:]

    @property
    def done(self) -> bool:
        return self._done

    def wait(self, timeout: float | None) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._done, timeout)

    def results(self) -> Iterator[Result]:
        seen = 0
        while True:
            with self._changed:
                while len(self._recorded) == seen and not self._done:
                    self._changed.wait()
                batch, done = self._recorded[seen:], self._done
            seen += len(batch)
            yield from batch
            if done:
                if self.error is not None:
                    raise self.error
                return

    # -- on the pool's threads ----------------------------------------------------------------

    def _check_and_record(self, check: Check, record: Record) -> None:
        try:
            result = check(record)
        except BaseException as error:  # a check reports its failures; this is a bug
            self._fail(error)
            raise
        with self._changed:
            if not self._open:
                return  # stopped: nobody is waiting for it
            self._arrived.append((record, result))
            if self._queued:
                return  # the recorder takes it with the others
            self._queued = True
        _RECORDER.add(self)

    # -- on the recorder's thread -------------------------------------------------------------

    def write_arrived(self) -> None:
        """Record every result that arrived since the last write, in one write."""
        with self._changed:
            self._queued = False
            batch, self._arrived = self._arrived, []
            if not batch or not self._open:
                return
            self._writing = True
            count = len(self._recorded) + len(batch)
            failed = self._failed + sum(not result.success for _, result in batch)
        last = count == self.total
        try:
            stored = self._records.record_results(
                batch, source=self._source,
                summary={"count": count, "failed": failed} if last else None)
            recorded = [(self._records.to_connection(stored.get(record["id"], record)),
                         result) for record, result in batch]
        except BaseException as error:
            with self._changed:
                self._writing = False
                self._changed.notify_all()
            self._fail(error)
            return
        with self._changed:
            self._writing = False
            self._recorded += recorded
            self._failed = failed
            if last:
                self._open = False
            self._changed.notify_all()
        if last:
            self._end()

    def _fail(self, error: BaseException) -> None:
        with self._changed:
            if self._done:
                return
            self.error, self._open = error, False
        self._pool.cancel(self._lane)
        if not isinstance(error, ConnectionsError):
            log.error("Test all of workspace %s failed unexpectedly", self._records.workspace_id,
                      exc_info=error)
        self._end()

    def _end(self) -> None:
        with self._changed:
            self._done = True
            self._changed.notify_all()
        self._on_end(self)


class _Recorder:
    """Records the results of every Test all in the process, on one thread of its own.

    The runs take turns, each writing every result that arrived since its last
    write at once; after each write the recorder rests as long as the write
    took.  So checks never wait for the store (their slots are for requests),
    and a store written for many workspaces at once is still free for everyone
    else at least half the time (on the data file, a write rewrites the file,
    and readers wait for it).
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._round: deque[_Run] = deque()  # the runs with results to write, in turn
        self._running = False

    def add(self, run: _Run) -> None:
        with self._lock:
            self._round.append(run)
            if not self._running:
                self._running = True
                threading.Thread(target=self._serve, name="connections-record",
                                 daemon=True).start()

    def _serve(self) -> None:
        while True:
            with self._lock:
                if not self._round:
                    self._running = False
                    return
                run = self._round.popleft()
            started = time.monotonic()
            run.write_arrived()
            time.sleep(time.monotonic() - started)


class TestAllRun:
    """A workspace's Test all, as one of the callers following it sees it.

    Everyone who starts Test all in the workspace while it runs (in this process)
    follows the same run: :meth:`arrived` and :meth:`results` give every result from
    the first, each connection as recorded after its check.  The run goes on while
    anyone follows it; :meth:`close` stops following, and the last one to close
    before the end stops the run (checks not started are dropped, and the run is
    recorded as it stands).
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, run: _Run, *, following: bool) -> None:
        self._run = run
        self._following = following

    @property
    def total(self) -> int:
        """How many connections the run checks."""
        return self._run.total

    @property
    def done(self) -> bool:
        """Whether the run has ended: every result is in, it failed, or it was stopped."""
        return self._run.done

    @property
    def error(self) -> BaseException | None:
        """What ended the run early (e.g. a :class:`StoreError` recording a result)."""
        return self._run.error

    def arrived(self, start: int = 0) -> list[Result]:
        """The results recorded so far, from the ``start``-th on, without waiting."""
        return self._run.arrived(start)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the run has ended; False if ``timeout`` seconds passed first."""
        return self._run.wait(timeout)

    def results(self) -> Iterator[Result]:
        """Every result, from the first, each as soon as it is recorded.

        :raises ConnectionsError: what ended the run early, after the results before it.
        """
        return self._run.results()

    def close(self) -> None:
        """Stop following the run (once; closing again does nothing)."""
        if self._following:
            self._following = False
            self._run.leave()


# The process's pool and its Test all runs: shared by every service and every
# session of the dashboard on purpose, as the bound and the joining are per process.
_POOL = CheckPool(DEFAULT_MAX_CHECKS)
_POOL_GUARD = threading.Lock()
_RECORDER = _Recorder()
_RUNS: dict[tuple[str, str], _Run] = {}
_RUNS_GUARD = threading.Lock()


def shared_pool() -> CheckPool:
    """The process's pool, sized by ``CONNECTIONS_MAX_CHECKS`` as the environment
    says now.

    :raises ValidationError: ``CONNECTIONS_MAX_CHECKS`` is not a whole number, 1 or more.
    """
    size = max_checks()
    with _POOL_GUARD:
        if _POOL.size != size:
            _POOL.resize(size)
    return _POOL


def test_all_run(records: Records, check: Check, *, source: str = "test_all") -> TestAllRun:
    """Follow the Test all of ``records``' workspace under way in this process, or start
    one over its undeleted connections, checked with ``check`` (recorded in the check
    history as from ``source``).

    A workspace is its store's location and its id: services built separately
    (one per person, in the dashboard) on the same data share its run.  The run
    uses the starter's records (its clock, its audit actor) and ``check``.
    """
    key = (records.store.location, records.workspace_id)
    with _RUNS_GUARD:
        run = _RUNS.get(key)
        if run is not None and run.join():
            return TestAllRun(run, following=True)
        run = _Run(records, check, shared_pool(), on_end=partial(_forget, key), source=source)
        # An empty workspace's run is over before it starts.
        following = run.join()
        if following:
            _RUNS[key] = run
    if following:
        run.start()  # a write: outside the guard, so other workspaces' runs don't wait for it
    return TestAllRun(run, following=following)


test_all_run.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _forget(key: tuple[str, str], run: _Run) -> None:
    with _RUNS_GUARD:
        if _RUNS.get(key) is run:
            del _RUNS[key]


def _after_fork() -> None:
    """A child process has none of its parent's threads: it starts with an empty pool."""
    global _POOL_GUARD, _RUNS_GUARD
    _POOL._reset()
    _RECORDER._reset()
    _POOL_GUARD, _RUNS_GUARD = threading.Lock(), threading.Lock()
    _RUNS.clear()


if hasattr(os, "register_at_fork"):  # not on Windows, which never forks
    os.register_at_fork(after_in_child=_after_fork)
