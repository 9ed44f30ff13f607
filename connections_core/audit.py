"""Append-only JSON-lines files beside the data file: the audit trail and the check history.

Rewriting a whole log on every change would make each change cost more as the
log grows, so neither log is in the data file.  Each is an append-only file
beside it, and the data file records how many bytes of it are committed
(``LogState``).  A transaction that adds lines to a log

1. cuts the log back to its committed size (a crash may have left lines of
   a change that never happened), appends its lines and fsyncs them;
2. then writes the data file, with the new committed size, atomically.

So a change and its lines are committed by the same ``os.replace``: a crash
before it leaves neither (the extra lines are ignored, then cut), a crash
after it leaves both.  Readers read only the committed bytes, newest first,
from the end of the file, so a page of recent entries costs the same however
long the log is.

Lines older than the retention period are dropped by writing the log anew
under the next generation's name (at most about once a day): the data file
then points at the new file, and the old one is removed after the commit.
A log is also written anew, at once, without the lines a purge removes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import StoreError

__all__ = ["LogFile", "LogState"]

log = logging.getLogger(__name__)

_BLOCK = 64 * 1024
_TAIL_BLOCK = 4 * 1024 * 1024
#: Old lines are dropped only once they are this much past the retention
#: period, so that a log is rewritten about once a day, not on every change.
COMPACTION_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class LogState:
    """Which file of a log is current (``generation``) and how much of it is committed."""

    generation: int = 0
    size: int = 0

    @classmethod
    def of(cls, doc: Any) -> LogState:
        if not isinstance(doc, dict):
            return cls()
        generation, size = doc.get("generation", 0), doc.get("size", 0)
        if not isinstance(generation, int) or not isinstance(size, int) or min(generation,
                                                                              size) < 0:
            return cls()
        return cls(generation, size)

    def as_doc(self) -> dict[str, int]:
        return {"generation": self.generation, "size": self.size}


class LogFile:
    """The files of one log of a data file: ``<data file stem>.<name>.<generation>.jsonl``.

    :param name: ``audit`` or ``history``, in the file names.
    :param what: the log in messages, e.g. ``"the audit trail"``.
    """

    def __init__(self, data_path: Path, name: str = "audit", what: str = "the audit trail"
                 ) -> None:
        self.folder = data_path.parent
        self.stem = data_path.stem
        self.name = name
        self.what = what

    def path(self, generation: int) -> Path:
        return self.folder / f"{self.stem}.{self.name}.{generation}.jsonl"

    @property
    def pattern(self) -> str:
        """A glob of every generation's file."""
        return f"{self.stem}.{self.name}.*.jsonl"

    # -- writing (the caller holds the store's locks) ----------------------------------------

    def append(self, state: LogState, entries: list[dict[str, Any]],
               cutoff: datetime | None, *, drop: Callable[[bytes], bool] | None = None
               ) -> LogState:
        """Append ``entries`` after the committed part; returns the state to commit.

        When the oldest entry is well past ``cutoff``, or lines are to be dropped
        (``drop`` says which, given a committed line), the kept lines and the new
        ones go to a new generation's file instead.
        """
        if drop is not None or (
                cutoff is not None and self._oldest_before(state, cutoff - COMPACTION_SLACK)):
            return self._rewrite(state, entries, cutoff, drop)
        payload = b"".join(_line(entry) for entry in entries)
        path = self.path(state.generation)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise self._error("write", path, error) from None
        try:
            size = os.fstat(fd).st_size
            if size > state.size:
                # Lines of a change whose data file was never committed.
                os.ftruncate(fd, state.size)
                size = state.size
            os.lseek(fd, size, os.SEEK_SET)
            _write_all(fd, payload)
            os.fsync(fd)
        except OSError as error:
            raise self._error("write", path, error) from None
        finally:
            os.close(fd)
        return LogState(state.generation, size + len(payload))

    def _rewrite(self, state: LogState, entries: list[dict[str, Any]], cutoff: datetime | None,
                 drop: Callable[[bytes], bool] | None) -> LogState:
        def kept(raw: bytes) -> bool:
            at = _time_of(raw) if cutoff is not None else None
            return (at is None or cutoff is None or at >= cutoff) and not (drop and drop(raw))

        lines = [raw for raw in reversed(list(self._raw_lines(state))) if kept(raw)]
        payload = b"".join(raw + b"\n" for raw in lines) + b"".join(_line(e) for e in entries)
        new = LogState(state.generation + 1, len(payload))
        path = self.path(new.generation)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600)
            try:
                _write_all(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as error:
            raise self._error("write", path, error) from None
        if cutoff is not None:
            log.info("Dropped lines of %s older than %s", self.what, cutoff.date())
        return new

    def remove_stale(self, current: LogState) -> None:
        """Remove the log's files of other generations (after a rewrite was committed)."""
        for path in self.folder.glob(self.pattern):
            if path != self.path(current.generation):
                path.unlink(missing_ok=True)

    def _oldest_before(self, state: LogState, when: datetime) -> bool:
        first = self._first_line(state)
        oldest = _time_of(first) if first else None
        return oldest is not None and oldest < when

    def _error(self, action: str, path: Path, error: OSError) -> StoreError:
        reason = error.strerror or error.__class__.__name__
        return StoreError(f"Can't {action} {self.what} {path}: {reason}. Check the folder's "
                          "permissions and free disk space; nothing was changed.", str(path))

    def _first_line(self, state: LogState) -> bytes:
        try:
            with open(self.path(state.generation), "rb") as file:
                return file.readline(min(state.size, 1024 * 1024)).rstrip(b"\n")
        except OSError:
            return b""

    # -- reading ---------------------------------------------------------------------------

    def newest_first(self, state: LogState) -> Iterator[dict[str, Any]]:
        """The committed entries, newest first, read from the end of the file."""
        for raw in self._raw_lines(state):
            try:
                entry = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                log.warning("Skipped an unreadable line in %s", self.path(state.generation))
                continue
            if isinstance(entry, dict):
                yield entry

    def identity(self, generation: int) -> tuple[int, int] | None:
        """What tells this generation's file from another put in its place (a restore),
        or None when there is none."""
        try:
            stat = os.stat(self.path(generation), follow_symlinks=False)
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def committed_blocks(self, state: LogState, start: int) -> Iterator[tuple[int, bytes]]:
        """The committed bytes from offset ``start`` on, oldest first, in blocks of whole
        lines: ``(offset after the block, block)``.  An index follows the log with it,
        reading only what was appended since it last read."""
        if state.size <= start:
            return
        try:
            file = open(self.path(state.generation), "rb")
        except FileNotFoundError:
            return
        except OSError as error:
            raise self._error("read", self.path(state.generation), error) from None
        with file:
            end = min(state.size, os.fstat(file.fileno()).st_size)
            file.seek(start)
            rest = b""
            while start < end:
                chunk = file.read(min(_TAIL_BLOCK, end - start))
                if not chunk:
                    break
                start += len(chunk)
                block = rest + chunk
                cut = len(block) if start >= end else block.rfind(b"\n") + 1
                block, rest = block[:cut], block[cut:]
                if block:
                    yield start - len(rest), block

    def block_before(self, state: LogState, end: int, size: int) -> tuple[int, bytes]:
        """Whole committed lines ending at offset ``end`` (a line's start), from about
        ``size`` bytes before it: ``(offset of the first, lines)``; an index reads the
        log backwards with it, as far as it needs.  No lines (the offset is ``end``)
        when a line is longer than ``size``: ask for more."""
        start = max(0, end - size)
        try:
            with open(self.path(state.generation), "rb") as file:
                file.seek(start)
                block = file.read(min(end, state.size) - start)
        except FileNotFoundError:
            return 0, b""
        except OSError as error:
            raise self._error("read", self.path(state.generation), error) from None
        if start > 0:  # the first line began before: it is the next block's
            cut = block.find(b"\n") + 1
            if cut == 0:
                return end, b""
            start, block = start + cut, block[cut:]
        return start, block

    def _raw_lines(self, state: LogState) -> Iterator[bytes]:
        """The committed lines, last first."""
        if state.size == 0:
            return
        try:
            file = open(self.path(state.generation), "rb")
        except FileNotFoundError:
            return
        except OSError as error:
            raise self._error("read", self.path(state.generation), error) from None
        with file:
            end = min(state.size, os.fstat(file.fileno()).st_size)
            rest = b""
            while end > 0:
                start = max(0, end - _BLOCK)
                file.seek(start)
                block = file.read(end - start) + rest
                end = start
                lines = block.split(b"\n")
                rest = lines.pop(0) if start > 0 else b""
                for raw in reversed(lines):
                    if raw.strip():
                        yield raw
            if rest.strip():
                yield rest


def _line(entry: dict[str, Any]) -> bytes:
    # ASCII with escapes: any text (even a lone surrogate) round-trips.
    return json.dumps(entry, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"


def _time_of(raw: bytes) -> datetime | None:
    try:
        at = json.loads(raw).get("at")
        return datetime.fromisoformat(at) if isinstance(at, str) else None
    except (ValueError, AttributeError):
        return None


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view):]

