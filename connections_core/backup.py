"""Portable backups: workspaces in a file that another installation can import.

A backup is readable JSON, except for the secrets, which are encrypted with a
key derived from a passphrase, so the file is useful without this
installation's ``ENCRYPTION_KEY``::

    data = export_backup(service, ["team-a"], passphrase)
    write_backup(Path("team-a.backup.json"), data)          # mode 0600, atomic
    ...                                                     # on another machine:
    backup = read_backup(load_backup(Path("team-a.backup.json")), passphrase)
    report = import_backup(other_service, backup, on_conflict="skip")

The file (format ``connections-backup``, version 1)::

    {"format": "connections-backup", "version": 1, "created_at": "2026-...",
     "kdf": {"name": "scrypt", "n": 131072, "r": 8, "p": 1, "length": 32, "salt": "<hex>"},
     "cipher": "AES-256-GCM", "check": "<hex>",
     "workspaces": {"team-a": {
         "members": [{"email": "ana@example.com", "role": "admin"}],
         "connections": [{"id": "...", "type": "openai", "name": "Prod",
                          "config": {"baseUrl": "https://api.openai.com/v1"},
                          "secrets": {"apiKey": "<hex>"}, "is_default": true, ...}]}},
     "seal": "<hex>"}

* The key is scrypt (``kdf``: its parameters and a random salt, recorded so
  later versions can raise them) of the passphrase, NFC-normalised UTF-8.
* ``check`` is a fixed text encrypted with that key: a wrong passphrase is
  told apart from a damaged file before anything else is read.
* Each secret is AES-256-GCM (hex of a 12-byte nonce, the ciphertext and the
  tag) with its place as associated data: workspace, connection id, type,
  field and where the provider sends it (the base URL; Azure's endpoint;
  Bedrock's region and endpoint).  A secret moved to another record, or a
  base URL edited to send a key elsewhere, no longer decrypts.
* ``seal`` authenticates the whole document (an empty AES-GCM message whose
  associated data is the canonical JSON of everything else): a name, a member
  or a role edited by hand is refused as well.

What is in a backup: every connection of the exported workspaces, deleted
ones too (with ``deleted_at``, so a backup is complete), with their status and
last check; the members of those workspaces.  Not in it: the audit trail,
this installation's key, the hints (last four characters) of keys, and the
workspaces' alert webhooks (a copy restored elsewhere, a staging machine or a
laptop, must not post into the team's channel: an admin sets it there again).
"""

from __future__ import annotations

import json
import os
import stat
import unicodedata
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from . import access
from .crypto import associated_data
from .errors import ConflictError, ConnectionsError, PermissionDeniedError, ValidationError
from .inputs import NAME_MAX, checked_name, checked_workspace
from .models import STATUSES
from .providers import MAX_MODELS, PROVIDERS, get_provider, validate_config
from .records import destination_of
from .service import ConnectionService
from .store import _exclusive_temporary, _fsync_directory
from .text import name_problem, shown

__all__ = [
    "Backup",
    "BackupConnection",
    "BackupError",
    "BackupMember",
    "DefaultMove",
    "ImportEntry",
    "ImportReport",
    "MemberEntry",
    "export_backup",
    "import_backup",
    "load_backup",
    "preview_import",
    "read_backup",
    "write_backup",
]

FORMAT = "connections-backup"
VERSION = 1
CIPHER = "AES-256-GCM"
#: scrypt's cost: 2**17 with r=8 takes 128 MiB and about half a second (OWASP's
#: minimum for scrypt).  Raise it here; files record what they were made with.
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
#: What a file may ask of scrypt: enough room to raise the cost later, not so
#: much that a hostile file makes a reader allocate gigabytes.
SCRYPT_N_RANGE = (2**14, 2**20)
SCRYPT_MEMORY_MAX = 2**30
KEY_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
PASSPHRASE_MIN = 8
#: A backup larger than this is refused unread (50,000 connections fit).
MAX_BACKUP_BYTES = 64 * 2**20
_READ_CHUNK = 2**20
MAX_CONNECTIONS = 50_000
_CHECK_TEXT = b"connections backup passphrase check"

OnConflict = Literal["skip", "replace", "copy"]
Action = Literal["created", "replaced", "skipped", "copied"]
Progress = Callable[[int, int], None]
Record = dict[str, Any]

