"""The check history file's index: one connection's records over a time range, at once.

The dashboard reads each card's last day on every rerun, and a connection's
health over 30 days, from a file that holds every connection's checks.  Reading
the file from its end for each would cost more as the file grows, and the file
store has no index of its own, so each process keeps one (shared by every store
of the file in it):

* **in columns, per connection**: times, results and latencies in arrays (about
  40 bytes a record, not a Python object each), sorted by time, so a time range
  is found by bisection and counted without building a record;
* **following the file**: it remembers which committed bytes it has read, and
  reads only what was appended since (committed bytes never change within a
  generation); a new generation (retention, a purge), or another file in its
  place (a restore), is read afresh;
* **from the end, as far back as asked**: a card's last day reads the file's
  last day, not its month (a process that starts on a month of per-minute checks
  of many connections would otherwise wait seconds for its first card); an
  older ``since`` reads further back, once.
"""

from __future__ import annotations

import json
import logging
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import compress
from typing import Any

from .audit import LogFile, LogState
from .storage import Record, nearest_rank

__all__ = ["HistoryIndex"]

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FOREVER = 2**62
#: How far a record's time may be out of the file's order: its check took its time
#: (``now``) before waiting for the store's lock.
_OUT_OF_ORDER = 5 * 60 * 1_000_000
_FIRST_BLOCK = 256 * 1024  # bytes read backwards at first (about a thousand records)
_LAST_BLOCK = 32 * 1024 * 1024


def _micros(at: datetime) -> int:
    # A float holds today's microseconds since 1970 exactly (they are under 2**53).
    return round(at.timestamp() * 1_000_000)


