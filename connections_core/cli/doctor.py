"""``doctor``: one line per check of the installation, with the fix."""

from __future__ import annotations

from pathlib import Path

import click

from ..doctor import run_checks
from .common import FOUND_A_PROBLEM, OK, data_dir_option, echo, environment, json_option, print_json

MARKS = {"passed": "ok  ", "warning": "warn", "failed": "FAIL"}


@click.command("doctor")
@data_dir_option
@json_option
def doctor_command(data_dir: Path | None, as_json: bool) -> int:
    """Check the installation: the key (where from, well-formed, fits the data),
    secrets left under a previous key, file and folder modes, the store, the lock,
    one default per provider in each workspace, and sign-in. With
    CONNECTIONS_DATABASE_URL set, the store is that database (reachable, schema up
    to date) and there are no files to check. Exits 1 if a check failed; a warning
    alone does not.

    \b
    Example:
      python -m connections_core doctor --data-dir /srv/connections/data
    """
    env, folder = environment(data_dir)
    checks = run_checks(folder, env)
    failed = any(check.failed for check in checks)
    if as_json:
        print_json({"ok": not failed, "data_dir": str(folder),
                    "checks": [{"name": c.name, "status": c.status, "message": c.message,
                                "fix": c.fix} for c in checks]})
    else:
        for check in checks:
            echo(f"{MARKS[check.status]}  {check.message}")
            if check.fix:
                echo(f"      fix: {check.fix}")
    return FOUND_A_PROBLEM if failed else OK
