"""``export`` and ``import``: portable backups (the format is :mod:`connections_core.backup`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import get_args

import click

from ..backup import (
    OnConflict,
    export_backup,
    import_backup,
    load_backup,
    read_backup,
    write_backup,
)
from .common import (
    OK,
    Bar,
    Failure,
    data_dir_option,
    echo,
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
def import_command(file: Path, data_dir: Path | None, workspace: str | None,
                   on_conflict: OnConflict, dry_run: bool, passphrase_env: str | None) -> int:
    """Import a backup made by `connections export`, re-encrypting its API keys with
    this installation's key. All or nothing; prints what it created, replaced,
    skipped or copied. A wrong passphrase or a damaged file changes nothing.

    \b
    Example:
      connections import team-a.backup.json --dry-run
      connections import team-a.backup.json --on-conflict replace
    """
    # The backup first: a wrong passphrase or a damaged file leaves everything as it was.
    backup = read_backup(load_backup(file), _passphrase(passphrase_env, twice=False))
    # An import is how a new installation starts: it may make the data folder (and,
    # with no ENCRYPTION_KEY, a local key file), except in a dry run.
    service = open_service(data_dir, new_installation=not dry_run)
    with Bar("Importing", len(backup.connections)) as bar:
        report = import_backup(service, backup, workspace=workspace, on_conflict=on_conflict,
                               dry_run=dry_run, progress=bar.update)
    for entry in report.entries:
        echo(f"{entry.action:8}  {entry.workspace}/{entry.name} ({entry.id})")
    for member in report.members:
        echo(f"member    {member.workspace}/{member.email} ({member.role})")
    counts = ", ".join(f"{action} {n}" for action, n in report.counts.items())
    echo(f"{counts}; {len(report.members)} members added."
         + (" Dry run: nothing was written." if dry_run else ""))
    return OK


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
