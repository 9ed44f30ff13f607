"""``list``, ``test`` and ``purge``: the connections themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from ..models import MASK, STATUS_LABELS, Connection
from ..providers import PROVIDERS, TestResult
from ..service import ConnectionService
from .common import (
    FOUND_A_PROBLEM,
    OK,
    Bar,
    Failure,
    agreed,
    chosen_workspaces,
    data_dir_option,
    demo_option,
    echo,
    json_option,
    open_service,
    print_json,
    table,
    workspace_options,
)


@click.command("list")
@data_dir_option
@demo_option
@workspace_options
@click.option("--deleted", is_flag=True, help="List deleted connections instead.")
@json_option
def list_command(data_dir: Path | None, workspace: str | None, all_workspaces: bool,
                 deleted: bool, as_json: bool) -> int:
    """List connections: name, provider, default, status, last check, base URL, key.

    A key is only ever shown masked.

    \b
    Example:
      connections list --all-workspaces
      connections list --workspace team-a --json | jq '.connections[].name'
    """
    services = chosen_workspaces(open_service(data_dir), workspace, all_workspaces)
    found = [c for s in services for c in (s.list_deleted() if deleted else s.list())]
    if as_json:
        print_json({"connections": [_connection_json(c) for c in found]})
    elif not found:
        echo(f"No {'deleted ' if deleted else ''}connections in "
             f"{_where(services, all_workspaces)}.")
    else:
        columns = ["Workspace", "Name", "Provider", "Default", "Status", "Last checked",
                   "Base URL", "Key"] + (["Deleted"] if deleted else [])
        table(columns, [_row(c, deleted) for c in found])
    return OK


def _row(connection: Connection, deleted: bool) -> list[str]:
    row = [connection.workspace_id, connection.name, _provider(connection.type),
           "yes" if connection.is_default else "",
           STATUS_LABELS.get(connection.status, connection.status),
           _time(connection.last_checked_at) or "never", connection.base_url,
           MASK if _has_key(connection) else ""]
    return row + ([_time(connection.deleted_at) or ""] if deleted else [])


def _connection_json(connection: Connection) -> dict[str, Any]:
    last = connection.last_result
    return {
        "workspace": connection.workspace_id, "id": connection.id, "name": connection.name,
        "type": connection.type, "is_default": connection.is_default,
        "status": connection.status, "last_checked_at": _time(connection.last_checked_at),
        "last_result": None if last is None else {
            "success": last.success, "kind": last.kind, "message": last.message,
            "latency_ms": last.latency_ms, "status_code": last.status_code},
        "base_url": connection.base_url, "has_key": _has_key(connection),
        "deleted_at": _time(connection.deleted_at),
    }


def _has_key(connection: Connection) -> bool:
    # Only whether there is one: the masked value ends in the key's last four characters.
    return any(name.startswith("has_") and value is True
               for name, value in connection.config.items())


@click.command("test")
@data_dir_option
@demo_option
@workspace_options
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="S", help="Seconds each check may take (default 15).")
@json_option
def test_command(data_dir: Path | None, workspace: str | None, all_workspaces: bool,
                 timeout: float | None, as_json: bool) -> int:
    """Check every connection at once and record the results, as the dashboard's
    "Test all" does. Prints each result as it arrives; exits 1 if any failed.

    \b
    Example (cron, every 15 minutes, mail on failure):
      */15 * * * *  connections test --all-workspaces --data-dir /srv/connections/data
    """
    services = chosen_workspaces(open_service(data_dir), workspace, all_workspaces)
    if timeout is not None:
        for service in services:
            service.timeout = timeout
    total = sum(len(service.list()) for service in services)
    results: list[tuple[Connection, TestResult]] = []
    with Bar("Checking connections", total, quiet=as_json) as bar:
        for service in services:
            for connection, result in service.iter_test_all():
                results.append((connection, result))
                bar.advance()
                if not as_json:
                    bar.echo(_result_line(connection, result))
    failed = sum(not result.success for _, result in results)
    if as_json:
        print_json({"ok": failed == 0, "count": len(results), "failed": failed,
                    "results": [_result_json(c, r) for c, r in results]})
    elif not results:
        echo(f"No connections in {_where(services, all_workspaces)}.")
    else:
        # The words of the dashboard's Test all.
        echo(f"Tested {len(results)} connections: {len(results) - failed} "
             f"{STATUS_LABELS['connected'].lower()}, {failed} {STATUS_LABELS['error'].lower()}.")
    return FOUND_A_PROBLEM if failed else OK


def _result_line(connection: Connection, result: TestResult) -> str:
    verdict = STATUS_LABELS["connected" if result.success else "error"]
    return (f"{verdict:<9}  {connection.workspace_id}/{connection.name} "
            f"({_provider(connection.type)}, {result.latency_ms} ms): {result.message}")


def _result_json(connection: Connection, result: TestResult) -> dict[str, Any]:
    return {"workspace": connection.workspace_id, "id": connection.id, "name": connection.name,
            "type": connection.type, "success": result.success, "kind": result.kind,
            "message": result.message, "latency_ms": result.latency_ms,
            "status_code": result.status_code}


@click.command("purge")
@data_dir_option
@click.option("--deleted-before", "days", type=click.IntRange(min=0), required=True,
              metavar="DAYS", help="Remove connections deleted more than DAYS days ago.")
@click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
def purge_command(data_dir: Path | None, days: int, yes: bool) -> int:
    """Permanently remove connections deleted more than DAYS days ago, in every
    workspace. Asks first on a terminal; elsewhere needs --yes.

    \b
    Example:
      connections purge --deleted-before 90 --yes
    """
    service = open_service(data_dir)
    before = datetime.now(UTC) - timedelta(days=days)
    workspaces = [service.in_workspace(w) for w in service.accessible_workspaces()]
    doomed = [(s, c) for s in workspaces for c in s.list_deleted()
              if c.deleted_at is not None and c.deleted_at < before]
    if not doomed:
        echo(f"No connections were deleted more than {days} days ago; nothing to remove.")
        return OK
    echo(f"Deleted more than {days} days ago ({len(doomed)}):")
    for _, connection in doomed:
        echo(f"  {_label(connection)}")
    if not yes:
        _confirm(len(doomed))
    removed = [c for s in workspaces for c in s.purge_deleted(before)]
    for connection in removed:
        echo(f"Removed {_label(connection)}")
    echo(f"Removed {len(removed)} connections for good.")
    return OK


def _confirm(count: int) -> None:
    if not agreed(f"Remove these {count} connections for good?",
                  elsewhere="Not removing anything without confirmation, and this is not a "
                            "terminal: pass --yes to remove them."):
        raise Failure("Nothing was removed.", FOUND_A_PROBLEM)


def _label(connection: Connection) -> str:
    return (f"{connection.workspace_id}/{connection.name} ({_provider(connection.type)}, "
            f"{connection.id}, deleted {_time(connection.deleted_at)})")


def _provider(type: str) -> str:
    return PROVIDERS[type].display_name if type in PROVIDERS else type


def _time(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat(timespec="seconds")


def _where(services: list[ConnectionService], all_workspaces: bool) -> str:
    if all_workspaces:
        return "any workspace"
    return f"workspace '{services[0].workspace_id}'"
