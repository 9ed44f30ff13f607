"""``export`` and ``import``: portable backups (the format is :mod:`connections_core.backup`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import get_args

import click

from .. import crypto
from ..backup import (
    Backup,
    DefaultMove,
    ImportReport,
    OnConflict,
    ToConfirm,
    export_backup,
    import_backup,
    load_backup,
    preview_import,
    read_backup,
    write_backup,
)
from ..environment import DATABASE_URL_VARIABLE, KEY_FILE, STORE_FILE
from ..providers import PROVIDERS
from ..service import ConnectionService
from ..text import counted
from .common import (
    FOUND_A_PROBLEM,
    OK,
    Bar,
    Failure,
    agreed,
    data_dir_option,
    echo,
    environment,
    existing_workspace,
    open_service,
)

FROM_VARIABLE_HELP = ("Read the passphrase from this environment variable instead of "
                       "asking for it (for scripts).")


@click.command("export")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@data_dir_option
@click.option("--workspace", "-w", metavar="W", default=None,
              help="This workspace (default: 'default').")
@click.option("--all-workspaces", is_flag=True, help="Every workspace.")
@click.option("--passphrase-env", metavar="NAME", default=None, help=FROM_VARIABLE_HELP)
def export_command(file: Path, data_dir: Path | None, workspace: str | None,
                   all_workspaces: bool, passphrase_env: str | None) -> int:
    """Write a portable backup of a workspace (its connections, deleted ones too, and
    members) to FILE, mode 0600. Its API keys are encrypted with a passphrase (asked
    twice, or read from --passphrase-env), so the file can be imported on another
    machine with another ENCRYPTION_KEY.

    \b
    Example:
      python -m connections_core export team-a.backup.json --workspace team-a
      BACKUP_PASSPHRASE=... python -m connections_core export all.backup.json \\
          --all-workspaces --passphrase-env BACKUP_PASSPHRASE
    """
    if workspace is not None and all_workspaces:
        raise click.UsageError("Pass either --workspace or --all-workspaces, not both.")
    service = open_service(data_dir)
    names = (service.accessible_workspaces() if all_workspaces
             else [existing_workspace(service, workspace or "default")])
    passphrase = _passphrase(passphrase_env, twice=True)
    with Bar("Exporting", None) as bar:
        data = export_backup(service, names, passphrase, progress=bar.update)
    write_backup(file, data)
    echo(f"Exported {_listed(names)} to {file} (mode 0600): {_connections_in(data)}. "
         "Keep the passphrase apart from the file.")
    return OK


def _connections_in(data: bytes) -> str:
    """How many connections the backup ``data`` holds, and how many of them are deleted."""
    workspaces = json.loads(data)["workspaces"].values()
    found = [c for workspace in workspaces for c in workspace["connections"]]
    deleted = sum(bool(c.get("deleted_at")) for c in found)
    return counted(len(found), "connection") + (f", {deleted} of them deleted" if deleted
                                                 else "")


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@data_dir_option
@click.option("--workspace", "-w", metavar="W", default=None,
              help="Import everything into this workspace (default: the workspaces in the "
                   "file; members are then left out).")
@click.option("--on-conflict", type=click.Choice(get_args(OnConflict)), default="skip",
              show_default=True,
              help="When a connection is already here: keep ours (skip), overwrite it "
                   "(replace), or add the backup's as a new one (copy).")
@click.option("--dry-run", is_flag=True, help="Say what would be done; write nothing.")
@click.option("--passphrase-env", metavar="NAME", default=None, help=FROM_VARIABLE_HELP)
@click.option("--yes", is_flag=True,
              help="Don't ask before adding an admin or changing a default connection's "
                   "base URL (without a terminal, such an import needs it).")
def import_command(file: Path, data_dir: Path | None, workspace: str | None,
                   on_conflict: OnConflict, dry_run: bool, passphrase_env: str | None,
                   yes: bool) -> int:
    """Import a backup made by `export`, re-encrypting its API keys with this
    installation's key. All or nothing; prints what it created, replaced, skipped
    or copied. A wrong passphrase or a damaged file changes nothing. Into a data
    folder that doesn't exist yet, it starts a new installation there.

    An import that adds an admin to a workspace, or (with --on-conflict replace)
    changes a default connection's base URL, lists those changes and asks first on
    a terminal; elsewhere it needs --yes.

    --dry-run says what the import would do and writes nothing, in a new data
    folder too.

    \b
    Example:
      python -m connections_core import team-a.backup.json --dry-run
      python -m connections_core import team-a.backup.json --on-conflict replace
    """
    # The backup first: a wrong passphrase or a damaged file leaves everything as it was.
    backup = read_backup(load_backup(file), _passphrase(passphrase_env, twice=False))
    if dry_run:
        _dry_run(data_dir, backup, workspace, on_conflict)
        return OK
    confirmed = None if yes else _confirmed(_to_confirm(data_dir, backup, workspace,
                                                        on_conflict))
    # An import is how a new installation starts: it may make the data folder (and,
    # with no ENCRYPTION_KEY, a local key file).
    service = open_service(data_dir, new_installation=True)
    _print_report(_import(service, backup, workspace, on_conflict, confirmed=confirmed))
    return OK


def _dry_run(data_dir: Path | None, backup: Backup, workspace: str | None,
             on_conflict: OnConflict) -> None:
    """Print what the import would do, writing nothing (not even a new data folder)."""
    if not _is_new(data_dir):
        _print_report(_import(open_service(data_dir), backup, workspace, on_conflict,
                              dry_run=True))
        return
    env, folder = environment(data_dir)
    has_key = crypto.env_key(env) is not None
    if has_key:
        crypto.KeyRing.from_env(env)  # a malformed key is refused now, as the import would
    with Bar("Importing", len(backup.connections)) as bar:
        _print_report(preview_import(backup, workspace=workspace, on_conflict=on_conflict,
                                     progress=bar.update))
    made = "" if folder.is_dir() else f"the data folder {folder} and "
    key = ("" if has_key or (folder / KEY_FILE).exists()
           else f", with a new key file ({crypto.KEY_VARIABLE} is not set)")
    echo(f"Nothing is stored there yet: the import would make {made}its data file{key}.")


def _is_new(data_dir: Path | None) -> bool:
    """Whether nothing is stored there yet (no database, no data file): opening it
    would make the folder, which only an import may do."""
    env, folder = environment(data_dir)
    return not env.get(DATABASE_URL_VARIABLE, "").strip() and not (folder / STORE_FILE).exists()


def _import(service: ConnectionService, backup: Backup, workspace: str | None,
            on_conflict: OnConflict, *, dry_run: bool = False,
            confirmed: list[ToConfirm] | None = None) -> ImportReport:
    with Bar("Importing", len(backup.connections)) as bar:
        return import_backup(service, backup, workspace=workspace, on_conflict=on_conflict,
                             dry_run=dry_run, progress=bar.update, confirmed=confirmed)


def _print_report(report: ImportReport) -> None:
    for entry in report.entries:
        echo(f"{entry.action:8}  {entry.workspace}/{entry.name} ({entry.id})")
    for member in report.members:
        echo(f"member    {member.workspace}/{member.email} ({member.role})")
    for moved in report.moved_defaults:
        echo(_change_line(moved))
    counts = ", ".join(f"{action} {n}" for action, n in report.counts.items())
    echo(f"{counts}; {counted(len(report.members), 'member')} added."
         + (" Dry run: nothing was written." if report.dry_run else ""))
    if report.dry_run and report.to_confirm:
        echo(f"The import would ask to confirm {_said(report.to_confirm)} first (or take "
             "--yes).")


def _to_confirm(data_dir: Path | None, backup: Backup, workspace: str | None,
                on_conflict: OnConflict) -> list[ToConfirm]:
    """What the import would ask about, worked out without writing anything."""
    if _is_new(data_dir):  # the import checks this again, once it has made the store
        return preview_import(backup, workspace=workspace, on_conflict=on_conflict).to_confirm
    service = open_service(data_dir, new_installation=True)
    return import_backup(service, backup, workspace=workspace, on_conflict=on_conflict,
                         dry_run=True).to_confirm


def _confirmed(changes: list[ToConfirm]) -> list[ToConfirm]:
    """``changes``, once a person has confirmed them on a terminal (none: nothing to ask)."""
    if not changes:
        return changes
    echo(f"This import needs confirmation: {_said(changes)}.")
    for change in changes:
        echo(_change_line(change))
    if not agreed("Import, with these changes?",
                  elsewhere="Not importing these changes without confirmation, and this is "
                            "not a terminal: pass --yes to import them. Nothing was imported."):
        raise Failure("Nothing was imported.", FOUND_A_PROBLEM)
    return changes


def _change_line(change: ToConfirm) -> str:
    if isinstance(change, DefaultMove):
        provider = PROVIDERS[change.type].display_name
        return (f"default   {change.workspace}/{change.name} ({provider}, {change.id}): "
                f"base URL {change.base_url} -> {change.new_base_url}")
    return f"admin     {change.workspace}/{change.email} (a new member)"


def _said(changes: list[ToConfirm]) -> str:
    admins = sum(not isinstance(change, DefaultMove) for change in changes)
    moved = len(changes) - admins
    said = [f"{counted(admins, 'admin')} added" if admins else "",
            f"{counted(moved, 'default connection')} pointed at another base URL"
            if moved else ""]
    return " and ".join(part for part in said if part)


def _passphrase(variable: str | None, *, twice: bool) -> str:
    """The passphrase: from the variable named by --passphrase-env, else asked on a
    terminal (twice when it is chosen now)."""
    if variable is not None:
        value = os.environ.get(variable, "")
        if not value:
            raise Failure(f"The variable {variable} (--passphrase-env) is not set or empty; "
                          "set it to the backup's passphrase.")
        return value
    if not sys.stdin.isatty():
        raise Failure("There is no terminal to ask for the passphrase: pass "
                      "--passphrase-env NAME, with the passphrase in variable NAME.")
    return str(click.prompt("Passphrase", hide_input=True, confirmation_prompt=twice))


def _listed(names: list[str]) -> str:
    return ("workspace " if len(names) == 1 else "workspaces ") + ", ".join(
        f"'{name}'" for name in names)
