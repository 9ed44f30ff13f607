"""``list``, ``test`` and ``purge``: the connections themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from ..models import STATUS_LABELS, Connection
from ..providers import TestResult
from ..service import ConnectionService
from ..text import counted, duration
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
    workspace_options,
)
from .listing import has_key, iso_time, print_connections, provider_name


@click.command("list")
@data_dir_option
@demo_option
@workspace_options
@click.option("--deleted", is_flag=True, help="List deleted connections instead.")
@click.option("--wide", is_flag=True,
              help="Every column, in full, however wide the terminal.")
@json_option
def list_command(data_dir: Path | None, workspace: str | None, all_workspaces: bool,
                 deleted: bool, wide: bool, as_json: bool) -> int:
    """List connections: workspace, name, provider, default, status, last check,
    address (where its checks and keys go), key. A key is only ever shown masked.

    The table fits the terminal: addresses and dates are never cut; the key,
    workspace, default and provider columns are left out, in that order, as far as
    needed (--wide shows them all).

    \b
    Example:
      python -m connections_core list --all-workspaces
      python -m connections_core list --workspace team-a --json | jq '.connections[].name'
    """
    services = chosen_workspaces(open_service(data_dir), workspace, all_workspaces)
    found = [c for s in services for c in (s.list_deleted() if deleted else s.list())]
    if as_json:
        print_json({"connections": [_connection_json(c) for c in found]})
    elif not found:
        echo(f"No {'deleted ' if deleted else ''}connections in "
             f"{_where(services, all_workspaces)}.")
    else:
        print_connections(found, deleted=deleted, wide=wide)
    return OK


def _connection_json(connection: Connection) -> dict[str, Any]:
    last = connection.last_result
    return {
        "workspace": connection.workspace_id, "id": connection.id, "name": connection.name,
        "type": connection.type, "is_default": connection.is_default,
        "status": connection.status, "last_checked_at": iso_time(connection.last_checked_at),
        "last_result": None if last is None else {
            "success": last.success, "kind": last.kind, "message": last.message,
            "latency_ms": last.latency_ms, "status_code": last.status_code},
        "address": connection.where, "base_url": connection.base_url,
        "has_key": has_key(connection),
        "deleted_at": iso_time(connection.deleted_at),
        "schedule_minutes": connection.schedule_minutes,
    }


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
      */15 * * * *  cd /srv/connections && python -m connections_core test \\
          --all-workspaces --data-dir /srv/connections/data
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
        echo(f"Tested {counted(len(results), 'connection')}: {len(results) - failed} "
             f"{STATUS_LABELS['connected'].lower()}, {failed} failed.")
    return FOUND_A_PROBLEM if failed else OK


def _result_line(connection: Connection, result: TestResult) -> str:
    verdict = STATUS_LABELS["connected" if result.success else "error"]
    return (f"{verdict:<9}  {connection.workspace_id}/{connection.name} "
            f"({provider_name(connection.type)}, {duration(result.latency_ms)}): "
            f"{result.message}")


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
      python -m connections_core purge --deleted-before 90 --yes
    """
    service = open_service(data_dir)
    before = datetime.now(UTC) - timedelta(days=days)
    workspaces = [service.in_workspace(w) for w in service.accessible_workspaces()]
    doomed = [(s, c) for s in workspaces for c in s.list_deleted()
              if c.deleted_at is not None and c.deleted_at < before]
    ago = f"more than {counted(days, 'day')} ago"
    if not doomed:
        echo(f"No connections were deleted {ago}; nothing to remove.")
        return OK
    echo(f"Deleted {ago} ({counted(len(doomed), 'connection')}):")
    for _, connection in doomed:
        echo(f"  {_label(connection)}")
    if not yes:
        _confirm(len(doomed))
    removed = [c for s in workspaces for c in s.purge_deleted(before)]
    for connection in removed:
        echo(f"Removed {_label(connection)}")
    echo(f"Removed {counted(len(removed), 'connection')} for good.")
    return OK


def _confirm(count: int) -> None:
    these = "this connection" if count == 1 else f"these {count} connections"
    if not agreed(f"Remove {these} for good?",
                  elsewhere="Not removing anything without confirmation, and this is not a "
                            "terminal: pass --yes to remove them."):
        raise Failure("Nothing was removed.", FOUND_A_PROBLEM)


def _label(connection: Connection) -> str:
    return (f"{connection.workspace_id}/{connection.name} ({provider_name(connection.type)}, "
            f"{connection.id}, deleted {iso_time(connection.deleted_at)})")


def _where(services: list[ConnectionService], all_workspaces: bool) -> str:
    if all_workspaces:
        return "any workspace"
    return f"workspace '{services[0].workspace_id}'"
