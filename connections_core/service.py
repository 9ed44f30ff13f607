"""ConnectionService: the operations users perform on their connections.

A service is bound to one workspace; an id from another workspace behaves
exactly like an id that does not exist.  Secrets are encrypted before they
reach the store and only :meth:`ConnectionService.resolve_config` returns
them in the clear.
"""

from __future__ import annotations

import builtins
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tinydb import Query
from tinydb.table import Document, Table

from . import crypto, http, ollama
from .errors import (
    ConflictError,
    DecryptionError,
    EncryptionKeyError,
    NotFoundError,
    ProviderError,
    StoreCorruptError,
    ValidationError,
)
from .models import MASK, STATUSES, Connection, LastResult, Status
from .providers import Provider, TestResult, get_provider, test_connection, validate_config
from .store import Signature, TinyDBStore

__all__ = ["ConnectionService"]

log = logging.getLogger(__name__)

DATA_DIR_VARIABLE = "CONNECTIONS_DATA_DIR"
DEFAULT_DATA_DIR = "data"
STORE_FILE = "connections.json"
KEY_FILE = "encryption.key"

CONNECTIONS = "connections"
META = "meta"
KEY_CHECK_PLAINTEXT = "connections key check v1"
NAME_MAX = 100
MAX_CHECKS_AT_ONCE = 32

