"""The command line, ``python -m connections_core`` (``connections`` once installed):
operations over ``connections_core``.

Each command is a thin layer over the core, in a module of its own:
``connections`` (list, test, purge), ``keys`` (rotate-key), ``backup``
(export, import), ``doctor``, ``store`` (migrate-store), ``watch`` and
``credentials`` (exec, env).  :func:`main` is
the one place where errors become a line on stderr and an exit code: 0
success, 1 a check found a problem, 2 a usage or configuration error.  It
runs as trusted code, recorded as ``cli`` in the audit trail.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from ..errors import ConnectionsError
from .backup import export_command, import_command
from .common import OK, USAGE, Failure, printable
from .connections import list_command, purge_command, test_command
from .credentials import env_command, exec_command
from .doctor import doctor_command
from .keys import rotate_key_command
from .store import migrate_store_command
from .watch import watch_command

__all__ = ["cli", "main"]

INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Operate a connections installation: check connections from cron, run the
    scheduled checks, rotate the key, back up and restore, purge, check the
    installation's health, and move the data file into PostgreSQL. Run as
    `python -m connections_core COMMAND`, or as `connections COMMAND` after
    `pip install .`.

    Every command reads the key as the dashboard's core does (ENCRYPTION_KEY,
    ENCRYPTION_KEY_PREVIOUS, else <data dir>/encryption.key) and takes --data-dir.
    Exit codes: 0 success, 1 a check found a problem, 2 usage or configuration error.

    \b
    Example:
      python -m connections_core doctor
      python -m connections_core test --all-workspaces --json
    """


for command in (list_command, test_command, rotate_key_command, export_command, import_command,
                purge_command, doctor_command, migrate_store_command, watch_command,
                exec_command, env_command):
    cli.add_command(command)


class _OneLine(logging.Formatter):
    """Log records as one line each: no traceback reaches the screen."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}".splitlines()[0]


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    root = logging.getLogger("connections_core")
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line and exit with its code (log records as one line each)."""
    _configure_logging()
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command; every error is one line on stderr and an exit code."""
    program = _program_name()
    try:
        code = cli.main(args=list(argv) if argv is not None else None,
                        prog_name=program, standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as error:  # no command: the help, as usage
        click.echo(error.format_message())
        return USAGE
    except click.UsageError as error:
        where = f"`{error.ctx.command_path if error.ctx else program} --help`"
        return _fail(f"{error.format_message()} (see {where})", USAGE)
    except click.Abort:
        return _fail("Stopped; nothing more was done.", INTERRUPTED)
    except click.ClickException as error:
        return _fail(error.format_message(), error.exit_code)
    except Failure as error:
        return _fail(str(error), error.code)
    except ConnectionsError as error:
        return _fail(str(error), USAGE)
    except KeyboardInterrupt:
        return _fail("Stopped; nothing more was done.", INTERRUPTED)
    except Exception as error:  # the last line of defence: never a traceback
        return _fail(f"The command failed unexpectedly ({error.__class__.__name__}); "
                     "nothing more was done. Please report it with the command you ran.",
                     USAGE)
    return code if isinstance(code, int) else OK


def _program_name() -> str:
    """The command as it was typed: ``connections`` (installed by ``pip install .``)
    or ``python -m connections_core``, which works without installing."""
    return "python -m connections_core" if Path(sys.argv[0]).name == "__main__.py" \
        else "connections"


def _fail(message: str, code: int) -> int:
    click.echo(f"error: {' '.join(printable(message).split())}", err=True)
    return code

