"""Transfers: a workspace's records going out to a backup and coming back in.

The backup file itself (its format, encryption and plan) is
:mod:`connections_core.backup`; this is what it reads from and writes to a workspace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

from .errors import ValidationError
from .inputs import checked_config, checked_name, has_admin, member_input
from .models import STATUSES
from .providers import bounded_models, get_provider, validate_config
from .records import ID_MAX, last_result, parse_time, version_of
from .scope import Room
from .storage import Transaction
from .text import name_problem, shown

Record = dict[str, Any]


class Transfers(Room):
    """What a backup takes out of the scope's workspace and puts back."""

    def backup_records(self) -> list[Record]:
        """Every connection of the workspace, deleted ones too, oldest first, as stored
        but with its secrets decrypted and without hints: what a backup holds.

        Like :meth:`resolve_config`, it is refused to every signed-in person.

        :raises StoreCorruptError: a record is damaged (naming it).
        :raises DecryptionError: a secret can't be decrypted (naming its record).
        """
        self.scope.authorize("resolve_config")
        # Every key of the workspace is about to be decrypted: recorded first.
        self.records.attempt("connections.exported", None)
        rows = self.records.rows()
        mine = sorted((row for row in rows if self.records.is_mine(row)),
                      key=lambda row: str(row.get("created_at")))
        records = []
        for row in mine:
            self.records.refuse_damaged(row)
            kept = {k: v for k, v in row.items() if k not in ("hints", "workspace_id")}
            records.append({**kept, "config": self.records.decrypted(row)})
        return records

    def import_records(self, records: Iterable[Mapping[str, Any]],
                       members: Iterable[Mapping[str, Any]] = ()) -> None:
        """Store connections read from a backup in this workspace, and add its members.

        Each record is shaped as :meth:`backup_records` returns it (secrets in the
        clear).  It is checked as :meth:`create` checks, its secrets are sealed to it
        here, and it replaces the stored connection with its id or is added.  A
        member is added only if absent; nobody's role changes.

        The workspace keeps its defaults: a replaced connection keeps its place, and
        an imported one that was its type's default becomes the default only when
        the type has none afterwards; a type left with connections but no default
        gets its oldest, as after :meth:`delete`.  Only trusted code and instance
        admins may import.  All of it is one transaction with its audit entries
        (``connection.imported``, ``member.imported``), or part of the caller's
        store transaction.

        :raises ValidationError: a record or member is invalid; nothing is written.
        """
        self.scope.authorize("import_records")
        checked = [self._imported(record) for record in records]
        with self.records.transaction() as tx:
            wanted: dict[str, list[str]] = {}
            for record in checked:
                if self._store_imported(tx, record):
                    wanted.setdefault(record["type"], []).append(record["id"])
                else:
                    wanted.setdefault(record["type"], [])
            for type, preferred in wanted.items():
                self._settle_default(tx, type, preferred)
            self._add_members(tx, members)

    def _imported(self, record: Mapping[str, Any]) -> Record:
        """A record to store from an imported one, secrets sealed; or ValidationError."""
        errors: dict[str, str] = {}
        provider = get_provider(record.get("type", ""))
        name = checked_name(record.get("name"), errors)
        id = record.get("id")
        if not isinstance(id, str) or not 1 <= len(id) <= ID_MAX or name_problem(id, "An id"):
            errors["id"] = f"An id is 1-{ID_MAX} visible characters."
        try:
            clean = validate_config(provider, checked_config(record.get("config")))
        except ValidationError as error:
            errors.update(error.field_errors)
        if record.get("status") not in STATUSES:
            errors["status"] = f"Status must be one of: {', '.join(STATUSES)}."
        if errors:
            raise ValidationError(errors)
        models = record.get("available_models")
        return {
            "id": id, "workspace_id": self.scope.workspace_id, "type": provider.type, "name": name,
            **self.records.seal(provider, clean, str(id)),
            "is_default": record.get("is_default") is True and not record.get("deleted_at"),
            "status": record["status"],
            "last_checked_at": self._time_text(record.get("last_checked_at")),
            "last_result": self._last_result_doc(record.get("last_result")),
            "available_models": list(bounded_models(
                [m for m in models if isinstance(m, str)] if isinstance(models, list) else [])),
            "created_at": self._time_text(record.get("created_at")) or self.records.now(),
            "updated_at": self._time_text(record.get("updated_at")) or self.records.now(),
            "deleted_at": self._time_text(record.get("deleted_at")), "version": 1,
        }

    def _store_imported(self, tx: Transaction, record: Record) -> bool:
        """Add ``record``, or replace the stored one with its id; whether it asks to
        be its type's default (a replaced one keeps the flag it had here instead)."""
        wants_default = bool(record["is_default"])
        current = tx.connection(self.scope.workspace_id, record["id"])
        record["is_default"] = False
        if current is not None:
            kept = current.get("is_default") is True and not record["deleted_at"] \
                and current.get("type") == record["type"]
            record.update(is_default=kept, version=version_of(current) + 1)
            tx.replace_connection(record)
            wants_default = False
            if current.get("type") != record["type"]:
                self.records.promote_oldest_if_none(tx, str(current.get("type")),
                                                     "a backup replaced the previous default")
        else:
            tx.insert_connection(record)
        self.records.audit(tx, "connection.imported", record, type=record["type"],
                    replaced=current is not None)
        return wants_default

    def _settle_default(self, tx: Transaction, type: str, preferred: Iterable[str]) -> None:
        """Give ``type`` a default if it has connections but none: the first of
        ``preferred`` (ids) still undeleted, else the oldest."""
        if tx.default_connection(self.scope.workspace_id, type) is not None:
            return
        active = {row["id"]: row
                  for row in tx.connections(self.scope.workspace_id, type=type, active=True)}
        for id in preferred:
            if id in active:
                self.records.make_default(tx, active[id], "a backup was imported")
                return
        self.records.promote_oldest(tx, type, "a backup was imported")

    def _add_members(self, tx: Transaction, members: Iterable[Mapping[str, Any]]) -> None:
        """Add each member who is absent (within the transaction under way)."""
        present = {doc.get("email") for doc in tx.members(self.scope.workspace_id)}
        added = False
        for member in members:
            email, role = member_input(member.get("email"), member.get("role"))
            if email in present:
                continue
            tx.put_member({"workspace_id": self.scope.workspace_id, "email": email, "role": role,
                           "added_by": self.scope.actor_name, "added_at": self.records.now()})
            self.records.audit(tx, "member.imported", None, email, email=email, role=role)
            present.add(email)
            added = True
        if added and not has_admin(tx.members(self.scope.workspace_id)):
            raise ValidationError({"members": "A workspace with members keeps at least one "
                                              "admin: the imported members have none."})

    @staticmethod
    def _time_text(value: Any) -> str | None:
        """An imported time as stored (ISO 8601, UTC), or None when it is not one."""
        when = parse_time(value)
        return None if when is None else when.astimezone(UTC).isoformat()

    @staticmethod
    def _last_result_doc(value: Any) -> Record | None:
        """An imported last result as stored, or None when it is not a sound one."""
        result = last_result(value)
        if result is None:
            return None
        return {"success": result.success, "message": shown(result.message, 2000),
                "kind": shown(result.kind, 40), "latency_ms": result.latency_ms,
                "status_code": result.status_code}