Record = dict[str, Any]
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class ConnectionService:
    """Create, check, and resolve the provider connections of one workspace.

    :param store: where records live (shared by every workspace).
    :param keyring: encrypts new secrets; decrypts with the current or a previous key.
    :param workspace_id: every operation is scoped to this workspace.
    :param timeout: seconds each provider request may take.
    :param clock: returns the current time (tests pass a fixed one).
    :raises EncryptionKeyError: the key ring can't decrypt the data in ``store``.
    """

    #: Where the key came from: ``environment``, ``file`` (an earlier generated
    #: local key), ``generated`` (made just now) or ``given`` (passed in).
    key_source: str = "given"
    key_file: Path | None = None

    def __init__(self, store: TinyDBStore, keyring: crypto.KeyRing,
                 workspace_id: str = "default", *, timeout: float = http.DEFAULT_TIMEOUT,
                 clock: Clock = _utc_now) -> None:
        self.store = store
        self.keyring = keyring
        self.workspace_id = _checked_workspace(workspace_id)
        self.timeout = timeout
        self._clock = clock
        self._cache: tuple[Signature | None, dict[str, builtins.list[Connection]]] | None = None
        self._check_key(self._meta())

    @classmethod
    def from_env(cls, workspace_id: str = "default",
                 environ: Mapping[str, str] | None = None) -> ConnectionService:
        """Build a service from the environment.

        The data folder is ``CONNECTIONS_DATA_DIR`` (default ``./data``).  The key
        is ``ENCRYPTION_KEY`` (or ``ENCRYPTION_SECRET``), with
        ``ENCRYPTION_KEY_PREVIOUS`` tried for rotation.  With no key set, a local
        key is read from (or, for an empty store, generated into)
        ``<data dir>/encryption.key``.

        :raises EncryptionKeyError: a key is malformed, does not fit the data,
            or is missing while the store already holds encrypted secrets.
        """
        workspace_id = _checked_workspace(workspace_id)
        env = os.environ if environ is None else environ
        data_dir = Path(env.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR)
        key = crypto.env_key(env)
        # Built before the store, so a malformed key is refused before anything
        # (even the data folder) is made.
        keyring = crypto.KeyRing(key, crypto.previous_keys(env)) if key else None
        store = TinyDBStore(data_dir / STORE_FILE)
        key_file = data_dir / KEY_FILE
        source = "environment"
        if keyring is None:
            source = "file" if key_file.exists() else "generated"
            if source == "generated" and _holds_secrets(store):
                raise EncryptionKeyError(
                    f"{store.path} holds encrypted API keys, but {crypto.KEY_VARIABLE} is not "
                    f"set and there is no {key_file}. Set {crypto.KEY_VARIABLE} to the key "
                    "this data was written with; a new key could not decrypt it."
                )
            local_key = crypto.read_key_file(key_file) if source == "file" \
                else crypto.create_key_file(key_file)
            keyring = crypto.KeyRing(local_key, crypto.previous_keys(env))
        service = cls(store, keyring, workspace_id)
        service.key_source = source
        service.key_file = None if source == "environment" else key_file
        return service

    def __repr__(self) -> str:
        return f"<ConnectionService workspace={self.workspace_id!r} store={self.store!r}>"

    # -- reading ------------------------------------------------------------------------

    def list(self, type: str | None = None) -> builtins.list[Connection]:
        """The workspace's connections, newest first, without deleted ones."""
        return [c for c in self._workspace() if c.deleted_at is None
                and (type is None or c.type == type)]

    def list_deleted(self) -> builtins.list[Connection]:
        """The workspace's deleted connections, most recently deleted first."""
        deleted = [c for c in self._workspace() if c.deleted_at is not None]
        return sorted(deleted, key=lambda c: c.deleted_at or c.created_at, reverse=True)

    def get(self, id: str) -> Connection:
        """One connection (deleted ones too). :raises NotFoundError:"""
        for connection in self._workspace():
            if connection.id == id:
                return connection
        raise _not_found(id)

    def get_default(self, type: str) -> Connection | None:
        """The default connection of a provider type, or None when it has none."""
        get_provider(type)
        return next((c for c in self.list(type) if c.is_default), None)

    def resolve_config(self, type: str, id: str | None = None) -> dict[str, str]:
        """The decrypted config of connection ``id``, or of the type's default.

        This is the one call application code needs to get usable credentials.

        :raises NotFoundError: no such connection, or the type has none.
        :raises DecryptionError: its secret can't be decrypted with the key ring.
        """
        provider = get_provider(type)
        if id is None:
            default = self.get_default(type)
            if default is None:
                raise NotFoundError(
                    f"There is no {provider.display_name} connection in workspace "
                    f"'{self.workspace_id}'. Add one first.")
            id = default.id
        record = self._record(id)
        if record["type"] != type or record.get("deleted_at"):
            raise _not_found(id)
        return self._decrypted(record)

    # -- changing -----------------------------------------------------------------------

    def create(self, type: str, name: str, config: Mapping[str, Any],
               initial_status: Status | None = None) -> Connection:
        """Validate, encrypt and store a new connection.

        The first connection of a type in the workspace becomes its default.

        :raises ValidationError: ``field_errors`` names every bad field.
        """
        provider = get_provider(type)
        errors: dict[str, str] = {}
        clean_name = _checked_name(name, errors)
        if initial_status not in (None, *STATUSES):
            errors["initial_status"] = f"Status must be one of: {', '.join(STATUSES)}."
        try:
            clean = validate_config(provider, config)
        except ValidationError as error:
            errors.update(error.field_errors)
        if errors:
            raise ValidationError(errors)
        now = self._now()
        record: Record = {
            "id": str(uuid.uuid4()), "workspace_id": self.workspace_id, "type": type,
            "name": clean_name, **self._sealed(provider, clean), "is_default": False,
            "status": initial_status or "unconfigured", "last_checked_at": None,
            "last_result": None, "available_models": [], "created_at": now,
            "updated_at": now, "deleted_at": None, "version": 1,
        }
        with self._transaction() as table:
            record["is_default"] = self._default_doc(table, type) is None
            table.insert(record)
        log.info("Created %s connection %s in workspace %s", type, record["id"],
                 self.workspace_id)
        return self._to_connection(record)

    def update(self, id: str, version: int, name: str | None = None,
               config: Mapping[str, Any] | None = None) -> Connection:
        """Change a connection's name and/or config, if nobody changed it since ``version``.

        Fields missing from ``config`` keep their values; an empty optional field
        is cleared; a missing or empty secret keeps the stored one.  Changing the
        base URL of a connection that holds a key needs the key again, so a stored
        key can't be sent to another server by someone who can't see it.  A
        changed config resets the status to ``unconfigured``.

        :raises ConflictError: ``version`` is stale.
        :raises ValidationError: a field is invalid.
        :raises NotFoundError: no such (undeleted) connection.
        """
        with self._transaction() as table:
            doc = self._active_doc(table, id)
            if doc["version"] != version:
                raise ConflictError(
                    f"'{doc['name']}' was changed by someone else (version {doc['version']}, "
                    f"you had {version}). Reload it and apply your change again.", id)
            provider = get_provider(doc["type"])
            errors: dict[str, str] = {}
            changes: Record = {}
            if name is not None:
                clean_name = _checked_name(name, errors)
                if clean_name != doc["name"]:
                    changes["name"] = clean_name
            if config is not None:
                try:
                    changes.update(self._config_changes(provider, doc, config))
                except ValidationError as error:
                    errors.update(error.field_errors)
            if errors:
                raise ValidationError(errors)
            if not changes:
                return self._to_connection(doc)
            if "config" in changes:
                changes.update(status="unconfigured", last_checked_at=None, last_result=None,
                               available_models=[])
            changes.update(version=doc["version"] + 1, updated_at=self._now())
            table.update(changes, doc_ids=[doc.doc_id])
        return self._to_connection({**doc, **changes})

    def delete(self, id: str) -> Connection:
        """Soft-delete a connection; :meth:`restore` brings it back.

        When it was its type's default, the oldest remaining connection of that
        type becomes the default.
        """
        with self._transaction() as table:
            doc = self._active_doc(table, id)
            changes = {"deleted_at": self._now(), "is_default": False,
                       "version": doc["version"] + 1}
            table.update(changes, doc_ids=[doc.doc_id])
            if doc["is_default"]:
                self._promote_oldest(table, doc["type"])
        log.info("Deleted connection %s in workspace %s", id, self.workspace_id)
        return self._to_connection({**doc, **changes})

    def restore(self, id: str) -> Connection:
        """Bring back a deleted connection (the default of its type if it has none)."""
        with self._transaction() as table:
            doc = self._doc(table, id)
            if doc.get("deleted_at") is None:
                return self._to_connection(doc)
            changes = {"deleted_at": None, "version": doc["version"] + 1,
                       "is_default": self._default_doc(table, doc["type"]) is None,
                       "updated_at": self._now()}
            table.update(changes, doc_ids=[doc.doc_id])
        return self._to_connection({**doc, **changes})

    def set_default(self, id: str) -> Connection:
        """Make a connection the default of its type; other types are untouched."""
        with self._transaction() as table:
            doc = self._active_doc(table, id)
            current = self._default_doc(table, doc["type"])
            if current is not None and current.doc_id != doc.doc_id:
                table.update({"is_default": False}, doc_ids=[current.doc_id])
            table.update({"is_default": True}, doc_ids=[doc.doc_id])
        return self._to_connection({**doc, "is_default": True})

    def rotate_keys(self) -> int:
        """Re-encrypt every stored secret, in every workspace, with the current key.

        All or nothing: if one secret can't be decrypted, nothing is written.

        :returns: how many secrets were re-encrypted.
        :raises DecryptionError: naming the record whose secret can't be decrypted.
        """
        count = 0
        with self._transaction() as table:
            for doc in table.all():
                sealed = {}
                for field, token in doc.get("config", {}).items():
                    if crypto.is_encrypted(token):
                        sealed[field] = self.keyring.encrypt(self._open(doc, token))
                if sealed:
                    table.update({"config": {**doc["config"], **sealed}}, doc_ids=[doc.doc_id])
                    count += len(sealed)
            self._write_key_check(self.store.table(META))
        log.info("Re-encrypted %d secrets with the current key", count)
        return count

    # -- checking -----------------------------------------------------------------------

    def test(self, id: str) -> TestResult:
        """Check a connection and record its status, time and result.

        For Ollama the model names are stored too.  If the connection is edited
        while the check runs, the result is returned but not recorded: it
        describes a config that no longer exists.
        """
        record = self._record(id)
        if record.get("deleted_at"):
            raise _not_found(id)
        result = self._check(record)
        self._record_results([(record, result)])
        return result

    def test_draft(self, type: str, config: Mapping[str, Any], *,
                   existing_id: str | None = None) -> TestResult:
        """Check a config before it is saved; nothing is written.

        With ``existing_id``, secrets missing from ``config`` are taken from that
        stored connection, unless the base URL differs from the stored one.
        """
        if existing_id is not None and not self.needs_key_again(existing_id, config):
            record = self._record(existing_id)
            provider = get_provider(record["type"])
            kept = _kept_secrets(provider, record["config"], config)
            config = {**_without_display_values(provider, config),
                      **{f: self._open(record, record["config"][f]) for f in kept}}
        return test_connection(type, config, self.timeout)

    def needs_key_again(self, id: str, config: Mapping[str, Any]) -> bool:
        """Whether saving ``config`` on connection ``id`` needs its secrets typed again:
        the base URL changes while a stored secret would be kept."""
        record = self._record(id)
        provider = get_provider(record["type"])
        stored = record["config"]
        return bool(_kept_secrets(provider, stored, config)) and \
            _base_url_of(provider, config, stored) != stored.get("baseUrl")

    def iter_test_all(self) -> Iterator[tuple[Connection, TestResult]]:
        """Check every connection of the workspace at once, yielding each result as
        it arrives (in the caller's thread, so a screen can show progress)."""
        records = self._active_records()
        if not records:
            return
        pool = ThreadPoolExecutor(max_workers=min(MAX_CHECKS_AT_ONCE, len(records)),
                                  thread_name_prefix="connections-check")
        try:
            pending: dict[Future[TestResult], Record] = {
                pool.submit(self._check, record): record for record in records}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                finished = [(pending.pop(future), future.result()) for future in done]
                # One write for every result that is in, however many that is.
                stored = self._record_results(finished)
                for record, result in finished:
                    yield self._to_connection(stored.get(record["id"], record)), result
        finally:
            # A caller that stops early (a screen interrupted by a click) should
            # not wait for checks it will never see: drop those not started.
            pool.shutdown(wait=False, cancel_futures=True)

    def test_all(self) -> dict[str, TestResult]:
        """Check every connection of the workspace concurrently: ``{id: result}``."""
        return {connection.id: result for connection, result in self.iter_test_all()}

    def refresh_ollama_models(self, id: str) -> builtins.list[ollama.OllamaModel]:
        """List an Ollama connection's models and store their names on it.

        :raises ValidationError: the connection is not an Ollama connection.
        :raises ProviderError: the server can't be reached (also recorded).
        """
        record = self._record(id)
        if record["type"] != "ollama" or record.get("deleted_at"):
            raise ValidationError({"type": "Only Ollama connections have local models."})
        started = time.perf_counter()
        try:
            models = ollama.list_models(record["config"]["baseUrl"], timeout=self.timeout)
        except ProviderError as error:
            failed = TestResult(False, str(error), error.kind,  # type: ignore[arg-type]
                                _ms_since(started), status_code=error.status_code)
            self._record_results([(record, failed)])
            raise
        names = tuple(m.name for m in models)
        found = TestResult(True, f"{len(names)} models on the server.", "ok",
                           _ms_since(started), names, 200)
        self._record_results([(record, found)])
        return models

    # -- internals: records ---------------------------------------------------------------

    def _now(self) -> str:
        return self._clock().astimezone(timezone.utc).isoformat()

    def _workspace(self) -> builtins.list[Connection]:
        """This workspace's connections, newest first, rebuilt only when the file changed."""
        revision, rows = self.store.snapshot(CONNECTIONS)
        cache = self._cache
        if cache is None or cache[0] != revision or revision is None:
            grouped: dict[str, builtins.list[Connection]] = {}
            try:
                for row in sorted(rows, key=lambda r: str(r["created_at"]), reverse=True):
                    grouped.setdefault(row["workspace_id"], []).append(self._to_connection(row))
            except (KeyError, TypeError, ValueError) as error:
                raise StoreCorruptError(
                    f"The data file {self.store.path} holds a connection record that is not "
                    f"valid ({error.__class__.__name__}: {error}). It was left untouched: "
                    "restore it from a backup, or fix or remove that record.",
                    str(self.store.path)) from None
            cache = self._cache = (revision, grouped)
        return cache[1].get(self.workspace_id, [])

    def _record(self, id: str) -> Record:
        """The raw stored record of this workspace with that id (a copy)."""
        _, rows = self.store.snapshot(CONNECTIONS)
        for row in rows:
            if row.get("id") == id and row.get("workspace_id") == self.workspace_id:
                return dict(row)
        raise _not_found(id)

    def _active_records(self) -> builtins.list[Record]:
        """Copies of this workspace's undeleted records, read in one snapshot."""
        _, rows = self.store.snapshot(CONNECTIONS)
        return [dict(row) for row in rows
                if row.get("workspace_id") == self.workspace_id and not row.get("deleted_at")]

    def _doc(self, table: Table, id: str) -> Document:
        doc = table.get((Query().id == id) & (Query().workspace_id == self.workspace_id))
        if not isinstance(doc, Document):
            raise _not_found(id)
        return doc

    def _active_doc(self, table: Table, id: str) -> Document:
        doc = self._doc(table, id)
        if doc.get("deleted_at"):
            raise _not_found(id)
        return doc

    def _default_doc(self, table: Table, type: str) -> Document | None:
        found = table.search(self._of_type(type) & (Query().is_default == True))  # noqa: E712
        return found[0] if found else None

    def _of_type(self, type: str) -> Any:
        item = Query()
        return ((item.workspace_id == self.workspace_id) & (item.type == type)
                & (item.deleted_at == None))  # noqa: E711

    def _promote_oldest(self, table: Table, type: str) -> None:
        remaining = table.search(self._of_type(type))
        if remaining:
            oldest = min(remaining, key=lambda d: d["created_at"])
            table.update({"is_default": True}, doc_ids=[oldest.doc_id])

    def _record_results(self, results: builtins.list[tuple[Record, TestResult]]
                        ) -> dict[str, Record]:
        """Store check results on records that were not edited meanwhile.

        :returns: the records as they are stored now, by id (deleted ones are missing).
        """
        now = self._now()
        checked = {record["id"]: (record["version"], result) for record, result in results}
        stored: dict[str, Record] = {}

        def apply(doc: MutableMapping[str, Any]) -> None:
            stored[doc["id"]] = doc  # type: ignore[assignment]  # the stored dict itself
            version, result = checked[doc["id"]]
            if doc["version"] != version:
                return
            doc.update(status="connected" if result.success else "error",
                       last_checked_at=now,
                       last_result={"success": result.success, "message": result.message,
                                    "kind": result.kind, "latency_ms": result.latency_ms,
                                    "status_code": result.status_code})
            if doc["type"] == "ollama" and result.success:
                doc["available_models"] = list(result.models)

        with self._transaction() as table:
            # One pass over the table for the whole batch, not one per result.
            doc_ids = [doc.doc_id for doc in table if doc.get("id") in checked]
            table.update(apply, doc_ids=doc_ids)
        return {id: dict(doc) for id, doc in stored.items()}

    # -- internals: secrets -----------------------------------------------------------------

    def _sealed(self, provider: Provider, clean: Mapping[str, str]) -> Record:
        """``config`` with secrets encrypted, and ``hints`` (their last four characters)."""
        config = dict(clean)
        hints = {}
        for field in provider.secret_fields:
            if field in config:
                hints[field] = config[field][-4:]
                config[field] = self.keyring.encrypt(config[field])
        return {"config": config, "hints": hints}

    def _config_changes(self, provider: Provider, doc: Mapping[str, Any],
                        config: Mapping[str, Any]) -> Record:
        """The ``config``/``hints`` fields an update writes (empty when nothing changed)."""
        stored = doc["config"]
        secrets = set(provider.secret_fields)
        config = _without_display_values(provider, config)
        kept = _kept_secrets(provider, stored, config)
        given_secrets = secrets - kept
        merged = {**{k: v for k, v in stored.items() if k not in secrets},
                  **{k: v for k, v in config.items() if k not in kept}}
        clean = validate_config(provider, merged, kept=kept)
        if kept and clean.get("baseUrl") != stored.get("baseUrl"):
            raise ValidationError({field: "Enter the key again: the base URL changed, and a "
                                   "stored key is only sent to the address it was saved for."
                                   for field in kept})
        unchanged_plain = all(clean.get(k) == stored.get(k) for k in
                              set(clean) | set(stored) if k not in secrets)
        unchanged_secrets = all(self._same_secret(doc, f, clean[f])
                                for f in given_secrets if f in clean)
        if unchanged_plain and unchanged_secrets:
            return {}
        sealed = self._sealed(provider, clean)
        sealed["config"].update({f: stored[f] for f in kept})
        sealed["hints"] = {**doc.get("hints", {}), **sealed["hints"]}
        return sealed

    def _same_secret(self, doc: Mapping[str, Any], field: str, value: str) -> bool:
        token = doc["config"].get(field)
        if token is None:
            return False
        try:
            return self.keyring.decrypt(token) == value
        except DecryptionError:
            return False

    def _open(self, record: Mapping[str, Any], token: str) -> str:
        try:
            return self.keyring.decrypt(token)
        except DecryptionError:
            raise DecryptionError(
                f"The API key of '{record.get('name')}' can't be decrypted with the current "
                f"key (was {crypto.KEY_VARIABLE} changed? Set the old one as "
                f"{crypto.PREVIOUS_KEY_VARIABLE}, or enter the API key again).",
                record.get("id")) from None

    def _decrypted(self, record: Mapping[str, Any]) -> dict[str, str]:
        return {field: self._open(record, value) if crypto.is_encrypted(value) else value
                for field, value in record["config"].items()}

    def _check(self, record: Record) -> TestResult:
        try:
            config = self._decrypted(record)
        except DecryptionError as error:
            return TestResult(False, str(error), "auth", 0)
        return test_connection(record["type"], config, self.timeout)

    def _to_connection(self, record: Mapping[str, Any]) -> Connection:
        config: dict[str, Any] = {}
        hints = record.get("hints", {})
        for field, value in record["config"].items():
            if crypto.is_encrypted(value):
                config[field] = MASK + hints.get(field, "")
                config[f"has_{field}"] = True
            else:
                config[field] = value
        last = record.get("last_result")
        return Connection(
            id=record["id"], workspace_id=record["workspace_id"], type=record["type"],
            name=record["name"], config=MappingProxyType(config),
            is_default=bool(record.get("is_default")), status=record.get("status", "unconfigured"),
            last_checked_at=_parse_time(record.get("last_checked_at")),
            last_result=LastResult(**last) if last else None,
            available_models=tuple(record.get("available_models") or ()),
            created_at=_parse_time(record["created_at"]) or self._clock(),
            updated_at=_parse_time(record.get("updated_at")) or self._clock(),
            deleted_at=_parse_time(record.get("deleted_at")), version=record["version"],
        )

    # -- internals: the key check -----------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[Table]:
        """A store transaction that first proves the key still fits the data."""
        with self.store.transaction():
            meta = self.store.table(META)
            self._check_key(meta.all())
            if not meta.all():
                self._write_key_check(meta)
            yield self.store.table(CONNECTIONS)

    def _meta(self) -> builtins.list[Record]:
        return self.store.snapshot(META)[1]

    def _check_key(self, meta: builtins.list[Any]) -> None:
        """Refuse a key ring that can't decrypt this store's data, before any write."""
        token = next((m["key_check"] for m in meta if "key_check" in m), None)
        if token is None:
            token = next(iter(_secret_tokens(self.store)), None)
        if token is None:
            return
        try:
            self.keyring.decrypt(token)
        except DecryptionError:
            raise EncryptionKeyError(
                f"{crypto.KEY_VARIABLE} does not match the key this data was written with "
                f"({self.store.path}). Set the key it was written with; to change keys, set "
                f"the old one as {crypto.PREVIOUS_KEY_VARIABLE}, the new one as "
                f"{crypto.KEY_VARIABLE}, and rotate.") from None

    def _write_key_check(self, meta: Table) -> None:
        meta.truncate()
        meta.insert({"key_check": self.keyring.encrypt(KEY_CHECK_PLAINTEXT)})