#: The stored fields a backup keeps for a connection, besides id, type, name and config.
_KEPT = ("is_default", "status", "last_checked_at", "last_result", "available_models",
         "created_at", "updated_at", "deleted_at")
_COPY_IDS = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")  # namespace of copies' ids


class BackupError(ConnectionsError):
    """A backup can't be read: wrong passphrase, damaged or edited file, or a format
    version this installation doesn't know.  Nothing was imported."""


@dataclass(frozen=True)
class BackupConnection:
    """A connection as read from a backup; ``config`` holds its secrets in the clear
    (never shown in ``repr``)."""

    workspace: str
    id: str
    type: str
    name: str
    config: Mapping[str, str] = field(repr=False)
    fields: Mapping[str, Any] = field(repr=False)  # status, last check, times, default

    @property
    def is_deleted(self) -> bool:
        return bool(self.fields.get("deleted_at"))


@dataclass(frozen=True)
class BackupMember:
    """A member of a workspace, as read from a backup."""

    workspace: str
    email: str
    role: str


@dataclass(frozen=True)
class Backup:
    """The content of a backup file, checked and decrypted by :func:`read_backup`."""

    created_at: str
    workspaces: tuple[str, ...]
    connections: tuple[BackupConnection, ...]
    members: tuple[BackupMember, ...]


@dataclass(frozen=True)
class ImportEntry:
    """What an import did (or, in a dry run, would do) with one connection.

    ``workspace`` and ``id`` are where it is in this installation (a copy has a
    new id); ``name`` is its name here.
    """

    workspace: str
    name: str
    id: str
    action: Action


#: A member an import added (or would add) to a workspace: the backup's own record.
MemberEntry = BackupMember


@dataclass(frozen=True)
class DefaultMove:
    """A default connection that an import replaces with one of another base URL:
    what uses the workspace's default of its type then talks to another server."""

    workspace: str
    id: str
    name: str  # here, before the import
    type: str
    base_url: str  # here, before the import
    new_base_url: str  # the backup's


#: What a person should confirm before an import does it: an admin it adds to a
#: workspace, or a default connection it points at another base URL.
ToConfirm = MemberEntry | DefaultMove


@dataclass(frozen=True)
class ImportReport:
    """Every connection of the backup and what became of it, in the file's order."""

    entries: list[ImportEntry]
    members: list[MemberEntry] = field(default_factory=list)
    dry_run: bool = False
    moved_defaults: list[DefaultMove] = field(default_factory=list)

    def count(self, action: Action) -> int:
        """How many connections had ``action``."""
        return sum(entry.action == action for entry in self.entries)

    @property
    def counts(self) -> dict[str, int]:
        """``{"created": n, "replaced": n, "skipped": n, "copied": n}``."""
        return {action: self.count(action) for action in get_args(Action)}

    @property
    def changed(self) -> bool:
        """Whether the import wrote (or would write) anything."""
        return bool(self.members) or any(e.action != "skipped" for e in self.entries)

    @property
    def admins_added(self) -> list[MemberEntry]:
        """The members it adds (or would add) as admins of their workspace."""
        return [member for member in self.members if member.role == "admin"]

    @property
    def to_confirm(self) -> list[ToConfirm]:
        """What a person should confirm first: the admins it adds and the defaults it
        moves (pass them back as ``import_backup(..., confirmed=...)``)."""
        return [*self.admins_added, *self.moved_defaults]


# -- export ------------------------------------------------------------------------------