def _time(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


class _Series:
    """One connection's records, in columns, oldest first."""

    def __init__(self) -> None:
        self.times = array("q")
        self.success = bytearray()
        self.latency = array("q")
        self.status = array("q")  # -1: none
        self.kind: list[str] = []
        self.source: list[str] = []

    def add(self, micros: int, success: bool, kind: str, latency: int, status: int,
            source: str) -> None:
        if self.times and micros < self.times[-1]:
            self._insert(micros, success, kind, latency, status, source)
            return
        self.times.append(micros)
        self.success.append(success)
        self.latency.append(latency)
        self.status.append(status)
        self.kind.append(kind)
        self.source.append(source)

    def _insert(self, micros: int, success: bool, kind: str, latency: int, status: int,
                source: str) -> None:
        # Appended in commit order, which is time order give or take a check that
        # waited for the lock: the rare record out of order is put in its place.
        at = bisect_right(self.times, micros)
        self.times.insert(at, micros)
        self.success.insert(at, success)
        self.latency.insert(at, latency)
        self.status.insert(at, status)
        self.kind.insert(at, kind)
        self.source.insert(at, source)

    def extend(self, newer: _Series | None) -> None:
        """Put ``newer``'s records (committed after these) after these."""
        if newer is None or not newer.times:
            return
        seam = len(self.times)
        self.times += newer.times
        self.success += newer.success
        self.latency += newer.latency
        self.status += newer.status
        self.kind += newer.kind
        self.source += newer.source
        if seam and self.times[seam - 1] > self.times[seam]:
            self._sort()  # out of time order at the seam (rare: see add())

    def _sort(self) -> None:
        order = sorted(range(len(self.times)), key=self.times.__getitem__)
        self.times = array("q", (self.times[n] for n in order))
        self.success = bytearray(self.success[n] for n in order)
        self.latency = array("q", (self.latency[n] for n in order))
        self.status = array("q", (self.status[n] for n in order))
        self.kind = [self.kind[n] for n in order]
        self.source = [self.source[n] for n in order]

    def start(self, since: datetime) -> int:
        return bisect_left(self.times, _micros(since))

    def record(self, n: int, workspace_id: str, connection_id: str) -> Record:
        status = self.status[n]
        return {"at": _time(self.times[n]), "workspace_id": workspace_id,
                "connection_id": connection_id, "success": bool(self.success[n]),
                "kind": self.kind[n], "latency_ms": self.latency[n],
                "status_code": None if status < 0 else status, "source": self.source[n]}


class HistoryIndex:
    """The committed records of one data file's check history, by connection: those of
    the end of the file, as far back as has been asked for."""

    def __init__(self, file: LogFile) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._identity: tuple[int, tuple[int, int] | None] | None = None
        self._start = self._end = 0  # the bytes of the file read so far
        #: Every record at or after this time (microseconds) is in the index.
        self._complete_since = _FOREVER
        self._series: dict[tuple[str, str], _Series] = {}
        self._words: dict[str, str] = {}  # one copy of each kind and source

    def checks(self, state: LogState, workspace_id: str, connection_id: str, *,
               since: datetime, limit: int | None) -> list[Record]:
        """The records of one connection at or after ``since``, newest first."""
        with self._lock:
            series = self._caught_up(state, since).get((workspace_id, connection_id))
            if series is None:
                return []
            first = series.start(since)
            if limit is not None:
                first = max(first, len(series.times) - limit)
            return [series.record(n, workspace_id, connection_id)
                    for n in range(len(series.times) - 1, first - 1, -1)]

    def summary(self, state: LogState, workspace_id: str, connection_id: str, *,
                since: datetime) -> Record:
        """:func:`~connections_core.storage.check_summary` of the same records, counted
        in the columns."""
        with self._lock:
            series = self._caught_up(state, since).get((workspace_id, connection_id))
            if series is None:
                series = _Series()
            first = series.start(since)
            success = series.success
            checks = len(success) - first
            failures = success.count(0, first)
            latencies = sorted(compress(series.latency[first:], success[first:]))
            last_success, last_failure = success.rfind(1, first), success.rfind(0, first)
        return {"checks": checks, "failures": failures,
                "latency_p50_ms": nearest_rank(latencies, 0.5),
                "latency_p95_ms": nearest_rank(latencies, 0.95),
                "last_success_at": _time(series.times[last_success])
                if last_success >= 0 else None,
                "last_failure_at": _time(series.times[last_failure])
                if last_failure >= 0 else None}

    def _caught_up(self, state: LogState, since: datetime) -> dict[tuple[str, str], _Series]:
        """The index with every record committed up to ``state`` at or after ``since``
        (holding the lock): what was appended is read forwards, what is older than
        anything asked for until now backwards, from where the last read began."""
        identity = (state.generation, self._file.identity(state.generation))
        if identity != self._identity or state.size < self._end:
            # Nothing read yet, or another file: start from its end.
            self._identity, self._start, self._end = identity, state.size, state.size
            self._complete_since, self._series = _FOREVER, {}
        for end, block in self._file.committed_blocks(state, self._end):
            self._add(_parsed(block), self._series)
            self._end = end
        wanted, size = _micros(since), _FIRST_BLOCK
        while self._start > 0 and wanted < self._complete_since:
            start, block = self._file.block_before(state, self._start, size)
            size = min(size * 2, _LAST_BLOCK)  # a long history is read in few steps
            if start == self._start:
                continue  # a line longer than the block: read more
            older: dict[tuple[str, str], _Series] = {}
            first = self._add(_parsed(block), older)
            for key, series in older.items():
                series.extend(self._series.get(key))
                self._series[key] = series
            self._start = start
            # What came before was committed before this block's first line, so it is
            # no later than that line's time, give or take a check that waited for
            # the lock (a clock can't tell which was first by more than that).
            self._complete_since = _FOREVER if first is None else min(
                self._complete_since, first + _OUT_OF_ORDER)
            if start == 0:
                self._complete_since = -_FOREVER
        return self._series

    def _add(self, entries: Iterable[Any], into: dict[tuple[str, str], _Series]) -> int | None:
        """Add the entries to the series of ``into``; returns the first one's time."""
        words, first = self._words, None
        for entry in entries:
            try:
                at = datetime.fromisoformat(entry["at"])
                key = (entry["workspace_id"], entry["connection_id"])
                kind, source, latency = entry["kind"], entry["source"], entry["latency_ms"]
                status = entry["status_code"]
                if not (isinstance(key[0], str) and isinstance(key[1], str)
                        and isinstance(kind, str) and isinstance(source, str)
                        and type(latency) is int and (status is None or type(status) is int)):
                    raise TypeError
                micros = _micros(at if at.tzinfo else at.replace(tzinfo=UTC))
            except (KeyError, TypeError, ValueError, OverflowError):
                log.warning("Skipped a damaged line in %s", self._file.what)
                continue
            first = micros if first is None else first
            series = into.get(key)
            if series is None:
                series = into[key] = _Series()
            series.add(micros, entry["success"] is True, words.setdefault(kind, kind),
                       max(latency, 0), -1 if status is None else max(status, 0),
                       words.setdefault(source, source))
        return first


def _parsed(block: bytes) -> list[Any]:
    """The entries of a block of lines: parsed at once (several times faster than line by
    line), or line by line when one is damaged."""
    lines = [line for line in block.split(b"\n") if line.strip()]
    try:
        entries: list[Any] = json.loads(b"[" + b",".join(lines) + b"]")
        return entries
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass
    found = []
    for line in lines:
        try:
            found.append(json.loads(line))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
    return found