def _without_display_values(provider: Provider, config: Mapping[str, Any]) -> Record:
    """``config`` without what a Connection shows in place of secrets (the masks and
    the ``has_`` flags): read back into an update, they mean "keep"."""
    secrets = set(provider.secret_fields)
    return {k: v for k, v in config.items()
            if not (k in secrets and isinstance(v, str) and v.startswith(MASK))
            and not (k.startswith("has_") and k[4:] in secrets)}


def _kept_secrets(provider: Provider, stored: Mapping[str, Any],
                  config: Mapping[str, Any]) -> set[str]:
    """The stored secrets that ``config`` leaves as they are (missing, empty or masked)."""
    given = _without_display_values(provider, config)
    return {f for f in provider.secret_fields
            if f in stored and not (isinstance(given.get(f), str) and given[f].strip())}


def _base_url_of(provider: Provider, config: Mapping[str, Any], stored: Mapping[str, Any]) -> Any:
    """The base URL ``config`` would store, normalised as validation does."""
    value = config.get("baseUrl", stored.get("baseUrl"))
    if not isinstance(value, str):
        return value
    return value.strip().rstrip("/") or provider.default_base_url


def _secret_tokens(store: TinyDBStore) -> Iterator[str]:
    for row in store.snapshot(CONNECTIONS)[1]:
        for value in row.get("config", {}).values():
            if crypto.is_encrypted(value):
                yield value


def _holds_secrets(store: TinyDBStore) -> bool:
    return bool(store.snapshot(META)[1]) or next(_secret_tokens(store), None) is not None


def _checked_workspace(workspace_id: Any) -> str:
    clean = workspace_id.strip() if isinstance(workspace_id, str) else ""
    if not 1 <= len(clean) <= NAME_MAX:
        raise ValidationError({"workspace_id": f"A workspace id is 1-{NAME_MAX} characters."})
    return clean


def _checked_name(name: Any, errors: dict[str, str]) -> str:
    clean = name.strip() if isinstance(name, str) else ""
    if not clean:
        errors["name"] = "Enter a name, so you can tell this connection from others."
    elif len(clean) > NAME_MAX:
        errors["name"] = f"A name is at most {NAME_MAX} characters."
    return clean


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _ms_since(started: float) -> int:
    return max(0, round((time.perf_counter() - started) * 1000))


def _not_found(id: str) -> NotFoundError:
    return NotFoundError(f"No connection with id '{id}' in this workspace.", id)