def export_backup(service: ConnectionService, workspaces: Sequence[str], passphrase: str, *,
                  progress: Progress | None = None, scrypt_n: int = SCRYPT_N) -> bytes:
    """The backup of ``workspaces`` (connections, deleted ones too, and members),
    its secrets encrypted with a key derived from ``passphrase``.

    Only trusted code may export (the file holds every key, as
    :meth:`ConnectionService.resolve_config` gives them).

    :param progress: called with ``(done, total)`` connections as they are read.
    :param scrypt_n: scrypt's cost (a power of two); tests lower it.
    :raises ValidationError: no workspace, a bad workspace id, or a passphrase
        shorter than :data:`PASSPHRASE_MIN` characters.
    :raises DecryptionError: a stored secret can't be decrypted (naming its record).
    :raises StoreCorruptError: a stored record is damaged (naming it).
    """
    secret = _passphrase_bytes(passphrase, minimum=PASSPHRASE_MIN)
    names = _export_workspaces(workspaces)
    kdf = {"name": "scrypt", "n": scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P,
           "length": KEY_BYTES, "salt": os.urandom(SALT_BYTES).hex()}
    _checked_kdf(kdf)
    services = [service.in_workspace(name) for name in names]
    records = {s.workspace_id: s.backup_records() for s in services}
    members = {s.workspace_id: s.members() for s in services}
    aes = AESGCM(_derive(secret, kdf))
    total, done = sum(len(found) for found in records.values()), 0
    content: dict[str, Any] = {}
    for name in names:
        entries = []
        for record in records[name]:
            entries.append(_exported(aes, name, record))
            done += 1
            if progress is not None:
                progress(done, total)
        content[name] = {"members": [{"email": m.email, "role": m.role} for m in members[name]],
                         "connections": entries}
    document: Record = {
        "format": FORMAT, "version": VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "kdf": kdf, "cipher": CIPHER, "check": _seal(aes, _CHECK_TEXT, _check_context()),
        "workspaces": content,
    }
    document["seal"] = _seal(aes, b"", _document_context(document))
    return (json.dumps(document, indent=1, ensure_ascii=True) + "\n").encode("ascii")


def _export_workspaces(workspaces: Sequence[str]) -> list[str]:
    if isinstance(workspaces, str):
        workspaces = [workspaces]
    names = sorted({checked_workspace(name) for name in workspaces})
    if not names:
        raise ValidationError({"workspaces": "Name at least one workspace to export."})
    return names


def _exported(aes: AESGCM, workspace: str, record: Mapping[str, Any]) -> Record:
    """One connection as a backup holds it: its secrets sealed to their place."""
    provider = get_provider(record["type"])
    config = dict(record["config"])
    secrets = {f: config.pop(f) for f in provider.secret_fields if f in config}
    entry: Record = {"id": record["id"], "type": record["type"], "name": record["name"],
                     "config": config}
    entry["secrets"] = {
        f: _seal(aes, value.encode("utf-8"), _secret_context(workspace, entry, f))
        for f, value in secrets.items()}
    entry.update(_sound_fields(record))
    return entry


def _sound_fields(record: Mapping[str, Any]) -> Record:
    """The kept fields of a stored record, each as a reader accepts it (a value
    damaged in the data file is left out, not exported to fail the import)."""
    status, models, result = (record.get(k) for k in ("status", "available_models",
                                                      "last_result"))
    fields: Record = {
        "is_default": record.get("is_default") is True,
        "status": status if status in STATUSES else "unconfigured",
        "last_result": result if isinstance(result, dict) else None,
        "available_models": [m for m in models if isinstance(m, str)][:MAX_MODELS]
        if isinstance(models, list) else [],
    }
    for name in ("last_checked_at", "created_at", "updated_at", "deleted_at"):
        fields[name] = record.get(name) if _is_time(record.get(name)) else None
    if record.get("deleted_at") and fields["deleted_at"] is None:  # deleted, at a damaged time
        fields["deleted_at"] = datetime.now(UTC).isoformat()
    return fields


