"""TinyDB storage that is atomic, locked and cached.

TinyDB's stock ``JSONStorage`` rewrites its file in place and keeps no lock,
so a crash can truncate the file and two writers can lose each other's
updates.  :class:`AtomicJSONStorage` replaces it:

* every write goes to a new temporary file in the same folder (an
  unpredictable name, created exclusively, never through a symlink), is
  fsynced and then ``os.replace``-d over the old one, so the file on disk is
  always either the old version or the new one;
* every write stamps the file with a random revision, first in the file, so a
  reader tells whether the file changed by reading a few bytes, not by trusting
  timestamps (many file systems keep them to a second or two, and inode
  numbers are reused at once): an unchanged file is not parsed again;
* :meth:`TinyDBStore.transaction` holds a thread lock and a file lock
  (``filelock``) around a read-modify-write, parses the file afresh under them
  (a write never acts on a cached read) and writes it once at the end, so no
  update from another thread or process is lost.

Every store of one file in a process shares one parsed copy of it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document, Table

from .audit import LogFile, LogState
from .errors import StoreCorruptError, StoreError
from .history_index import HistoryIndex
from .permissions import distrust, permission_warnings
from .storage import Record, Revision, Store, Transaction, due_at
from .text import shown

__all__ = ["AtomicJSONStorage", "TinyDBStore", "TinyDBTransaction"]

AUDIT_STATE = "audit_state"  # the table that says how much of the audit trail is committed
CONNECTIONS = "connections"
HISTORY_STATE = "history_state"  # how much of the check history is committed
MEMBERS = "members"
META = "meta"  # the key check
SIGN_OUTS = "sign_outs"
WORKSPACE_SETTINGS = "workspace_settings"
APP_TOKENS = "app_tokens"

Data = dict[str, dict[str, dict[str, Any]]]
LOCK_TIMEOUT = 30.0  # seconds a write waits for another process's write
#: What identifies one version of the file: its revision (None in a file this
#: store did not write) and its ``(inode, size, mtime_ns)``, which still catch
#: an edit by hand.
Signature = tuple[str | None, int, int, int]

REVISION_KEY = "_revision"
_REVISION_PREFIX = re.compile(rb'^\{"' + REVISION_KEY.encode() + rb'":"([0-9a-f]{32})"')
_PREFIX_BYTES = 64


class AtomicJSONStorage(Storage):
    """A TinyDB ``Storage`` over one JSON file, written atomically and read lazily.

    Outside a batch, ``write`` replaces the file at once.  Inside
    :meth:`batch`, reads and writes go to memory and the file is replaced once
    when the batch ends.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._data: Data = {}
        self._signature: Signature | None = None
        self._batch_depth = 0
        self._dirty = False

    # -- TinyDB's two methods -------------------------------------------------

    def read(self) -> Data | None:
        if self._batch_depth == 0:
            self.refresh()
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        self._data = data
        if self._batch_depth:
            self._dirty = True
        else:
            self._replace_file()

    # -- ours -------------------------------------------------------------------

    @property
    def signature(self) -> Signature | None:
        """Identifies the version of the file last read or written (None: no file)."""
        return self._signature

    def refresh(self, *, force: bool = False) -> None:
        """Re-read the file if it changed on disk since it was last read (always, with
        ``force``)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            self._data, self._signature = {}, None
            return
        except OSError as error:
            raise self._open_error(error) from None
        try:
            with os.fdopen(fd, "rb") as file:
                # fstat the open file, not the path: the signature then belongs
                # to exactly the bytes read, even if a writer replaces the path.
                stat = os.fstat(file.fileno())
                prefix = file.read(_PREFIX_BYTES)
                found = _REVISION_PREFIX.match(prefix)
                revision = found.group(1).decode() if found else None
                signature = (revision, stat.st_ino, stat.st_size, stat.st_mtime_ns)
                if signature == self._signature and revision is not None and not force:
                    return
                raw = prefix + file.read()
        except OSError as error:
            raise _store_error("read", self.path, error) from None
        self._data = self._parse(raw)
        self._signature = signature

    def _open_error(self, error: OSError) -> StoreError:
        if self.path.is_symlink():
            return StoreError(f"The data file {self.path} is a symbolic link. It is refused, so "
                              "that nobody can point the store at another file: put the real "
                              "file there, or set CONNECTIONS_DATA_DIR to its folder.",
                              str(self.path))
        return _store_error("read", self.path, error)

    def _parse(self, raw: bytes) -> Data:
        if not raw.strip():
            # This store never writes an empty file: something else truncated it.
            raise StoreCorruptError(self._corrupt_message("is empty"), str(self.path))
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            where = f" (line {error.lineno}, column {error.colno})" if isinstance(
                error, json.JSONDecodeError) else ""
            raise StoreCorruptError(self._corrupt_message(f"is not valid JSON{where}"),
                                    str(self.path)) from None
        if isinstance(data, dict):
            data.pop(REVISION_KEY, None)
        if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
            raise StoreCorruptError(
                self._corrupt_message("is not a TinyDB file (expected an object of tables)"),
                str(self.path))
        for name, table in data.items():
            for doc_id, doc in table.items():
                if not (isinstance(doc, dict) and doc_id.isdigit()):
                    raise StoreCorruptError(self._corrupt_message(
                        f"holds something that is not a document in table '{shown(name, 40)}' "
                        f"(key '{shown(doc_id, 20)}')"), str(self.path))
        return data

    def _corrupt_message(self, problem: str) -> str:
        return (f"The data file {self.path} {problem}. It was left untouched: restore it "
                "from a backup, or move it aside to start with an empty store.")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Collect writes in memory and replace the file once at the end.

        The file is parsed afresh when the outermost batch begins, so changes
        are made to what is on disk now.  If the block raises, nothing is
        written and the in-memory copy is dropped, so the next read comes from
        the file again.
        """
        if self._batch_depth == 0:
            self.refresh(force=True)
        self._batch_depth += 1
        try:
            yield
        except BaseException:
            # TinyDB edits the data it read in place: forget the signature so
            # the next read comes from the file, not from half-edited memory.
            self._signature = None
            self._dirty = False
            raise
        finally:
            self._batch_depth -= 1
        if self._batch_depth == 0 and self._dirty:
            self._dirty = False
            self._replace_file()

    def _replace_file(self) -> None:
        revision = secrets.token_hex(16)
        # ASCII with escapes: any text (even a lone surrogate) round-trips.
        payload = json.dumps({REVISION_KEY: revision, **self._data}, ensure_ascii=True,
                             separators=(",", ":")).encode("ascii")
        try:
            fd, temporary = _exclusive_temporary(self.path)
        except OSError as error:
            raise _store_error("write", self.path, error) from None
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(payload)
                file.flush()
                os.fsync(file.fileno())
                stat = os.fstat(file.fileno())
            os.replace(temporary, self.path)
        except BaseException as error:
            self._signature = None
            temporary.unlink(missing_ok=True)
            if isinstance(error, OSError):
                raise _store_error("write", self.path, error) from None
            raise
        _fsync_directory(self.path.parent)
        self._signature = (revision, stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def remove_leftovers(self) -> None:
        """Remove temporary files that a killed writer left (call holding the file lock)."""
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            leftover.unlink(missing_ok=True)

    def close(self) -> None:
        pass


def _exclusive_temporary(path: Path) -> tuple[int, Path]:
    """A new file beside ``path``, mode 0600, under a name nobody can predict,
    created with ``O_EXCL | O_NOFOLLOW``: whatever someone planted is never opened."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(temporary, flags, 0o600)
        except FileExistsError:
            continue
        os.fchmod(fd, 0o600)  # whatever the umask
        return fd, temporary
    raise FileExistsError(f"no free temporary name beside {path}")


def _store_error(action: str, path: Path, error: OSError) -> StoreError:
    reason = error.strerror or error.__class__.__name__
    return StoreError(f"Can't {action} the data file {path}: {reason}. Check the folder's "
                      "permissions and free disk space; nothing was changed.", str(path))


def _fsync_directory(folder: Path) -> None:
    """Make a rename durable: fsync the folder that holds the file."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _FreshIdTable(Table):
    """A TinyDB table whose cached next document id expires with the file.

    ``Table`` remembers the next ``doc_id`` after an insert; once another
    process has written, that number may already be taken.  The cache is
    kept only while the file is the version it was computed from (an
    ``insert_multiple`` needs it within one write).  Records are identified by
    their own UUID ``id``; ``doc_id`` is only TinyDB's key.
    """

    _id_signature: Signature | None = None

    def _get_next_id(self) -> int:
        signature = getattr(self._storage, "signature", None)
        if signature != self._id_signature:
            self._next_id = None
            self._id_signature = signature
        return super()._get_next_id()  # type: ignore[no-any-return,no-untyped-call]


class _TinyDB(TinyDB):
    table_class = _FreshIdTable


class _Pending:
    """What the transaction under way adds to the file's logs."""

    def __init__(self) -> None:
        self.audit: list[dict[str, Any]] = []
        self.checks: list[dict[str, Any]] = []
        self.checks_cutoff: datetime | None = None
        self.purged: set[tuple[str, str]] = set()  # (workspace_id, id): their checks go


class _SharedFile:
    """What every store of one data file in a process shares: one parsed copy of
    the file, the locks, what the transaction under way adds to the logs, and the
    check history's index."""

    def __init__(self, path: Path) -> None:
        self.db = _TinyDB(path, storage=AtomicJSONStorage)
        self.storage: AtomicJSONStorage = self.db.storage  # type: ignore[assignment]
        self.thread_lock = threading.RLock()
        self.file_lock = FileLock(str(path.with_name(path.name + ".lock")), mode=0o600)
        self.pending: _Pending | None = None
        self.history_file = LogFile(path, "history", "the check history")
        self.history_index = HistoryIndex(self.history_file)


# Held weakly: a file's parsed copy lives as long as a store of it does.
_FILES: weakref.WeakValueDictionary[Path, _SharedFile] = weakref.WeakValueDictionary()
_FILES_GUARD = threading.Lock()


def _shared_file(path: Path) -> _SharedFile:
    with _FILES_GUARD:
        shared = _FILES.get(path)
        if shared is None:
            shared = _FILES[path] = _SharedFile(path)
        return shared


class TinyDBStore(Store):
    """The connections data file: a TinyDB database with atomic, locked writes.

    Reads are cheap while the file is unchanged; data changes only inside
    :meth:`transaction`.  Every store of one file in a process shares one
    parsed copy of it, however many workspaces are open.
    """

    kind = "tinydb"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        # The folder's real path, but not the file's: a data file that is a
        # symbolic link is refused when it is opened, not followed.
        given = Path(path)
        self.path = given.parent.resolve() / given.name
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise StoreError(f"Can't create the data folder {self.path.parent}: "
                             f"{error.strerror or error.__class__.__name__}. Set "
                             "CONNECTIONS_DATA_DIR to a folder this user can write.",
                             str(self.path)) from None
        # Before anything is read or written: files someone else owns, or may write,
        # are not used (the data file's symbolic link is refused when it is opened).
        # The folder is checked once it surely exists: one made by someone else
        # between a check and mkdir would otherwise be taken as ours.
        self._refuse_untrusted(self.path.parent, "data folder")
        if not self.path.is_symlink():
            self._refuse_untrusted(self.path, "data file")
        self._refuse_untrusted(self.path.with_name(self.path.name + ".lock"), "lock file")
        self.audit_file = LogFile(self.path)
        for trail in sorted(self.path.parent.glob(self.audit_file.pattern)):
            self._refuse_untrusted(trail, "audit trail")
        self._shared = _shared_file(self.path)
        self.history_file = self._shared.history_file
        for history in sorted(self.path.parent.glob(self.history_file.pattern)):
            self._refuse_untrusted(history, "check history")
        self._db = self._shared.db
        self._storage = self._shared.storage
        self._thread_lock = self._shared.thread_lock
        self._file_lock = self._shared.file_lock

    def __repr__(self) -> str:
        return f"TinyDBStore({str(self.path)!r})"

    def _refuse_untrusted(self, path: Path, what: str) -> None:
        refused = distrust(path, what)
        if refused is not None:
            raise StoreError(str(refused), str(self.path), untrusted=True)

    @property
    def location(self) -> str:
        return f"the data file {self.path}"

    # -- the storage interface -------------------------------------------------------------

    def revision(self) -> Revision:
        with self._thread_lock:
            self._storage.read()
            return self._storage.signature

    def connections(self, workspace_id: str | None = None) -> tuple[Revision, list[Record]]:
        revision, rows = self.snapshot(CONNECTIONS)
        return revision, _in_workspace(rows, workspace_id)

    def members(self, workspace_id: str | None = None) -> list[Record]:
        return _in_workspace(self.snapshot(MEMBERS)[1], workspace_id)

    def sign_out(self, email: str) -> Record | None:
        return next((dict(doc) for doc in self.snapshot(SIGN_OUTS)[1]
                     if doc.get("email") == email), None)

    def key_check(self) -> Record | None:
        return _key_check(self.snapshot(META)[1])

    def file_warnings(self) -> list[str]:
        return permission_warnings(self.path)

    # -- workspace settings ----------------------------------------------------------------

    def workspace_settings(self, workspace_id: str | None = None) -> list[Record]:
        return [dict(doc) for doc in _in_workspace(self.snapshot(WORKSPACE_SETTINGS)[1],
                                                   workspace_id)]

    # -- application tokens ----------------------------------------------------------------

    def app_token(self, hash: str) -> Record | None:
        return next((dict(doc) for doc in self.snapshot(APP_TOKENS)[1]
                     if doc.get("hash") == hash), None)

    def app_tokens(self, workspace_id: str | None = None) -> list[Record]:
        return [dict(doc) for doc in _in_workspace(self.snapshot(APP_TOKENS)[1], workspace_id)]

    # -- TinyDB's own ----------------------------------------------------------------------

    def table(self, name: str) -> Table:
        """A TinyDB table, for reading (and for writing inside a transaction)."""
        return self._db.table(name, cache_size=0)

    def snapshot(self, name: str) -> tuple[Signature | None, list[dict[str, Any]]]:
        """``(revision, documents)`` of one table, read together.

        The documents are the cached raw dicts: treat them as read-only.  The
        file is re-parsed only when it changed on disk.
        """
        with self._thread_lock:
            data = self._storage.read() or {}
            return self._storage.signature, list(data.get(name, {}).values())

    @contextmanager
    def transaction(self, *, audit_cutoff: datetime | None = None
                    ) -> Iterator[TinyDBTransaction]:
        """Hold both locks, re-read the file, and write it once when the block ends.

        Audit entries given to :meth:`record` inside the block are committed
        with the block's changes, or not at all.  Entries older than
        ``audit_cutoff`` may be dropped meanwhile.

        :raises StoreCorruptError: the file is not valid JSON (nothing is written).
        """
        with self._thread_lock, self._locked_file():
            rewritten: list[tuple[LogFile, LogState]] = []
            with self._storage.batch():
                shared = self._shared
                outermost = shared.pending is None
                if outermost:
                    self._storage.remove_leftovers()
                    shared.pending = _Pending()
                try:
                    yield TinyDBTransaction(self)
                    if outermost and shared.pending is not None:
                        rewritten = self._commit_logs(shared.pending, audit_cutoff)
                finally:
                    if outermost:
                        shared.pending = None
            for file, state in rewritten:
                file.remove_stale(state)

    def _under_way(self, method: str) -> _Pending:
        if self._shared.pending is None:
            raise RuntimeError(f"TinyDBStore.{method}() is only for use inside transaction()")
        return self._shared.pending

    def record(self, entry: dict[str, Any]) -> None:
        """Add an audit entry to the transaction under way."""
        self._under_way("record").audit.append(entry)

    def audit_entries(self, workspace_id: str | None = None) -> Iterator[Record]:
        docs = self.snapshot(AUDIT_STATE)[1]
        entries = self.audit_file.newest_first(LogState.of(docs[0] if docs else None))
        if workspace_id is None:
            return entries
        return (entry for entry in entries if entry.get("workspace_id") == workspace_id)

    def _commit_logs(self, pending: _Pending, audit_cutoff: datetime | None
                     ) -> list[tuple[LogFile, LogState]]:
        """Append what the transaction adds to each log; their new committed sizes go
        into the data file being written.  Returns the logs that moved to a new file."""
        moved = []
        if pending.audit:
            moved.append(self._commit_log(AUDIT_STATE, self.audit_file, pending.audit,
                                          audit_cutoff))
        if pending.checks or pending.purged:
            moved.append(self._commit_log(HISTORY_STATE, self.history_file, pending.checks,
                                          pending.checks_cutoff, _purged(pending.purged)))
        return [(file, state) for file, state in moved if state is not None]

    def _commit_log(self, table_name: str, file: LogFile, entries: list[dict[str, Any]],
                    cutoff: datetime | None, drop: Callable[[bytes], bool] | None = None
                    ) -> tuple[LogFile, LogState | None]:
        table = self._db.table(table_name)
        docs = table.all()
        state = LogState.of(docs[0] if docs else None)
        new = file.append(state, entries, cutoff, drop=drop)
        table.truncate()
        table.insert(new.as_doc())
        return file, new if new.generation != state.generation else None

    # -- the check history -----------------------------------------------------------------

    def append_checks(self, entries: Iterable[Mapping[str, Any]],
                      cutoff: datetime | None) -> None:
        """Add check records to the transaction under way."""
        pending = self._under_way("append_checks")
        pending.checks += (dict(entry) for entry in entries)
        if cutoff is not None:
            pending.checks_cutoff = cutoff

    def forget_checks(self, workspace_id: str, ids: Iterable[str]) -> None:
        """Drop the check records of these connections when the transaction commits."""
        self._under_way("forget_checks").purged.update((workspace_id, id) for id in ids)

    def checks(self, workspace_id: str, connection_id: str, *, since: datetime,
               limit: int | None) -> list[Record]:
        return self._shared.history_index.checks(self._history_state(), workspace_id,
                                                 connection_id, since=since, limit=limit)

    def check_summary(self, workspace_id: str, connection_id: str, *,
                      since: datetime) -> Record:
        return self._shared.history_index.summary(self._history_state(), workspace_id,
                                                  connection_id, since=since)

    def _history_state(self) -> LogState:
        docs = self.snapshot(HISTORY_STATE)[1]
        return LogState.of(docs[0] if docs else None)

    @contextmanager
    def _locked_file(self) -> Iterator[None]:
        try:
            self._file_lock.acquire(timeout=LOCK_TIMEOUT)
        except Timeout:
            raise StoreError(f"The data file {self.path} stayed locked by another process for "
                             f"{LOCK_TIMEOUT:g} s; nothing was changed. Try again.",
                             str(self.path)) from None
        except OSError as error:
            raise _store_error("lock", self.path, error) from None
        try:
            yield
        finally:
            self._file_lock.release()

    def size_bytes(self) -> int | None:
        """The size of the data file (0 before the first write)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0


class TinyDBTransaction(Transaction):
    """The storage interface's changes, on the file's tables (inside the locks).

    Records are looked up by scanning: the whole file is in memory, and a
    write rewrites all of it anyway.
    """

    def __init__(self, store: TinyDBStore) -> None:
        self._store = store
        self._connections = store.table(CONNECTIONS)
        self._members = store.table(MEMBERS)
        self._sign_outs = store.table(SIGN_OUTS)

    def connection(self, workspace_id: str, id: str) -> Record | None:
        doc = self._connection_doc(workspace_id, id)
        return None if doc is None else dict(doc)

    def connections(self, workspace_id: str | None, *, type: str | None = None,
                    active: bool = False, ids: Collection[str] | None = None) -> list[Record]:
        wanted = None if ids is None else set(ids)
        return [dict(doc) for doc in self._connections
                if (workspace_id is None or doc.get("workspace_id") == workspace_id)
                and (type is None or doc.get("type") == type)
                and not (active and doc.get("deleted_at"))
                and (wanted is None or _text_id(doc) in wanted)]

    def default_connection(self, workspace_id: str, type: str) -> Record | None:
        return next((row for row in self.connections(workspace_id, type=type, active=True)
                     if row.get("is_default") is True), None)

    def insert_connection(self, record: Mapping[str, Any]) -> None:
        self._connections.insert(dict(record))

    def insert_connections(self, records: Iterable[Mapping[str, Any]]) -> None:
        # One table update: TinyDB's insert() copies the whole table each time.
        self._connections.insert_multiple(dict(record) for record in records)

    def update_connection(self, workspace_id: str, id: str, changes: Mapping[str, Any]) -> None:
        doc = self._connection_doc(workspace_id, id)
        if doc is not None:
            self._connections.update(dict(changes), doc_ids=[doc.doc_id])

    def update_connections(self, updates: Iterable[tuple[str, str, Mapping[str, Any]]]
                           ) -> None:
        # One pass over the table, however many records change (a key rotation
        # changes them all).
        wanted = {(workspace_id, id): changes for workspace_id, id, changes in updates}
        doc_ids = [doc.doc_id for doc in self._connections
                   if (doc.get("workspace_id"), _text_id(doc)) in wanted]

        def apply(doc: MutableMapping[str, Any]) -> None:
            doc.update(wanted[(doc["workspace_id"], doc["id"])])

        if doc_ids:
            self._connections.update(apply, doc_ids=doc_ids)

    def replace_connection(self, record: Mapping[str, Any]) -> None:
        doc = self._connection_doc(record["workspace_id"], record["id"])
        if doc is None:
            self._connections.insert(dict(record))
        else:
            self._connections.remove(doc_ids=[doc.doc_id])
            self._connections.insert(Document(dict(record), doc_id=doc.doc_id))

    def remove_connections(self, workspace_id: str, ids: Iterable[str]) -> None:
        wanted = set(ids)
        self._connections.remove(doc_ids=[
            doc.doc_id for doc in self._connections
            if doc.get("workspace_id") == workspace_id and _text_id(doc) in wanted])
        if wanted:
            self._store.forget_checks(workspace_id, wanted)

    def members(self, workspace_id: str) -> list[Record]:
        return [dict(doc) for doc in self._members if doc.get("workspace_id") == workspace_id]

    def put_member(self, record: Mapping[str, Any]) -> None:
        doc = self._member_doc(record["workspace_id"], record["email"])
        if doc is None:
            self._members.insert(dict(record))
        else:
            self._members.remove(doc_ids=[doc.doc_id])
            self._members.insert(Document(dict(record), doc_id=doc.doc_id))

    def remove_member(self, workspace_id: str, email: str) -> None:
        doc = self._member_doc(workspace_id, email)
        if doc is not None:
            self._members.remove(doc_ids=[doc.doc_id])

    def sign_out(self, email: str) -> Record | None:
        doc = self._sign_out_doc(email)
        return None if doc is None else dict(doc)

    def put_sign_out(self, record: Mapping[str, Any]) -> None:
        doc = self._sign_out_doc(record["email"])
        if doc is None:
            self._sign_outs.insert(dict(record))
        else:
            self._sign_outs.remove(doc_ids=[doc.doc_id])
            self._sign_outs.insert(Document(dict(record), doc_id=doc.doc_id))

    def key_check(self) -> Record | None:
        return _key_check(self._store.table(META).all())

    def set_key_check(self, record: Mapping[str, Any]) -> None:
        meta = self._store.table(META)
        meta.truncate()
        meta.insert(dict(record))

    def remove_key_check(self) -> None:
        self._store.table(META).truncate()

    def record(self, entry: Mapping[str, Any]) -> None:
        self._store.record(dict(entry))

    # -- the check history -------------------------------------------------------------------

    def append_checks(self, entries: Iterable[Mapping[str, Any]], *,
                      cutoff: datetime | None = None) -> None:
        self._store.append_checks(entries, cutoff)

    # -- workspace settings ------------------------------------------------------------------

    def workspace_settings(self, workspace_id: str | None) -> list[Record]:
        return [dict(doc) for doc in self._store.table(WORKSPACE_SETTINGS)
                if workspace_id is None or doc.get("workspace_id") == workspace_id]

    def put_workspace_settings(self, record: Mapping[str, Any]) -> None:
        table = self._store.table(WORKSPACE_SETTINGS)
        doc = next((doc for doc in table
                    if doc.get("workspace_id") == record["workspace_id"]), None)
        if doc is None:
            table.insert(dict(record))
        else:
            table.remove(doc_ids=[doc.doc_id])
            table.insert(Document(dict(record), doc_id=doc.doc_id))

    # -- application tokens ------------------------------------------------------------------

    def app_tokens(self, workspace_id: str | None) -> list[Record]:
        return [dict(doc) for doc in self._store.table(APP_TOKENS)
                if workspace_id is None or doc.get("workspace_id") == workspace_id]

    def put_app_token(self, record: Mapping[str, Any]) -> None:
        table = self._store.table(APP_TOKENS)
        doc = next((doc for doc in table if doc.get("workspace_id") == record["workspace_id"]
                    and doc.get("id") == record["id"]), None)
        if doc is None:
            table.insert(dict(record))
        else:
            table.remove(doc_ids=[doc.doc_id])
            table.insert(Document(dict(record), doc_id=doc.doc_id))
    # -- scheduled checks ----------------------------------------------------------------

    def due_connections(self, now: datetime, limit: int) -> list[Record]:
        # The file lock keeps them this transaction's: no other claim runs meanwhile.
        # Only the due ones are copied.
        due = [(when, doc) for doc in self._connections
               if (when := due_at(doc)) is not None and when <= now]
        due.sort(key=lambda pair: pair[0])
        return [dict(doc) for _, doc in due[:limit]]

    def _connection_doc(self, workspace_id: str, id: str) -> Document | None:
        return next((doc for doc in self._connections
                     if doc.get("id") == id and doc.get("workspace_id") == workspace_id), None)

    def _member_doc(self, workspace_id: str, email: str) -> Document | None:
        return next((doc for doc in self._members
                     if doc.get("email") == email and doc.get("workspace_id") == workspace_id),
                    None)

    def _sign_out_doc(self, email: str) -> Document | None:
        return next((doc for doc in self._sign_outs if doc.get("email") == email), None)


def _purged(connections: set[tuple[str, str]]) -> Callable[[bytes], bool] | None:
    """Which lines of the check history a purge of ``connections`` drops (None: none)."""
    if not connections:
        return None

    def dropped(raw: bytes) -> bool:
        try:
            entry = json.loads(raw)
            return (entry["workspace_id"], entry["connection_id"]) in connections
        except (ValueError, TypeError, KeyError):
            return False
    return dropped


def _text_id(doc: Mapping[str, Any]) -> str | None:
    """A record's id, when it is text (a record damaged by hand may hold anything)."""
    id = doc.get("id")
    return id if isinstance(id, str) else None


def _in_workspace(rows: list[Record], workspace_id: str | None) -> list[Record]:
    if workspace_id is None:
        return rows
    return [row for row in rows if row.get("workspace_id") == workspace_id]


def _key_check(meta: Iterable[Mapping[str, Any]]) -> Record | None:
    return next((dict(doc) for doc in meta if "key_check" in doc), None)
