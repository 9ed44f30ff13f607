"""``export`` and ``import``: portable backups (the format is :mod:`connections_core.backup`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import get_args

import click

from ..backup import (
    Backup,
    DefaultMove,
    ImportReport,
    OnConflict,
    ToConfirm,
    export_backup,
    import_backup,
    load_backup,
    read_backup,
    write_backup,
)
from ..environment import DATABASE_URL_VARIABLE, STORE_FILE
from ..providers import PROVIDERS
from ..service import ConnectionService
from .common import (
    FOUND_A_PROBLEM,
    OK,
    Bar,
    Failure,
    agreed,
    data_dir_option,
    echo,
    environment,
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
      connections export team-a.backup.json --workspace team-a
      BACKUP_PASSPHRASE=... connections export all.backup.json --all-workspaces \\
          --passphrase-env BACKUP_PASSPHRASE
    """
    if workspace is not None and all_workspaces:
        raise click.UsageError("Pass either --workspace or --all-workspaces, not both.")
    service = open_service(data_dir)
    known = service.accessible_workspaces()
    names = known if all_workspaces else [workspace or "default"]
    missing = [name for name in names if name not in known]
    if missing:
        raise Failure(f"There is no workspace '{missing[0]}' in this installation (there "
                      f"are: {', '.join(known)}).")
    passphrase = _passphrase(passphrase_env, twice=True)
    counted = [0]

    with Bar("Exporting", None) as bar:
        def progress(done: int, total: int) -> None:
            counted[0] = total
            bar.update(done, total)

        data = export_backup(service, names, passphrase, progress=progress)
    write_backup(file, data)
    echo(f"Exported {counted[0]} connections of {_listed(names)} to {file} (mode 0600). "
         "Keep the passphrase apart from the file.")
    return OK


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
    """Import a backup made by `connections export`, re-encrypting its API keys with
    this installation's key. All or nothing; prints what it created, replaced,
    skipped or copied. A wrong passphrase or a damaged file changes nothing.

    An import that adds an admin to a workspace, or (with --on-conflict replace)
    changes a default connection's base URL, lists those changes and asks first on
    a terminal; elsewhere it needs --yes.

    \b
    Example:
      connections import team-a.backup.json --dry-run
      connections import team-a.backup.json --on-conflict replace
    """
    # The backup first: a wrong passphrase or a damaged file leaves everything as it was.
    backup = read_backup(load_backup(file), _passphrase(passphrase_env, twice=False))
    if dry_run:
        report = _import(open_service(data_dir), backup, workspace, on_conflict, dry_run=True)
        _print_report(report)
        return OK
    confirmed = None if yes else _confirmed(_to_confirm(data_dir, backup, workspace,
                                                        on_conflict))
    # An import is how a new installation starts: it may make the data folder (and,
    # with no ENCRYPTION_KEY, a local key file).
    service = open_service(data_dir, new_installation=True)
    _print_report(_import(service, backup, workspace, on_conflict, confirmed=confirmed))
    return OK


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
    echo(f"{counts}; {len(report.members)} members added."
         + (" Dry run: nothing was written." if report.dry_run else ""))
    if report.dry_run and report.to_confirm:
        echo(f"The import would ask to confirm {_counted(report.to_confirm)} first (or take "
             "--yes).")


def _to_confirm(data_dir: Path | None, backup: Backup, workspace: str | None,
                on_conflict: OnConflict) -> list[ToConfirm]:
    """What the import would ask about, worked out without writing anything."""
    env, folder = environment(data_dir)
    if not env.get(DATABASE_URL_VARIABLE, "").strip() and not (folder / STORE_FILE).exists():
        # Nothing is here yet (and opening it would make the folder): every member of the
        # file is new, and there is no default to move.  The import checks this again.
        return [] if workspace is not None else [m for m in backup.members
                                                 if m.role == "admin"]
    service = open_service(data_dir, new_installation=True)
    return import_backup(service, backup, workspace=workspace, on_conflict=on_conflict,
                         dry_run=True).to_confirm


def _confirmed(changes: list[ToConfirm]) -> list[ToConfirm]:
    """``changes``, once a person has confirmed them on a terminal (none: nothing to ask)."""
    if not changes:
        return changes
    echo(f"This import needs confirmation: {_counted(changes)}.")
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


def _counted(changes: list[ToConfirm]) -> str:
    admins = sum(not isinstance(change, DefaultMove) for change in changes)
    moved = len(changes) - admins
    said = [f"{admins} admin{'s' if admins != 1 else ''} added" if admins else "",
            f"{moved} default connection{'s' if moved != 1 else ''} pointed at another base URL"
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