def write_backup(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, replacing it: mode 0600 from the first byte,
    through a temporary file in the same folder (fsynced, then renamed), so the
    path holds either the old file or the whole new one, and a failure leaves
    nothing behind.

    :raises BackupError: the file can't be written (saying why; never the data).
    """
    path = Path(path)
    try:
        fd, temporary = _exclusive_temporary(path)
    except OSError as error:
        raise _write_error(path, error) from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        _fsync_directory(path.parent)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _write_error(path, error) from None
        raise


def _write_error(path: Path, error: OSError) -> BackupError:
    reason = error.strerror or error.__class__.__name__
    return BackupError(f"Can't write the backup {path}: {reason}. Choose a folder you can "
                       "write to, with free space; nothing was written.")


# -- reading -----------------------------------------------------------------------------


def load_backup(path: Path) -> bytes:
    """The content of the backup file at ``path``, for :func:`read_backup`.

    It is checked on the open file before anything is read: only a regular file
    of at most :data:`MAX_BACKUP_BYTES` is read (a device such as ``/dev/zero``,
    a named pipe or a folder is refused, and so is a larger file), and never more
    than that many bytes, even if the file grows meanwhile.

    :raises BackupError: the file can't be opened or read, is not a regular file,
        or is larger than a backup may be.  The message names the path.
    """
    path = Path(path)
    try:
        # Non-blocking, so that opening a named pipe does not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise _read_error(path, error) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BackupError(f"{path} is {_kind_of(info.st_mode)}, not a file: a backup is a "
                              "file written by `python -m connections_core export`. Nothing "
                              "was imported.")
        if info.st_size > MAX_BACKUP_BYTES:
            raise _too_large()
        data = _read_at_most(fd, MAX_BACKUP_BYTES + 1)
    except OSError as error:
        raise _read_error(path, error) from None
    finally:
        os.close(fd)
    if len(data) > MAX_BACKUP_BYTES:  # it grew after it was measured
        raise _too_large()
    return data


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, min(_READ_CHUNK, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def _read_error(path: Path, error: OSError) -> BackupError:
    reason = error.strerror or error.__class__.__name__
    return BackupError(f"Can't read {path}: {reason}. Check the path; nothing was imported.")


def _too_large() -> BackupError:
    return BackupError(f"This file is larger than a backup may be ({MAX_BACKUP_BYTES // 2**20} "
                       "MiB); it is not a connections backup. Nothing was imported.")


def read_backup(data: bytes, passphrase: str) -> Backup:
    """Check and decrypt a backup made by :func:`export_backup`.

    Every secret is decrypted and every connection checked as
    :meth:`ConnectionService.create` checks it, so a backup that reads is one
    that imports.

    :raises BackupError: the passphrase is wrong, the file is not a backup, is
        damaged or was edited, or has a format version this one doesn't read.
        The message says which, and what to do; it never quotes a secret.
    """
    document = _parsed(data)
    kdf = _checked_kdf(document.get("kdf"))
    if document.get("cipher") != CIPHER:
        raise _damaged("it names an unknown cipher")
    aes = AESGCM(_derive(_passphrase_bytes(passphrase), kdf))
    if _open(aes, document.get("check"), _check_context()) != _CHECK_TEXT:
        raise _damaged("its passphrase check is not what it should be")
    body = {k: v for k, v in document.items() if k != "seal"}
    if _open(aes, document.get("seal"), _document_context(body)) != b"":
        raise _damaged("its seal is not what it should be")
    return _backup(aes, document)


def _parsed(data: bytes) -> Record:
    """The document, with a known format and version (nothing decrypted yet)."""
    if not isinstance(data, bytes | bytearray):
        raise BackupError("A backup is read as bytes (load_backup(path)).")
    if len(data) > MAX_BACKUP_BYTES:
        raise _too_large()
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        where = f" (line {error.lineno}, column {error.colno})" \
            if isinstance(error, json.JSONDecodeError) else ""
        raise BackupError(f"This file is not valid JSON{where}: it is not a connections "
                          "backup, or it was cut short or damaged. Use an intact copy; nothing "
                          "was imported.") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BackupError("This file is not a connections backup (its format is not "
                          f"'{FORMAT}'). Nothing was imported.")
    version = document.get("version")
    if type(version) is not int:
        raise _damaged("its format version is not a whole number")
    if version != VERSION:
        raise BackupError(f"This backup has format version {version}; this installation reads "
                          f"version {VERSION}. Import it with the version of connections that "
                          "made it, or a newer one. Nothing was imported.")
    return document


def _damaged(problem: str) -> BackupError:
    return BackupError(f"This backup is damaged or was edited ({problem}). Use an intact copy "
                       "of the file; nothing was imported.")


def _checked_kdf(kdf: Any) -> Record:
    """scrypt parameters a reader may safely use, or BackupError."""
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise _damaged("its key derivation is not scrypt")
    numbers = [v for v in (kdf.get(k) for k in ("n", "r", "p", "length")) if type(v) is int]
    salt = kdf.get("salt")
    if len(numbers) != 4 or not isinstance(salt, str):
        raise _damaged("its scrypt parameters are not whole numbers")
    n, r, p, length = numbers
    low, high = SCRYPT_N_RANGE
    sound = (low <= n <= high and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16
             and 128 * n * r <= SCRYPT_MEMORY_MAX and length == KEY_BYTES
             and _hex_bytes(salt) is not None and 2 * SALT_BYTES <= len(salt) <= 128)
    if not sound:
        raise _damaged("its scrypt parameters are outside what this version accepts")
    return kdf


def _backup(aes: AESGCM, document: Mapping[str, Any]) -> Backup:
    workspaces = document.get("workspaces")
    if not isinstance(workspaces, dict):
        raise _damaged("it has no workspaces")
    connections: list[BackupConnection] = []
    members: list[BackupMember] = []
    for name, content in workspaces.items():
        where = f"workspace '{shown(name, 40)}'"
        try:
            name = checked_workspace(name)
        except ValidationError:
            raise _invalid(where, "its id is not a workspace id") from None
        if not isinstance(content, dict):
            raise _invalid(where, "it is not an object")
        members += _members(name, content.get("members"))
        found = _connections(aes, name, content.get("connections"))
        connections += found
        if len(connections) > MAX_CONNECTIONS:
            raise _damaged(f"it holds more than {MAX_CONNECTIONS:,} connections")
    created = document.get("created_at")
    return Backup(created_at=created if isinstance(created, str) else "",
                  workspaces=tuple(workspaces), connections=tuple(connections),
                  members=tuple(members))


def _invalid(where: str, problem: str) -> BackupError:
    return BackupError(f"This backup can't be imported: {where}: {problem}. Nothing was "
                       "imported.")


def _members(workspace: str, raw: Any) -> list[BackupMember]:
    where = f"the members of workspace '{workspace}'"
    if not isinstance(raw, list):
        raise _invalid(where, "they are not a list")
    found: dict[str, BackupMember] = {}
    for item in raw:
        try:
            email = access.checked_email(item.get("email") if isinstance(item, dict) else None)
            role = access.checked_role(item.get("role"))
        except ValidationError as error:
            raise _invalid(where, str(error)) from None
        if email in found:
            raise _invalid(where, f"{email} is listed twice")
        found[email] = BackupMember(workspace, email, role)
    if found and not any(m.role == "admin" for m in found.values()):
        raise _invalid(where, "a workspace with members has at least one admin")
    return list(found.values())


def _connections(aes: AESGCM, workspace: str, raw: Any) -> list[BackupConnection]:
    if not isinstance(raw, list):
        raise _invalid(f"workspace '{workspace}'", "its connections are not a list")
    found: list[BackupConnection] = []
    ids: set[str] = set()
    for number, item in enumerate(raw, 1):
        where = f"connection {number} of workspace '{workspace}'"
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            where += f" ('{shown(item['name'], 40)}')"
        connection = _connection(aes, workspace, item, where)
        if connection.id in ids:
            raise _invalid(where, "another connection of the workspace has its id")
        ids.add(connection.id)
        found.append(connection)
    return found


def _connection(aes: AESGCM, workspace: str, item: Any, where: str) -> BackupConnection:
    """One connection from the file, decrypted and checked as create checks it."""
    if not isinstance(item, dict):
        raise _invalid(where, "it is not an object")
    id, kind, config, secrets = (item.get(k) for k in ("id", "type", "config", "secrets"))
    if not isinstance(id, str) or not 1 <= len(id) <= NAME_MAX or name_problem(id, "An id"):
        raise _invalid(where, f"its id is not 1-{NAME_MAX} visible characters")
    if not isinstance(kind, str) or kind not in PROVIDERS:
        raise _invalid(where, "its provider type is unknown")
    if not isinstance(config, dict) or not isinstance(secrets, dict):
        raise _invalid(where, "its config or secrets are not objects")
    provider = get_provider(kind)
    opened: dict[str, str] = {}
    for name, token in secrets.items():
        if name not in provider.secret_fields or name in config:
            raise _invalid(where, f"'{shown(name, 40)}' is not a secret field of {kind}")
        plain = _open(aes, token, _secret_context(workspace, item, name))
        try:
            opened[name] = plain.decode("utf-8")
        except UnicodeDecodeError:
            raise _damaged(f"a secret of {where} is not text") from None
    errors: dict[str, str] = {}
    clean_name = checked_name(item.get("name"), errors)
    try:
        clean = validate_config(provider, {**config, **opened})
    except ValidationError as error:
        errors.update(error.field_errors)
    if errors:
        raise _invalid(where, "; ".join(f"{k}: {v}" for k, v in errors.items()))
    return BackupConnection(workspace, id, kind, clean_name, clean, _kept_fields(item, where))


def _kept_fields(item: Mapping[str, Any], where: str) -> Record:
    """Status, last check, times and default flag, each of the type it should be."""
    kept = {name: item.get(name) for name in _KEPT}
    if kept["status"] not in STATUSES:
        raise _invalid(where, f"its status is not one of {', '.join(STATUSES)}")
    if not isinstance(kept["is_default"], bool):
        raise _invalid(where, "its default flag is not true or false")
    for name in ("last_checked_at", "created_at", "updated_at", "deleted_at"):
        if not (kept[name] is None or _is_time(kept[name])):
            raise _invalid(where, f"its {name} is not a date and time")
    result, models = kept["last_result"], kept["available_models"]
    if not (result is None or isinstance(result, dict)):
        raise _invalid(where, "its last result is not an object")
    if not isinstance(models, list) or len(models) > MAX_MODELS \
            or not all(isinstance(m, str) for m in models):
        raise _invalid(where, f"its models are not a list of at most {MAX_MODELS} names")
    return kept


def _is_time(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 40:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


# -- import ------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What an import does, worked out from the stored rows."""

    entries: list[ImportEntry] = field(default_factory=list)
    records: dict[str, list[Record]] = field(default_factory=dict)  # by target workspace
    members: dict[str, list[MemberEntry]] = field(default_factory=dict)
    moved_defaults: list[DefaultMove] = field(default_factory=list)


def import_backup(service: ConnectionService, backup: Backup, *, workspace: str | None = None,
                  on_conflict: OnConflict = "skip", dry_run: bool = False,
                  progress: Progress | None = None,
                  confirmed: Collection[ToConfirm] | None = None) -> ImportReport:
    """Import ``backup`` into this installation, re-encrypting its secrets with the
    service's key (bound to their new records, as :meth:`create` does).

    A connection *conflicts* when the target workspace already has one with its id
    (importing the same backup twice: every connection conflicts).  Then
    ``on_conflict`` decides: ``"skip"`` keeps the one here; ``"replace"`` overwrites
    it with the backup's (it keeps its id, and its place as default); ``"copy"``
    adds the backup's as a new connection with a new id and its name made unique
    ("Prod (imported)").  Defaults: a workspace keeps its own; an imported default
    becomes the default only where its type has none.  Members are added only when
    absent, and only when importing into the workspaces named in the file.

    An import that adds an admin, or replaces a default connection with one of
    another base URL, lists these in :attr:`ImportReport.to_confirm`: a caller
    asking a person first makes a dry run, shows them, and passes what was
    confirmed as ``confirmed``.

    All or nothing: one transaction, with an audit entry for each change
    (``connection.imported``, ``member.imported``).

    :param workspace: import everything into this one workspace instead (members
        are then left out: they were given access to another workspace).
    :param dry_run: work out the same report and write nothing.
    :param progress: called with ``(done, total)`` connections.
    :param confirmed: the changes a person confirmed; if the import would now make
        another (this installation changed since the dry run), nothing is written.
    :raises ValidationError: ``on_conflict`` or ``workspace`` is invalid.
    :raises PermissionDeniedError: the actor is not trusted code or an instance admin.
    :raises ConflictError: it would add an admin or move a default not in ``confirmed``.
    """
    if on_conflict not in get_args(OnConflict):
        raise ValidationError({"on_conflict": "On a conflict, choose skip, replace or copy."})
    targets = sorted({workspace} if workspace is not None else set(backup.workspaces))
    services = {name: service.in_workspace(name) for name in targets}
    if not all(s.can("import_records") for s in services.values()):
        raise PermissionDeniedError("Only an instance admin may import a backup.",
                                    "import_records")
    with nullcontext() if dry_run else service.store.transaction():
        plan = _plan(service.store.connections()[1], service.store.members(), backup,
                     workspace, on_conflict, progress)
        members = [m for found in plan.members.values() for m in found]
        report = ImportReport(plan.entries, members, dry_run, plan.moved_defaults)
        if confirmed is not None:
            _refuse_unconfirmed(report, confirmed)
        if not dry_run:
            for name, records in plan.records.items():
                added = [{"email": m.email, "role": m.role} for m in plan.members.get(name, [])]
                if records or added:
                    services[name].import_records(records, added)
    if progress is not None:
        progress(len(backup.connections), len(backup.connections))
    return report


def preview_import(backup: Backup, *, workspace: str | None = None,
                   on_conflict: OnConflict = "skip",
                   progress: Progress | None = None) -> ImportReport:
    """What :func:`import_backup` would do in an installation that has nothing yet (no
    data file, no database): its dry run where there is no store to open.  Writes
    nothing, and needs no key.

    :raises ValidationError: ``on_conflict`` is invalid.
    """
    if on_conflict not in get_args(OnConflict):
        raise ValidationError({"on_conflict": "On a conflict, choose skip, replace or copy."})
    plan = _plan([], [], backup, workspace, on_conflict, progress)
    members = [m for found in plan.members.values() for m in found]
    if progress is not None:
        progress(len(backup.connections), len(backup.connections))
    return ImportReport(plan.entries, members, True, plan.moved_defaults)


def _refuse_unconfirmed(report: ImportReport, confirmed: Collection[ToConfirm]) -> None:
    unconfirmed = [change for change in report.to_confirm if change not in confirmed]
    if unconfirmed:
        raise ConflictError(
            "This installation changed since the import's changes were confirmed: it would "
            f"now also {'; '.join(_said(change) for change in unconfirmed)}. Nothing was "
            "imported; run the import again to see what it does now.")


def _said(change: ToConfirm) -> str:
    if isinstance(change, DefaultMove):
        return (f"point the default {get_provider(change.type).display_name} connection "
                f"'{change.workspace}/{change.name}' at {change.new_base_url}")
    return f"make {change.email} an admin of '{change.workspace}'"


def _plan(rows: Sequence[Mapping[str, Any]], member_rows: Sequence[Mapping[str, Any]],
          backup: Backup, workspace: str | None, on_conflict: OnConflict,
          progress: Progress | None) -> _Plan:
    """Decide what happens to each connection and member, from the rows stored now
    (every workspace's connections and members)."""
    present: dict[str, dict[str, str]] = {}  # workspace -> id -> name
    defaults: dict[tuple[str, str], Mapping[str, Any]] = {}  # (workspace, id) -> the stored row
    for row in rows:
        if isinstance(row.get("workspace_id"), str) and isinstance(row.get("id"), str):
            present.setdefault(row["workspace_id"], {})[row["id"]] = str(row.get("name"))
            if row.get("is_default") is True and not row.get("deleted_at"):
                defaults[(row["workspace_id"], row["id"])] = row
    plan = _Plan()
    claimed: set[tuple[str, str]] = set()
    total = len(backup.connections)
    for done, connection in enumerate(backup.connections, 1):
        target = workspace or connection.workspace
        here = present.setdefault(target, {})
        entry, record = _decide(connection, target, here, claimed, on_conflict)
        plan.entries.append(entry)
        if entry.action == "replaced" and record is not None:
            moved = _moved_default(defaults.get((target, entry.id)), record, target)
            if moved is not None:
                plan.moved_defaults.append(moved)
        if record is not None:
            plan.records.setdefault(target, []).append(record)
            here[entry.id] = entry.name
            claimed.add((target, entry.id))
        if progress is not None and done < total:
            progress(done, total)
    if workspace is None:
        _plan_members(member_rows, backup, plan)
    return plan


def _decide(connection: BackupConnection, target: str, here: Mapping[str, str],
            claimed: set[tuple[str, str]], on_conflict: OnConflict
            ) -> tuple[ImportEntry, Record | None]:
    """The entry for one connection, and the record to store (None: skipped)."""
    record: Record = {"id": connection.id, "type": connection.type, "name": connection.name,
                      "config": dict(connection.config), **connection.fields}
    if connection.id not in here:
        return ImportEntry(target, connection.name, connection.id, "created"), record
    # Two connections of the backup landing on one id (workspace=): the first one wins.
    first_time = (target, connection.id) not in claimed
    if on_conflict == "replace" and first_time:
        return ImportEntry(target, connection.name, connection.id, "replaced"), record
    if on_conflict == "copy":
        record["id"] = _copy_id(connection.id, target, here)
        record["name"] = _unique_name(connection.name, set(here.values()))
        return ImportEntry(target, record["name"], record["id"], "copied"), record
    return ImportEntry(target, here[connection.id], connection.id, "skipped"), None


def _moved_default(row: Mapping[str, Any] | None, record: Mapping[str, Any],
                   workspace: str) -> DefaultMove | None:
    """What replacing the stored ``row`` with ``record`` does to a default: it stays
    the default (as :meth:`ConnectionService.import_records` keeps it, when the type
    is the same and the backup's is not deleted) and its base URL may change."""
    if row is None or row.get("type") != record["type"] or record.get("deleted_at"):
        return None
    provider = get_provider(record["type"])
    config = row.get("config")
    before = provider.where({name: value for name, value in config.items()
                             if value is not None} if isinstance(config, dict) else {})
    after = provider.where(record["config"])
    default = provider.where({f.name: f.default for f in provider.fields if f.default})
    before, after = before or default, after or default
    if before == after:
        return None
    # Named as it is here: the connection the person knows as their default.
    return DefaultMove(workspace, record["id"], str(row.get("name")), record["type"], before,
                       after)


def _copy_id(id: str, workspace: str, taken: Mapping[str, str]) -> str:
    """A new id for a copy of ``id``: the same in a dry run as in the import that follows."""
    for attempt in range(len(taken) + 1):
        candidate = str(uuid.uuid5(_COPY_IDS, f"{workspace}\0{id}\0{attempt}"))
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable: there are more candidates than ids taken")


def _unique_name(name: str, taken: set[str]) -> str:
    """``name`` with " (imported)" (then " (imported 2)"...) added, cut to fit."""
    for number in _counting():
        suffix = " (imported)" if number == 1 else f" (imported {number})"
        candidate = name[:NAME_MAX - len(suffix)].rstrip() + suffix
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable")


def _counting() -> Iterator[int]:
    number = 1
    while True:
        yield number
        number += 1


def _plan_members(rows: Sequence[Mapping[str, Any]], backup: Backup, plan: _Plan) -> None:
    """The backup's members who are not members of their workspace here (``rows``)."""
    present = {(row.get("workspace_id"), row.get("email")) for row in rows}
    for member in backup.members:
        if (member.workspace, member.email) not in present:
            plan.members.setdefault(member.workspace, []).append(member)
            plan.records.setdefault(member.workspace, [])


# -- the cryptography --------------------------------------------------------------------


def _passphrase_bytes(passphrase: Any, minimum: int = 1) -> bytes:
    """The passphrase as scrypt takes it: NFC-normalised, so the same words typed on
    another system give the same key."""
    if not isinstance(passphrase, str) or len(passphrase) < minimum:
        raise ValidationError({"passphrase": f"A passphrase is text of at least {minimum} "
                                             "characters."})
    try:
        return unicodedata.normalize("NFC", passphrase).encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError({"passphrase": "The passphrase contains a broken character (a "
                                             "lone surrogate); type it again."}) from None


def _derive(secret: bytes, kdf: Mapping[str, Any]) -> bytes:
    scrypt = Scrypt(salt=bytes.fromhex(kdf["salt"]), length=kdf["length"], n=kdf["n"],
                    r=kdf["r"], p=kdf["p"])
    return scrypt.derive(secret)


def _seal(aes: AESGCM, plaintext: bytes, context: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    return (nonce + aes.encrypt(nonce, plaintext, context)).hex()


def _open(aes: AESGCM, sealed: Any, context: bytes) -> bytes:
    """Decrypt what :func:`_seal` made, or BackupError: a wrong passphrase when
    ``context`` is the check's, a damaged or edited file otherwise."""
    raw = _hex_bytes(sealed)
    is_check = context == _check_context()
    try:
        if raw is None or len(raw) < NONCE_BYTES + 16:
            raise InvalidTag
        return aes.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context)
    except InvalidTag:
        if is_check and raw is not None:
            raise BackupError("Wrong passphrase: this backup was made with another one (or its "
                              "salt or scrypt parameters were edited). Enter the passphrase it "
                              "was exported with; nothing was imported.") from None
        raise _damaged("an encrypted value does not decrypt where it is: it was changed, cut "
                       "or moved") from None


def _hex_bytes(value: Any) -> bytes | None:
    if not isinstance(value, str) or len(value) % 2:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def _check_context() -> bytes:
    return associated_data({"format": FORMAT, "version": str(VERSION), "purpose": "check"})


def _secret_context(workspace: str, entry: Mapping[str, Any], field: str) -> bytes:
    """Where a secret belongs (its record, and where its provider sends it: the base
    URL, or e.g. Bedrock's region and endpoint): a sealed secret decrypts only there."""
    config = entry.get("config")
    return associated_data({
        "purpose": "secret", "workspace": workspace, "id": _text(entry.get("id")),
        "type": _text(entry.get("type")), "field": field,
        **destination_of(entry.get("type"), config if isinstance(config, dict) else {})})


def _document_context(document: Mapping[str, Any]) -> bytes:
    """The whole document but its seal, as canonical JSON."""
    body = {k: v for k, v in document.items() if k != "seal"}
    return b"connections-backup document\0" + json.dumps(
        body, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
