"""Opening the store and the key from the environment: the one place that knows
which store a deployment uses.

:func:`open_from_env` reads the variables, opens the TinyDB file or the PostgreSQL
database, and finds the key (given, read from the local key file, or generated
into it); :meth:`ConnectionService.from_env <connections_core.ConnectionService.from_env>`
builds a service on what it returns.  Nothing else imports a store module.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import access, checks, crypto
from .errors import EncryptionKeyError, StoreError
from .inputs import checked_audit_days, checked_history_days
from .records import holds_secrets
from .scope import ADMINS_VARIABLE, DEFAULT_AUDIT_DAYS, DEFAULT_HISTORY_DAYS
from .storage import Store
from .store import TinyDBStore

__all__ = ["AUDIT_DAYS_VARIABLE", "DATABASE_URL_VARIABLE", "DATA_DIR_VARIABLE",
           "DEFAULT_DATA_DIR", "HISTORY_DAYS_VARIABLE", "KEY_FILE", "STORE_FILE", "Opened",
           "close_databases", "open_database", "open_from_env"]

DATA_DIR_VARIABLE = "CONNECTIONS_DATA_DIR"
DATABASE_URL_VARIABLE = "CONNECTIONS_DATABASE_URL"
AUDIT_DAYS_VARIABLE = "CONNECTIONS_AUDIT_DAYS"
HISTORY_DAYS_VARIABLE = "CONNECTIONS_HISTORY_DAYS"
DEFAULT_DATA_DIR = "data"
STORE_FILE = "connections.json"
KEY_FILE = "encryption.key"


@dataclass(frozen=True)
class Opened:
    """A store and its key, opened as the environment says, with its settings."""

    store: Store
    keyring: crypto.KeyRing
    admins: frozenset[str]
    audit_days: int
    #: ``environment`` (the key was set), ``file`` (an earlier generated local key)
    #: or ``generated`` (made just now, for an empty store).
    key_source: str
    key_file: Path | None
    history_days: int = DEFAULT_HISTORY_DAYS


def open_from_env(environ: Mapping[str, str] | None = None) -> Opened:
    """Open the store and key the environment names (see ``ConnectionService.from_env``).

    :raises EncryptionKeyError: a key is malformed, or missing where it must be set.
    :raises StoreError: the store can't be opened (naming where it is).
    :raises ValidationError: an admin's address, the retention period or
        ``CONNECTIONS_MAX_CHECKS`` is invalid.
    """
    env = os.environ if environ is None else environ
    checks.max_checks(env)
    admins = access.checked_emails(
        [a for a in env.get(ADMINS_VARIABLE, "").split(",") if a.strip()], ADMINS_VARIABLE)
    audit_days = checked_audit_days(env.get(AUDIT_DAYS_VARIABLE) or DEFAULT_AUDIT_DAYS,
                                    AUDIT_DAYS_VARIABLE)
    history_days = checked_history_days(env.get(HISTORY_DAYS_VARIABLE) or DEFAULT_HISTORY_DAYS,
                                        HISTORY_DAYS_VARIABLE)
    key = crypto.env_key(env)
    # Built before the store, so a malformed key is refused before anything
    # (even the data folder) is made.
    keyring = crypto.KeyRing(key, crypto.previous_keys(env)) if key else None
    database_url = env.get(DATABASE_URL_VARIABLE, "").strip()
    if database_url:
        if keyring is None:
            raise EncryptionKeyError(
                f"{DATABASE_URL_VARIABLE} is set, so {crypto.KEY_VARIABLE} must be set too: "
                "every replica needs the same key, and a key file made on one machine "
                "would not be shared. Generate one with `python -c \"from connections_core "
                "import generate_key; print(generate_key())\"` and keep it safe.")
        return Opened(open_database(database_url), keyring, admins, audit_days,
                      "environment", None, history_days)
    data_dir = Path(env.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR)
    store = TinyDBStore(data_dir / STORE_FILE)
    if keyring is not None:
        return Opened(store, keyring, admins, audit_days, "environment", None, history_days)
    key_file = data_dir / KEY_FILE
    source = "file" if key_file.exists() else "generated"
    if source == "generated" and holds_secrets(store):
        raise EncryptionKeyError(
            f"{store.path} holds encrypted API keys, but {crypto.KEY_VARIABLE} is not "
            f"set and there is no {key_file}. Set {crypto.KEY_VARIABLE} to the key "
            "this data was written with; a new key could not decrypt it.")
    local_key = crypto.read_key_file(key_file) if source == "file" else _new_key_file(key_file)
    return Opened(store, crypto.KeyRing(local_key, crypto.previous_keys(env)), admins,
                  audit_days, source, key_file, history_days)


#: The databases opened by :func:`open_database` in this process, by URL: every
#: service of a process (one per signed-in person and workspace, in the dashboard)
#: shares one store, and so one pool of connections to the server.
_DATABASES: dict[str, Store] = {}
_DATABASES_GUARD = threading.Lock()


def open_database(url: str) -> Store:
    """The store at a database URL (``postgresql://...``), opened once per process.

    psycopg is imported only here, so that the TinyDB path never needs it.

    :raises StoreError: the URL is not a PostgreSQL one, psycopg is missing, or
        the database can't be opened (naming the host, never the password).
    """
    if not url.startswith(("postgresql://", "postgres://")):
        raise StoreError(f"{DATABASE_URL_VARIABLE} must be a PostgreSQL URL, "
                         "postgresql://user:password@host:5432/database; the store was not "
                         "opened.", DATABASE_URL_VARIABLE)
    try:
        from .postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]
    except ImportError as error:
        raise StoreError(f"{DATABASE_URL_VARIABLE} is set, but psycopg can't be imported "
                         f"({error.name or 'psycopg'}). Install it: pip install -r "
                         "requirements.txt.", DATABASE_URL_VARIABLE) from None
    with _DATABASES_GUARD:
        store = _DATABASES.get(url)
        if store is None or getattr(store, "closed", False):
            store = _DATABASES[url] = PostgresStore(url)
        return store


def close_databases() -> None:
    """Close every database :func:`open_database` opened in this process (the next
    call opens it again): for a process that stops, and for tests."""
    with _DATABASES_GUARD:
        opened = list(_DATABASES.values())
        _DATABASES.clear()
    for store in opened:
        store.close()


def _new_key_file(path: Path) -> str:
    try:
        return crypto.create_key_file(path)
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise EncryptionKeyError(
            f"{crypto.KEY_VARIABLE} is not set, and a key for local use can't be written to "
            f"{path} ({reason}). Free disk space and make that folder writable, or set "
            f"{crypto.KEY_VARIABLE}. {crypto.MAKE_A_KEY}") from None
