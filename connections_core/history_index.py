"""The check history file's index: one connection's records over a time range, at once.

The dashboard reads each card's last day on every rerun, and a connection's
health over 30 days, from a file that holds every connection's checks.  Reading
the file from its end for each would cost more as the file grows, and the file
store has no index of its own, so each process keeps one (shared by every store
of the file in it):

* **in columns, per connection**: times, results and latencies in arrays (about
  40 bytes a record, not a Python object each), sorted by time, so a time range
  is found by bisection and counted without building a record;
* **following the file**: it remembers how many committed bytes it has read,
  and reads only what was appended since (committed bytes never change within a
  generation); a new generation (retention, a purge), or another file in its
  place (a restore), is read afresh.
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
_MICROSECOND = timedelta(microseconds=1)


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


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
        # Appended in commit order, which is time order give or take two processes'
        # clocks: the rare record out of order is put in its place.
        at = len(self.times) if not self.times or micros >= self.times[-1] \
            else bisect_right(self.times, micros)
        self.times.insert(at, micros)
        self.success.insert(at, success)
        self.latency.insert(at, latency)
        self.status.insert(at, status)
        self.kind.insert(at, kind)
        self.source.insert(at, source)

    def start(self, since: datetime) -> int:
        return bisect_left(self.times, _micros(since))

    def record(self, n: int, workspace_id: str, connection_id: str) -> Record:
        status = self.status[n]
        return {"at": _time(self.times[n]), "workspace_id": workspace_id,
                "connection_id": connection_id, "success": bool(self.success[n]),
                "kind": self.kind[n], "latency_ms": self.latency[n],
                "status_code": None if status < 0 else status, "source": self.source[n]}


class HistoryIndex:
    """Every committed record of one data file's check history, by connection."""

    def __init__(self, file: LogFile) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._identity: tuple[int, tuple[int, int] | None] | None = None
        self._read = 0  # committed bytes read so far
        self._series: dict[tuple[str, str], _Series] = {}
        self._words: dict[str, str] = {}  # one copy of each kind and source

    def checks(self, state: LogState, workspace_id: str, connection_id: str, *,
               since: datetime, limit: int | None) -> list[Record]:
        """The records of one connection at or after ``since``, newest first."""
        with self._lock:
            series = self._caught_up(state).get((workspace_id, connection_id))
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
            series = self._caught_up(state).get((workspace_id, connection_id))
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

    def _caught_up(self, state: LogState) -> dict[tuple[str, str], _Series]:
        """The index with everything committed up to ``state`` (holding the lock)."""
        identity = (state.generation, self._file.identity(state.generation))
        if identity != self._identity or state.size < self._read:
            self._identity, self._read, self._series = identity, 0, {}
        for end, block in self._file.committed_blocks(state, self._read):
            self._add(_parsed(block))
            self._read = end
        return self._series

    def _add(self, entries: Iterable[Any]) -> None:
        words = self._words
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
                row = (_micros(at if at.tzinfo else at.replace(tzinfo=UTC)),
                       entry["success"] is True, words.setdefault(kind, kind),
                       max(latency, 0), -1 if status is None else max(status, 0),
                       words.setdefault(source, source))
            except (KeyError, TypeError, ValueError, OverflowError):
                log.warning("Skipped a damaged line in %s", self._file.what)
                continue
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            series.add(*row)


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
