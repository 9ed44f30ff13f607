"""The audit trail's file: JSON lines, appended, never rewritten on a change.

Rewriting the whole trail on every change would make each change cost more
as the trail grows, so the trail is not in the data file.  It is an
append-only file beside it, and the data file records how many bytes of it
are committed (``AuditState``).  A transaction that records entries

1. cuts the trail back to its committed size (a crash may have left lines of
   a change that never happened), appends its lines and fsyncs them;
2. then writes the data file, with the new committed size, atomically.

So a change and its entries are committed by the same ``os.replace``: a crash
before it leaves neither (the extra lines are ignored, then cut), a crash
after it leaves both.  Readers read only the committed bytes, newest first,
from the end of the file, so a page of recent entries costs the same however
long the trail is.

Entries older than the retention period are dropped by writing the trail
anew under the next generation's name (at most about once a day): the data
file then points at the new file, and the old one is removed after the commit.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import StoreError

__all__ = ["AuditFile", "AuditState"]

log = logging.getLogger(__name__)

_BLOCK = 64 * 1024
#: Old entries are dropped only once they are this much past the retention
#: period, so that the trail is rewritten about once a day, not on every change.
COMPACTION_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class AuditState:
    """Which trail file is current (``generation``) and how much of it is committed."""

    generation: int = 0
    size: int = 0

    @classmethod
    def of(cls, doc: Any) -> AuditState:
        if not isinstance(doc, dict):
            return cls()
        generation, size = doc.get("generation", 0), doc.get("size", 0)
        if not isinstance(generation, int) or not isinstance(size, int) or min(generation,
                                                                              size) < 0:
            return cls()
        return cls(generation, size)

    def as_doc(self) -> dict[str, int]:
        return {"generation": self.generation, "size": self.size}


class AuditFile:
    """The trail files of one data file: ``<data file stem>.audit.<generation>.jsonl``."""

    def __init__(self, data_path: Path) -> None:
        self.folder = data_path.parent
        self.stem = data_path.stem

    def path(self, generation: int) -> Path:
        return self.folder / f"{self.stem}.audit.{generation}.jsonl"

    # -- writing (the caller holds the store's locks) ----------------------------------------

    def append(self, state: AuditState, entries: list[dict[str, Any]],
               cutoff: datetime | None) -> AuditState:
        """Append ``entries`` after the committed part; returns the state to commit.

        When the oldest entry is well past ``cutoff``, the kept entries and the
        new ones go to a new generation's file instead.
        """
        if cutoff is not None and self._oldest_before(state, cutoff - COMPACTION_SLACK):
            return self._rewrite(state, entries, cutoff)
        payload = b"".join(_line(entry) for entry in entries)
        path = self.path(state.generation)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise _error("write", path, error) from None
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
            raise _error("write", path, error) from None
        finally:
            os.close(fd)
        return AuditState(state.generation, size + len(payload))

    def _rewrite(self, state: AuditState, entries: list[dict[str, Any]],
                 cutoff: datetime) -> AuditState:
        kept = [raw for raw in reversed(list(self._raw_lines(state)))
                if _time_of(raw) is None or _time_of(raw) >= cutoff]  # type: ignore[operator]
        payload = b"".join(raw + b"\n" for raw in kept) + b"".join(_line(e) for e in entries)
        new = AuditState(state.generation + 1, len(payload))
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
            raise _error("write", path, error) from None
        log.info("Dropped audit entries older than %s", cutoff.date())
        return new

    def remove_stale(self, current: AuditState) -> None:
        """Remove trail files of other generations (after a rewrite was committed)."""
        for path in self.folder.glob(f"{self.stem}.audit.*.jsonl"):
            if path != self.path(current.generation):
                path.unlink(missing_ok=True)

    def _oldest_before(self, state: AuditState, when: datetime) -> bool:
        first = self._first_line(state)
        oldest = _time_of(first) if first else None
        return oldest is not None and oldest < when

    def _first_line(self, state: AuditState) -> bytes:
        try:
            with open(self.path(state.generation), "rb") as file:
                return file.readline(min(state.size, 1024 * 1024)).rstrip(b"\n")
        except OSError:
            return b""

    # -- reading ---------------------------------------------------------------------------

    def newest_first(self, state: AuditState) -> Iterator[dict[str, Any]]:
        """The committed entries, newest first, read from the end of the file."""
        for raw in self._raw_lines(state):
            try:
                entry = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                log.warning("Skipped an unreadable line in %s", self.path(state.generation))
                continue
            if isinstance(entry, dict):
                yield entry

    def _raw_lines(self, state: AuditState) -> Iterator[bytes]:
        """The committed lines, last first."""
        if state.size == 0:
            return
        try:
            file = open(self.path(state.generation), "rb")
        except FileNotFoundError:
            return
        except OSError as error:
            raise _error("read", self.path(state.generation), error) from None
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


def _error(action: str, path: Path, error: OSError) -> StoreError:
    reason = error.strerror or error.__class__.__name__
    return StoreError(f"Can't {action} the audit trail {path}: {reason}. Check the folder's "
                      "permissions and free disk space; nothing was changed.", str(path))
