"""``migrate-store``: copy the TinyDB data file into a PostgreSQL database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .. import crypto
from ..environment import DATABASE_URL_VARIABLE, KEY_FILE, STORE_FILE, open_database
from ..migrate import KINDS, MigrationReport, VerificationError, migrate_store
from ..service import ConnectionService
from .common import (
    FOUND_A_PROBLEM,
    OK,
    Bar,
    Failure,
    data_dir_option,
    echo,
    environment,
    json_option,
    print_json,
)

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@click.command("migrate-store")
@click.option("--to", "url", metavar="URL", required=True,
              help="The PostgreSQL database: postgresql://USER:PASSWORD@HOST:PORT/DATABASE.")
@data_dir_option
@json_option
def migrate_store_command(url: str, data_dir: Path | None, as_json: bool) -> int:
    """Copy every workspace's connections (deleted ones too), members, the key check
    and the audit trail from the data file to the PostgreSQL database at --to, then
    verify the counts. All or nothing; running it again copies only what the
    database lacks. Secrets stay encrypted with the same key: every replica then
    needs that ENCRYPTION_KEY.

    \b
    Example:
      python -m connections_core migrate-store \\
          --to postgresql://connections:PASSWORD@db:5432/connections
      CONNECTIONS_DATABASE_URL=postgresql://... python -m connections_core doctor
    """
    if not url.startswith(POSTGRES_SCHEMES):
        # The value itself is never echoed: it may hold a password.
        raise Failure("--to must be a PostgreSQL URL: postgresql://USER:PASSWORD@HOST:PORT/"
                      "DATABASE. Nothing was copied.")
    source = _open_source(data_dir)
    with open_database(url) as target:
        with Bar("Copying", quiet=as_json) as bar:
            try:
                report = migrate_store(source.store, target, source.keyring,
                                       progress=bar.update)
            except VerificationError as error:
                raise Failure(str(error), FOUND_A_PROBLEM) from None
    if as_json:
        print_json(_document(report))
    else:
        _print(report, source)
    return OK


def _open_source(data_dir: Path | None) -> ConnectionService:
    """The data file's service, its key read as the other commands read it.

    :raises Failure: no data file there, or no key to read it with.
    """
    env, folder = environment(data_dir)
    # The source is the data file, even where the dashboard already uses the database.
    env.pop(DATABASE_URL_VARIABLE, None)
    if not (folder / STORE_FILE).is_file():
        raise Failure(f"There is no data file at {folder / STORE_FILE}. Pass --data-dir (or "
                      "set CONNECTIONS_DATA_DIR) to the folder that holds connections.json.")
    if crypto.env_key(env) is None and not (folder / KEY_FILE).exists():
        raise Failure(f"No key: {crypto.KEY_VARIABLE} is not set and there is no "
                      f"{folder / KEY_FILE}. Set {crypto.KEY_VARIABLE} to the key the "
                      "dashboard uses, or pass --data-dir for its data folder.")
    return ConnectionService.from_env("default", env)


def _print(report: MigrationReport, source: ConnectionService) -> None:
    echo(f"From {report.source}")
    echo(f"To   {report.target}")
    echo(f"Workspaces: {', '.join(report.workspaces) or 'none'}")
    for kind in KINDS:
        echo(f"  {kind.replace('_', ' '):18} {report.copied[kind]:7} copied "
             f"{report.already_there[kind]:7} already there")
    echo("Verified: counts match." + ("" if report.copied_anything
                                      else " Nothing needed copying."))
    if source.key_file is not None:
        echo(f"The key is in {source.key_file}: set {crypto.KEY_VARIABLE} to it for every "
             f"replica that uses the database ({DATABASE_URL_VARIABLE} needs it).")


def _document(report: MigrationReport) -> dict[str, Any]:
    return {"ok": True, "verified": True, "source": report.source, "target": report.target,
            "workspaces": report.workspaces, "copied": report.copied,
            "already_there": report.already_there}
