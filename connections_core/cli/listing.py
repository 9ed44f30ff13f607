"""How ``list`` shows connections to a person: a table that fits the width it has.

An address (where a connection's checks and keys go: a base URL, Azure's endpoint,
Bedrock's region's endpoint) or a date is never cut.  When the whole table is too wide, dates are
shortened to the minute and the least useful columns are left out, one at a
time, until it fits (a line names them; ``--wide`` shows every column, in full).
When even the narrowest table doesn't fit, each connection is shown on lines of
its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import click

from ..models import MASK, STATUS_LABELS, Connection
from ..providers import PROVIDERS
from .common import echo, output_width, table, table_fits

#: The columns ``list`` leaves out when the table is too wide, first to last:
#: Workspace only when every row is in the same one.
LEAST_USEFUL_FIRST = ("Key", "Workspace", "Default", "Provider")
_SHORT_TIME = "%Y-%m-%d %H:%M"


def print_connections(connections: Sequence[Connection], *, deleted: bool,
                      wide: bool) -> None:
    """Print ``connections`` (deleted ones, with when, if ``deleted``) for a person."""
    full, width = _columns(connections, deleted, short=False), output_width()
    if wide or table_fits(list(full), _rows(full), width):
        table(list(full), _rows(full))
        return
    columns = _columns(connections, deleted, short=True)
    for left_out in _narrowing(connections):
        kept = {name: cells for name, cells in columns.items() if name not in left_out}
        if table_fits(list(kept), _rows(kept), width):
            table(list(kept), _rows(kept))
            if left_out:
                echo(click.wrap_text(f"Left out to fit {width} columns: "
                                     f"{', '.join(left_out)}. --wide shows every column.",
                                     width))
            return
    _blocks(full)


def _narrowing(connections: Sequence[Connection]) -> list[tuple[str, ...]]:
    """The columns to leave out, try after try (none at first)."""
    droppable = [name for name in LEAST_USEFUL_FIRST if name != "Workspace"
                 or len({c.workspace_id for c in connections}) == 1]
    return [tuple(droppable[:count]) for count in range(len(droppable) + 1)]


def _columns(connections: Sequence[Connection], deleted: bool, *,
             short: bool) -> dict[str, list[str]]:
    """Each column's header and cells, in the order they are shown."""
    time = _short_time if short else iso_time
    columns = {
        "Workspace": [c.workspace_id for c in connections],
        "Name": [c.name for c in connections],
        "Provider": [provider_name(c.type) for c in connections],
        "Default": ["yes" if c.is_default else "" for c in connections],
        "Status": [STATUS_LABELS.get(c.status, c.status) for c in connections],
        "Checked (UTC)" if short else "Last checked": [
            time(c.last_checked_at) or "never" for c in connections],
        "Address": [c.where for c in connections],
        "Key": [MASK if has_key(c) else "" for c in connections],
    }
    if deleted:
        columns["Deleted (UTC)" if short else "Deleted"] = [
            time(c.deleted_at) or "" for c in connections]
    return columns


def _rows(columns: dict[str, list[str]]) -> list[list[str]]:
    return [list(row) for row in zip(*columns.values(), strict=True)]


def _blocks(columns: dict[str, list[str]]) -> None:
    """Each connection as its name, then a line for each value it has."""
    names, rest = columns["Name"], {k: v for k, v in columns.items() if k != "Name"}
    label_width = max(len(label) for label in rest) + 2
    for index, name in enumerate(names):
        echo(("\n" if index else "") + name)
        for label, cells in rest.items():
            if cells[index]:
                echo(f"  {label:<{label_width}}{cells[index]}")


def provider_name(type: str) -> str:
    return PROVIDERS[type].display_name if type in PROVIDERS else type


def has_key(connection: Connection) -> bool:
    # Only whether there is one: the masked value ends in the key's last four characters.
    return any(name.startswith("has_") and value is True
               for name, value in connection.config.items())


def iso_time(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat(timespec="seconds")


def _short_time(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).strftime(_SHORT_TIME)
