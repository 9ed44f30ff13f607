"""Reading and editing stored records through the Store interface, on either store.

For tests that look at, or tamper with, what a store holds to set up or check a
condition that is not about where it is kept ("nothing changed after a refused
operation", "a damaged record", "a planted token"): an attacker who can write
the database can do what one who can write the file can, so these run on both
stores.  Tests about the TinyDB file itself read the file instead.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from connections_core import Store
from connections_core.storage import Record

TOKEN_PREFIXES = ("v1:", "v2:")


def _order(record: Record, *fields: str) -> str:
    # Damaged records may hold ids of any type: compare their text.
    return repr(tuple(record.get(field) for field in fields))


def records(store: Store) -> dict[str, Any]:
    """Everything but the audit trail, in a stable order: compare before and after."""
    _, connections = copy.deepcopy(store.connections())
    return {"connections": sorted(connections, key=lambda r: _order(r, "workspace_id", "id")),
            "members": sorted(store.members(), key=lambda r: _order(r, "workspace_id", "email")),
            "key_check": store.key_check(),
            "app_tokens": sorted(store.app_tokens(), key=lambda r: _order(r, "workspace_id",
                                                                        "id"))}


def contents(store: Store) -> dict[str, Any]:
    """Every record and every audit entry: equal contents mean nothing was written."""
    return {**records(store), "audit": list(store.audit_entries())}


def connection(store: Store, id: str) -> Record:
    """A copy of the stored record of the connection with that id (in any workspace)."""
    _, connections = store.connections()
    found = [record for record in connections if record.get("id") == id]
    assert len(found) == 1, f"{len(found)} connections with id {id!r}"
    return copy.deepcopy(found[0])  # what a store returns is read-only (maybe its cache)


def secrets(store: Store) -> list[str]:
    """Every sealed secret stored in a connection's config (deleted ones too)."""
    _, connections = store.connections()
    return [value for record in connections for value in record["config"].values()
            if isinstance(value, str) and value.startswith(TOKEN_PREFIXES)]


def edit(store: Store, id: str, change: Callable[[Record], object]) -> None:
    """Change a stored connection as someone with write access to the store could:
    ``change`` edits the record in place, which then replaces the stored one whole."""
    record = connection(store, id)
    change(record)
    with store.transaction() as tx:
        tx.replace_connection(record)


def edit_config(store: Store, id: str, **fields: Any) -> None:
    """Set fields of a stored connection's config (a secret, a base URL) directly."""
    edit(store, id, lambda record: record["config"].update(fields))


def plant(store: Store, record: Record) -> None:
    """Add a connection record as it is, without any of the service's checks."""
    with store.transaction() as tx:
        tx.insert_connection(record)


def set_key_check(store: Store, record: Record) -> None:
    """Replace the key check directly."""
    with store.transaction() as tx:
        tx.set_key_check(record)


def remove_key_check(store: Store) -> None:
    """Delete the key check, as someone editing the store by hand could (the service
    never removes it)."""
    with store.transaction() as tx:
        tx.remove_key_check()


def tampered(token: str) -> str:
    """``token`` with its last byte changed: it no longer authenticates."""
    return token[:-2] + ("00" if token[-2:] != "00" else "11")
