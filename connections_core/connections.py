"""Connections: the records a workspace keeps, and every change to them.

Reading, creating, editing, deleting (softly, with :meth:`Connections.restore`),
choosing each type's default, and giving trusted code its decrypted config."""

from __future__ import annotations

import builtins
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import ConflictError, NotFoundError, ValidationError
from .inputs import (
    checked_config,
    checked_name,
    checked_version,
    kept_secrets,
    key_needed_again,
    without_display_values,
)
from .models import STATUSES, Connection, Status
from .providers import Provider, TestResult, get_provider, validate_config
from .records import checked_fields, not_found, parse_time, version_of
from .scope import Room

log = logging.getLogger(__name__)

Record = dict[str, Any]


class Connections(Room):
    """The connections of the scope's workspace."""

    def list(self, type: str | None = None) -> builtins.list[Connection]:
        """The workspace's connections, newest first, without deleted ones."""
        self.scope.authorize("list")
        return self.records.active(type)

    def list_deleted(self) -> builtins.list[Connection]:
        """The workspace's deleted connections, most recently deleted first."""
        self.scope.authorize("list_deleted")
        deleted = [c for c in self.records.workspace() if c.deleted_at is not None]
        return sorted(deleted, key=lambda c: c.deleted_at or c.created_at, reverse=True)

    # -- every workspace at once (the server's metrics, server/routes.py) ---------------------

    def list_every_workspace(self) -> builtins.list[Connection]:
        """Every workspace's connections, without deleted ones, by workspace and then
        newest first: one read of the store, nothing decrypted.  For trusted code and
        instance admins (it spans every workspace)."""
        self.scope.authorize("list_every_workspace")
        found = [self.records.to_connection(row)
                 for row in self.records.rows(every_workspace=True)
                 if isinstance(row.get("id"), str) and isinstance(row.get("workspace_id"), str)]
        found.sort(key=lambda c: c.created_at, reverse=True)
        found.sort(key=lambda c: c.workspace_id)
        return [c for c in found if c.deleted_at is None]

    def get(self, id: str) -> Connection:
        """One connection (deleted ones too). :raises NotFoundError:"""
        self.scope.authorize("get")
        for connection in self.records.workspace():
            if connection.id == id:
                return connection
        raise not_found(id)

    def get_default(self, type: str) -> Connection | None:
        """The default connection of a provider type, or None when it has none."""
        self.scope.authorize("get_default")
        get_provider(type)
        return next((c for c in self.records.active(type) if c.is_default), None)

    def resolve_config(self, type: str, id: str | None = None) -> dict[str, str]:
        """The decrypted config of connection ``id``, or of the type's default.

        This is the one call application code needs to get usable credentials.
        It is refused to every signed-in person: only trusted code gets a key
        in the clear.

        :raises NotFoundError: no such connection, or the type has none.
        :raises DecryptionError: its secret can't be decrypted with the key ring.
        """
        self.scope.authorize("resolve_config")
        provider = get_provider(type)
        if id is None:
            default = self.get_default(type)
            if default is None:
                raise NotFoundError(
                    f"There is no {provider.display_name} connection in workspace "
                    f"'{self.scope.workspace_id}'. Add one first.")
            id = default.id
        record = self.records.record(id)
        if record["type"] != type or record.get("deleted_at"):
            raise not_found(id)
        return self.records.decrypted(record)

    def create(self, type: str, name: str, config: Mapping[str, Any],
               initial_status: Status | None = None, *,
               checked: TestResult | None = None) -> Connection:
        """Validate, encrypt and store a new connection.

        The first connection of a type in the workspace becomes its default.
        ``checked`` is a check of exactly this ``type`` and ``config`` (from
        :meth:`test_draft`): it is stored as the connection's status, last
        result and models in the same write, as :meth:`test` would.

        :raises ValidationError: ``field_errors`` names every bad field.
        """
        self.scope.authorize("create")
        provider = get_provider(type)
        errors: dict[str, str] = {}
        clean_name = checked_name(name, errors)
        if initial_status is not None and initial_status not in STATUSES:
            errors["initial_status"] = f"Status must be one of: {', '.join(STATUSES)}."
        if initial_status is not None and checked is not None:
            errors["checked"] = "Give an initial status or a check's result, not both."
        try:
            clean = validate_config(provider, checked_config(config), standins=self.scope.demo)
        except ValidationError as error:
            errors.update(error.field_errors)
        if errors:
            raise ValidationError(errors)
        now = self.records.now()
        id = str(uuid.uuid4())  # first: the secrets are bound to it
        record: Record = {
            "id": id, "workspace_id": self.scope.workspace_id, "type": type,
            "name": clean_name, **self.records.seal(provider, clean, id), "is_default": False,
            "status": initial_status or "unconfigured", "last_checked_at": None,
            "last_result": None, "available_models": [], "created_at": now,
            "updated_at": now, "deleted_at": None, "version": 1,
        }
        if checked is not None:
            record.update(checked_fields(checked, now))
        with self.records.transaction() as tx:
            record["is_default"] = tx.default_connection(self.scope.workspace_id, type) is None
            tx.insert_connection(record)
            self.records.audit(tx, "connection.created", record, type=type,
                                **_check_details(checked))
        log.info("Created %s connection %s in workspace %s", type, record["id"],
                 self.scope.workspace_id)
        return self.records.to_connection(record)

    def update(self, id: str, version: int, name: str | None = None,
               config: Mapping[str, Any] | None = None, *,
               checked: TestResult | None = None) -> Connection:
        """Change a connection's name and/or config, if nobody changed it since ``version``.

        Fields missing from ``config`` keep their values; an empty optional field
        is cleared; a missing or empty secret keeps the stored one.  Changing the
        base URL of a connection that holds a key needs the key again, so a stored
        key can't be sent to another server by someone who can't see it.  A
        changed config resets the status to ``unconfigured``, unless ``checked``
        is a check of exactly the config saved (from :meth:`test_draft` with
        ``existing_id``): that becomes its status, last result and models, in the
        same write (a check alone is not an edit: the version stays).

        :raises ConflictError: ``version`` is stale.
        :raises ValidationError: a field is invalid.
        :raises NotFoundError: no such (undeleted) connection.
        """
        self.scope.authorize("update")
        version = checked_version(version)
        if config is not None:
            config = checked_config(config)
        with self.records.transaction() as tx:
            doc = self.records.active_doc(tx, id)
            if doc["version"] != version:
                raise ConflictError(
                    f"'{doc['name']}' was changed by someone else (version {doc['version']}, "
                    f"you had {version}). Reload it and apply your change again.", id)
            changes, fields = self._changes(doc, name, config)
            if not changes and checked is None:
                return self.records.to_connection(doc)
            if "config" in changes:
                changes.update(status="unconfigured", last_checked_at=None, last_result=None,
                               available_models=[])
            if changes:
                changes.update(version=doc["version"] + 1, updated_at=self.records.now())
            if checked is not None:
                changes.update(checked_fields(checked, self.records.now()))
            tx.update_connection(self.scope.workspace_id, id, changes)
            if fields:
                self.records.audit(tx, "connection.updated", {**doc, **changes}, fields=fields,
                                   **_check_details(checked))
            else:
                self.records.audit(tx, "connection.tested", {**doc, **changes},
                                    **_check_details(checked))
        return self.records.to_connection({**doc, **changes})

    def delete(self, id: str) -> Connection:
        """Soft-delete a connection; :meth:`restore` brings it back.

        When it was its type's default, the oldest remaining connection of that
        type becomes the default.
        """
        self.scope.authorize("delete")
        with self.records.transaction() as tx:
            doc = self.records.active_doc(tx, id, damaged=True)
            changes = {"deleted_at": self.records.now(), "is_default": False,
                       "version": version_of(doc) + 1}
            tx.update_connection(self.scope.workspace_id, id, changes)
            self.records.audit(tx, "connection.deleted", doc)
            if doc.get("is_default") is True:
                self.records.promote_oldest(tx, str(doc.get("type")),
                                             "the previous default was deleted")
        log.info("Deleted connection %s in workspace %s", id, self.scope.workspace_id)
        return self.records.to_connection({**doc, **changes})

    def restore(self, id: str) -> Connection:
        """Bring back a deleted connection (the default of its type if it has none)."""
        self.scope.authorize("restore")
        with self.records.transaction() as tx:
            doc = self.records.doc(tx, id)
            if doc.get("deleted_at") is None:
                return self.records.to_connection(doc)
            changes = {"deleted_at": None, "version": doc["version"] + 1,
                       "is_default": tx.default_connection(self.scope.workspace_id,
                                                           doc["type"]) is None,
                       "updated_at": self.records.now()}
            tx.update_connection(self.scope.workspace_id, id, changes)
            self.records.audit(tx, "connection.restored", doc)
        return self.records.to_connection({**doc, **changes})

    def set_default(self, id: str) -> Connection:
        """Make a connection the default of its type; other types are untouched."""
        self.scope.authorize("set_default")
        with self.records.transaction() as tx:
            doc = self.records.active_doc(tx, id)
            if doc["is_default"]:
                return self.records.to_connection(doc)
            current = tx.default_connection(self.scope.workspace_id, doc["type"])
            if current is not None:
                tx.update_connection(self.scope.workspace_id, current["id"], {"is_default": False})
            tx.update_connection(self.scope.workspace_id, id, {"is_default": True})
            self.records.audit(tx, "connection.default_set", doc)
        return self.records.to_connection({**doc, "is_default": True})

    def needs_key_again(self, id: str, config: Mapping[str, Any]) -> bool:
        """Whether saving ``config`` on connection ``id`` needs its secrets typed again:
        where its keys go (the base URL, an endpoint, a region) changes while a stored
        secret would be kept."""
        self.scope.authorize("needs_key_again")
        config = checked_config(config)
        record = self.records.record(id)
        return key_needed_again(get_provider(record["type"]), record["config"], config)

    def purge_deleted(self, before: datetime) -> builtins.list[Connection]:
        """Permanently remove this workspace's connections deleted before ``before``;
        each removal is recorded (``connection.purged``) in the same write.  Only
        trusted code and instance admins may purge.

        :returns: the connections removed, as they were.
        """
        self.scope.authorize("purge_deleted")
        if not isinstance(before, datetime):
            raise ValidationError({"before": "Before is a date and time."})
        cutoff = before if before.tzinfo else before.replace(tzinfo=UTC)
        with self.records.transaction() as tx:
            gone = [doc for doc in tx.connections(self.scope.workspace_id)
                    if self.records.is_mine(doc)
                    and (parse_time(doc.get("deleted_at")) or cutoff) < cutoff]
            tx.remove_connections(self.scope.workspace_id, [doc["id"] for doc in gone])
            for doc in gone:
                self.records.audit(tx, "connection.purged", doc)
        if gone:
            log.info("Purged %d deleted connections in workspace %s", len(gone),
                     self.scope.workspace_id)
        return [self.records.to_connection(doc) for doc in gone]

    def _changes(self, doc: Record, name: str | None, config: Mapping[str, Any] | None
                 ) -> tuple[Record, builtins.list[str]]:
        """The fields an update of ``doc`` writes, and the names of those that change
        (empty when nothing does).

        :raises ValidationError: naming every bad field.
        """
        errors: dict[str, str] = {}
        changes: Record = {}
        fields: builtins.list[str] = []
        if name is not None:
            clean_name = checked_name(name, errors)
            if clean_name != doc["name"]:
                changes["name"] = clean_name
                fields.append("name")
        if config is not None:
            try:
                sealed, changed = self._config_changes(get_provider(doc["type"]), doc, config)
            except ValidationError as error:
                errors.update(error.field_errors)
            else:
                changes.update(sealed)
                fields += changed
        if errors:
            raise ValidationError(errors)
        return changes, fields

    def _config_changes(self, provider: Provider, doc: Mapping[str, Any],
                        config: Mapping[str, Any]) -> tuple[Record, builtins.list[str]]:
        """The ``config``/``hints`` fields an update writes, and the names of the config
        fields that change (both empty when nothing changed)."""
        stored = doc["config"]
        secrets = set(provider.secret_fields)
        config = without_display_values(provider, config)
        kept = kept_secrets(provider, stored, config)
        given_secrets = secrets - kept
        merged = {**{k: v for k, v in stored.items() if k not in secrets},
                  **{k: v for k, v in config.items() if k not in kept}}
        clean = validate_config(provider, merged, kept=kept, standins=self.scope.demo)
        moved = [provider.field(name) for name in provider.destination
                 if clean.get(name) != stored.get(name)]
        if kept and moved:
            what = " and ".join(spec.label[0].lower() + spec.label[1:]
                                for spec in moved if spec is not None)
            raise ValidationError({field: f"Enter the key again: the {what} changed, and a "
                                   "stored key is only sent to the address it was saved for."
                                   for field in kept})
        changed = sorted(k for k in set(clean) | set(stored)
                         if k not in secrets and clean.get(k) != stored.get(k))
        changed += sorted(f for f in given_secrets if f in clean
                          and not self.records.same_secret(doc, f, clean[f]))
        if not changed:
            return {}, []
        # A kept token stays bound: the record and its base URL are the same.
        sealed = self.records.seal(provider, clean, doc["id"])
        sealed["config"].update({f: stored[f] for f in kept})
        sealed["hints"] = {**doc.get("hints", {}), **sealed["hints"]}
        return sealed, changed


def _check_details(result: TestResult | None) -> Record:
    """An audit entry's details about a check saved with a change: its kind and latency."""
    return {} if result is None else {"kind": result.kind, "latency_ms": result.latency_ms}
