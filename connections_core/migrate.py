"""Copy one store into another: the TinyDB file into PostgreSQL (``migrate-store``).

:func:`migrate_store` copies every workspace's connections (deleted ones too),
members, the key check, the audit trail, workspace settings (the alert webhook) and
application tokens, records as they are: secrets stay
encrypted with the key they were written with, so the target needs the same
``ENCRYPTION_KEY``.

* **Refused before any write**: a key that doesn't fit the source; a target
  holding data written with another key; a target holding *different* records
  under the same keys (named, so a person can decide which one is right: the
  copy never overwrites, and never silently keeps one of two versions).
* **All or nothing**: one target transaction, verified before it commits (every
  source record is in the target as it is, and the target gained exactly what
  was copied); a mismatch rolls it back.  The source's own transaction is held
  meanwhile, so nobody writes the data file during the copy.
* **Idempotent**: connections and members are matched by their keys, the key
  check by its presence, audit entries by content (a SHA-256 of their canonical
  JSON, counted, so two identical entries are two).  A second run copies
  nothing and writes nothing.

A copy that wrote something adds one ``store.migrated`` entry to the target's
trail (workspace ``default``, as a key rotation's): the copy is a change to
that store, and the copied entries stay exactly the source's.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import crypto
from .errors import DecryptionError, EncryptionKeyError, StoreError
from .records import KEY_CHECK_CONTEXT, secret_context
from .scope import CLI_ACTOR
from .storage import Record, Store, Transaction
from .text import shown

__all__ = ["KINDS", "MigrationReport", "VerificationError", "migrate_store"]

#: What is copied, in the order it is copied.
KINDS = ("connections", "members", "key_check", "audit_entries", "workspace_settings",
         "app_tokens")
BATCH = 1000  # records written per call (and per step of the progress)
MIGRATED_ACTION = "store.migrated"
MIGRATED_WORKSPACE = "default"
_CONFLICTS_SHOWN = 5

#: ``progress(done, total)``: records written so far, of those to write.
Progress = Callable[[int, int], None]


class VerificationError(StoreError):
    """After the copy, the target did not hold what the source holds; nothing was kept."""


@dataclass(frozen=True)
class MigrationReport:
    """What :func:`migrate_store` did: per kind (:data:`KINDS`), how many records it
    copied and how many the target already held, as they are."""

    source: str
    target: str
    workspaces: list[str]
    copied: dict[str, int]
    already_there: dict[str, int]

    @property
    def copied_anything(self) -> bool:
        return any(self.copied.values())


@dataclass
class _Records:
    """What one store holds, read at once; audit entries oldest first."""

    connections: list[Record]
    members: list[Record]
    key_check: Record | None
    audit: list[Record] = field(default_factory=list)
    audit_digests: Counter[bytes] = field(default_factory=Counter)
    settings: list[Record] = field(default_factory=list)
    app_tokens: list[Record] = field(default_factory=list)


@dataclass
class _Plan:
    connections: list[Record]
    members: list[Record]
    key_check: Record | None
    audit: list[Record]
    already_there: dict[str, int]
    settings: list[Record] = field(default_factory=list)
    app_tokens: list[Record] = field(default_factory=list)

    @property
    def copied(self) -> dict[str, int]:
        return {"connections": len(self.connections), "members": len(self.members),
                "key_check": int(self.key_check is not None), "audit_entries": len(self.audit),
                "workspace_settings": len(self.settings), "app_tokens": len(self.app_tokens)}


def migrate_store(source: Store, target: Store, keyring: crypto.KeyRing, *,
                  actor: str = CLI_ACTOR, clock: Callable[[], datetime] | None = None,
                  progress: Progress | None = None) -> MigrationReport:
    """Copy everything in ``source`` that ``target`` lacks into ``target``, verified,
    in one transaction.

    The target must be a store whose reads inside its transaction see that
    transaction's writes, audit entries included (:class:`PostgresStore`).

    :param keyring: the key the source was written with (checked, never used to
        re-encrypt: records are copied as they are).
    :param actor: who the ``store.migrated`` audit entry names.
    :param progress: called as records are written (``done, total``).
    :raises EncryptionKeyError: the key doesn't fit the source, or the target holds
        data written with another key (nothing is written).
    :raises StoreError: the target holds different records under the same keys
        (naming them), refuses a record, or can't be reached; nothing is kept.
    :raises VerificationError: the target didn't hold what was copied; nothing is kept.
    """
    now = (clock or (lambda: datetime.now(UTC)))()
    with ExitStack() as stack:
        # Held throughout: nobody writes the source while it is copied.
        stack.enter_context(source.transaction())
        records = _read(source, keep_audit=True)
        source_key = _written_with(records, keyring, source.location, whose="source")
        tx = stack.enter_context(target.transaction())
        present = _read(target, keep_audit=False)
        target_key = _written_with(present, keyring, target.location, whose="target")
        if None not in (source_key, target_key) and source_key != target_key:
            raise _other_key(source, target)
        plan = _plan(records, present, source, target)
        _write(tx, plan, progress)
        recorded = any(plan.copied.values())
        if recorded:
            tx.record(_migrated_entry(now, actor, source, plan))
        _verify(target, records, present, plan, recorded)
    return MigrationReport(source=source.location, target=target.location,
                           workspaces=_workspaces(records), copied=plan.copied,
                           already_there=plan.already_there)


# -- reading ------------------------------------------------------------------------------

def _read(store: Store, *, keep_audit: bool) -> _Records:
    """Everything ``store`` holds (the audit trail as entries, or only its digests)."""
    records = _Records(connections=list(store.connections()[1]), members=store.members(),
                       key_check=store.key_check(), settings=store.workspace_settings(),
                       app_tokens=store.app_tokens())
    for entry in store.audit_entries():
        if keep_audit:
            records.audit.append(entry)
        else:
            records.audit_digests[_digest(entry)] += 1
    records.audit.reverse()  # oldest first: the order to append them in
    return records


def _canonical(value: Any) -> str:
    """One text per JSON value, whatever the order of its keys."""
    return json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"))


def _digest(entry: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(_canonical(entry).encode("ascii")).digest()


def _connection_key(record: Mapping[str, Any]) -> str:
    # Canonical JSON, not a tuple: a record damaged by hand may hold a dict as its id.
    return _canonical([record.get("workspace_id"), record.get("id")])


def _member_key(record: Mapping[str, Any]) -> str:
    return _canonical([record.get("workspace_id"), record.get("email")])


def _workspaces(records: _Records) -> list[str]:
    found = {r.get("workspace_id") for r in [*records.connections, *records.members]}
    return sorted(w for w in found if isinstance(w, str))


# -- the key ------------------------------------------------------------------------------

def _written_with(records: _Records, keyring: crypto.KeyRing, location: str, *,
                  whose: str) -> int | None:
    """Which key of ``keyring`` the store's data was written with (0 the current one),
    judged by its key check, else its first secret; None when it holds nothing
    encrypted.

    :raises EncryptionKeyError: something is encrypted, and no key of the ring opens it.
    """
    found = _proof(records)
    if found is None:
        return None
    token, context = found
    try:
        index = keyring.decrypting_key(token, context)
    except DecryptionError:  # not a token at all: a damaged key check
        index = None
    if index is None:
        if whose == "source":
            raise EncryptionKeyError(
                f"{crypto.KEY_VARIABLE} does not fit the data in {location}: set it to the key "
                "the dashboard uses with that data. Nothing was copied.")
        raise EncryptionKeyError(
            f"{location[0].upper()}{location[1:]} already holds data written with another "
            f"key than {crypto.KEY_VARIABLE}. Migrate into an empty database (or one an "
            "earlier migrate-store filled from this data). Nothing was copied.")
    return index


def _proof(records: _Records) -> tuple[str, Mapping[str, str | None] | None] | None:
    """A token that proves the key: the key check's, else the first secret's."""
    if records.key_check is not None:
        token = records.key_check.get("key_check")
        text = token if isinstance(token, str) else ""
        return text, (KEY_CHECK_CONTEXT if crypto.is_bound(text) else None)
    for record in records.connections:
        config = record.get("config")
        for name, value in (config.items() if isinstance(config, dict) else ()):
            if crypto.is_encrypted(value):
                return value, (secret_context(record, name) if crypto.is_bound(value)
                               else None)
    return None


def _other_key(source: Store, target: Store) -> EncryptionKeyError:
    return EncryptionKeyError(
        f"{target.location[0].upper()}{target.location[1:]} holds data written with another "
        f"key than {source.location} (both open only because {crypto.PREVIOUS_KEY_VARIABLE} "
        "is set). Rotate the keys of one of them first, so that both use the same key. "
        "Nothing was copied.")


# -- the plan and the copy --------------------------------------------------------------------

def _plan(records: _Records, present: _Records, source: Store, target: Store) -> _Plan:
    """What to copy; refuses a target holding different records under the same keys."""
    conflicts: list[str] = []
    connections = _missing(records.connections, present.connections, _connection_key,
                           conflicts, _connection_name)
    members = _missing(records.members, present.members, _member_key, conflicts,
                       _member_name)
    settings = _missing(records.settings, present.settings, _settings_key, conflicts,
                        _settings_name)
    tokens = _missing(records.app_tokens, present.app_tokens, _token_key, conflicts,
                      _token_name)
    if conflicts:
        raise _conflict_error(conflicts, source, target)
    digests = present.audit_digests.copy()
    audit = []
    for entry in records.audit:
        digest = _digest(entry)
        if digests[digest]:
            digests[digest] -= 1
        else:
            audit.append(entry)
    key_check = records.key_check if present.key_check is None else None
    already = {"connections": len(records.connections) - len(connections),
               "members": len(records.members) - len(members),
               "key_check": int(records.key_check is not None and key_check is None),
               "audit_entries": len(records.audit) - len(audit),
               "workspace_settings": len(records.settings) - len(settings),
               "app_tokens": len(records.app_tokens) - len(tokens)}
    return _Plan(connections, members, key_check, audit, already, settings, tokens)


def _missing(wanted: Iterable[Record], present: Iterable[Record],
             key: Callable[[Mapping[str, Any]], str], conflicts: list[str],
             name: Callable[[Mapping[str, Any]], str]) -> list[Record]:
    """The records of ``wanted`` whose key ``present`` lacks; those it holds otherwise
    are added to ``conflicts``, by name."""
    held = {key(record): _canonical(record) for record in present}
    missing = []
    for record in wanted:
        there = held.get(key(record))
        if there is None:
            missing.append(record)
        elif there != _canonical(record):
            conflicts.append(name(record))
    return missing


def _connection_name(record: Mapping[str, Any]) -> str:
    return (f"connection '{shown(record.get('name'), 40)}' ({shown(record.get('id'), 40)} in "
            f"workspace '{shown(record.get('workspace_id'), 40)}')")


def _member_name(record: Mapping[str, Any]) -> str:
    return (f"member {shown(record.get('email'), 60)} of workspace "
            f"'{shown(record.get('workspace_id'), 40)}'")


def _settings_key(record: Mapping[str, Any]) -> str:
    return _canonical(record.get("workspace_id"))


def _settings_name(record: Mapping[str, Any]) -> str:
    return f"the settings of workspace '{shown(record.get('workspace_id'), 40)}'"


def _token_key(record: Mapping[str, Any]) -> str:
    return _canonical([record.get("workspace_id"), record.get("id")])


def _token_name(record: Mapping[str, Any]) -> str:
    return (f"application token '{shown(record.get('name'), 40)}' of workspace "
            f"'{shown(record.get('workspace_id'), 40)}'")


def _conflict_error(conflicts: Sequence[str], source: Store, target: Store) -> StoreError:
    named = "; ".join(conflicts[:_CONFLICTS_SHOWN])
    more = f" and {len(conflicts) - _CONFLICTS_SHOWN} more" if len(
        conflicts) > _CONFLICTS_SHOWN else ""
    return StoreError(
        f"{target.location[0].upper()}{target.location[1:]} already holds {len(conflicts)} "
        f"record(s) that differ from those in {source.location} under the same keys: "
        f"{named}{more}. Nothing was copied: decide which version is right, remove the "
        "other from the target (or migrate into an empty database), and run it again.",
        target.location)


def _write(tx: Transaction, plan: _Plan, progress: Progress | None) -> None:
    total = len(plan.connections) + len(plan.members) + len(plan.audit)
    done = 0
    for batch in _batches(plan.connections):
        tx.insert_connections(batch)
        done += len(batch)
        if progress:
            progress(done, total)
    for member in plan.members:
        tx.put_member(member)
    done += len(plan.members)
    if plan.key_check is not None:
        tx.set_key_check(plan.key_check)
    for settings in plan.settings:
        tx.put_workspace_settings(settings)
    for token in plan.app_tokens:
        tx.put_app_token(token)
    for batch in _batches(plan.audit):
        tx.record_entries(batch)
        done += len(batch)
        if progress:
            progress(done, total)
    if progress:
        progress(total, total)


def _batches(records: Sequence[Record]) -> Iterator[Sequence[Record]]:
    for start in range(0, len(records), BATCH):
        yield records[start:start + BATCH]


def _migrated_entry(now: datetime, actor: str, source: Store, plan: _Plan) -> Record:
    return {"at": now.isoformat(), "workspace_id": MIGRATED_WORKSPACE, "actor": actor,
            "action": MIGRATED_ACTION, "target_id": None, "target_name": None,
            "details": {"source": source.location, **plan.copied}}


# -- the verification -----------------------------------------------------------------------

def _verify(target: Store, records: _Records, present: _Records, plan: _Plan,
            recorded: bool) -> None:
    """Read the target again, inside the copy's transaction: every source record is
    there as it is, and the target gained exactly what was copied.

    :raises VerificationError: naming the kinds whose counts differ.
    """
    after = _read(target, keep_audit=False)
    copied = plan.copied
    expected = {
        "connections": len(present.connections) + copied["connections"],
        "members": len(present.members) + copied["members"],
        "key_check": int(present.key_check is not None or records.key_check is not None),
        "audit_entries": sum(present.audit_digests.values()) + copied["audit_entries"]
        + int(recorded),
        "workspace_settings": len(present.settings) + copied["workspace_settings"],
        "app_tokens": len(present.app_tokens) + copied["app_tokens"],
    }
    found = {"connections": len(after.connections), "members": len(after.members),
             "key_check": int(after.key_check is not None),
             "audit_entries": sum(after.audit_digests.values()),
             "workspace_settings": len(after.settings), "app_tokens": len(after.app_tokens)}
    source_found = {
        "connections": _held(records.connections, after.connections, _connection_key),
        "members": _held(records.members, after.members, _member_key),
        "key_check": int(records.key_check is not None and after.key_check is not None),
        "audit_entries": sum(min(n, after.audit_digests[d]) for d, n in
                             Counter(_digest(e) for e in records.audit).items()),
        "workspace_settings": _held(records.settings, after.settings, _settings_key),
        "app_tokens": _held(records.app_tokens, after.app_tokens, _token_key),
    }
    source_counts = {"connections": len(records.connections), "members": len(records.members),
                     "key_check": int(records.key_check is not None),
                     "audit_entries": len(records.audit),
                     "workspace_settings": len(records.settings),
                     "app_tokens": len(records.app_tokens)}
    wrong = [f"{kind.replace('_', ' ')}: {source_found[kind]} of the source's "
             f"{source_counts[kind]} found, {found[kind]} in all where {expected[kind]} "
             "were expected" for kind in KINDS
             if source_found[kind] != source_counts[kind] or found[kind] != expected[kind]]
    if wrong:
        raise VerificationError(
            f"The copy into {target.location} did not verify ({'; '.join(wrong)}), so it was "
            "rolled back: the target is as it was. Check that nothing else writes to it, and "
            "run it again.", target.location)


def _held(wanted: Iterable[Record], present: Iterable[Record],
          key: Callable[[Mapping[str, Any]], str]) -> int:
    """How many of ``wanted`` are in ``present`` as they are."""
    held = {key(record): _canonical(record) for record in present}
    return sum(1 for record in wanted if held.get(key(record)) == _canonical(record))
