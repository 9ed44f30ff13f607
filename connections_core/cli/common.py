"""What every command shares: the options, opening the service, and output.

Output goes through three doors only: :func:`echo` (a line), :func:`print_json`
(the one document of ``--json``) and :func:`table` (which never cuts a cell: a
command that must fit the terminal asks :func:`table_fits` first); errors are
raised as :class:`Failure` and printed on one line by
:func:`connections_core.cli.main`.
Text from the data (names, messages) is never read as markup.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from .. import crypto
from ..demo import DEMO_NOTICE, open_demo
from ..environment import DATA_DIR_VARIABLE, DATABASE_URL_VARIABLE, DEFAULT_DATA_DIR, KEY_FILE
from ..scope import CLI_ACTOR
from ..service import ConnectionService
from ..text import json_text

OK, FOUND_A_PROBLEM, USAGE = 0, 1, 2
#: Where ``--demo`` is noted for :func:`open_service` (the click context's meta).
ON_DEMO = "connections.demo"
#: A table wider than this is never cut when the output is not a terminal.
PIPE_WIDTH = 200
#: Lines a console has: tables don't use it, but rich takes a width as given only
#: with a height (on a terminal with TERM=dumb, it otherwise prints 80 wide).
_HEIGHT = 25

F = TypeVar("F", bound=Callable[..., Any])


class Failure(Exception):
    """A command can't go on: ``message`` (one line, saying what to do) and the exit code."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        self.code = code
        super().__init__(message)


# -- options ------------------------------------------------------------------------------

def data_dir_option(command: F) -> F:
    return click.option(
        "--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
        help=f"The data folder (overrides {DATA_DIR_VARIABLE}; default ./{DEFAULT_DATA_DIR}).",
    )(command)


def json_option(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document on stdout (see the README).")(command)


def demo_option(command: F) -> F:
    """``--demo``: the command runs on the demo (connections_core.demo), and
    :func:`open_service` opens that instead of the data folder."""
    @functools.wraps(command)
    def on_demo_or_not(*args: Any, demo: bool, **kwargs: Any) -> Any:
        click.get_current_context().meta[ON_DEMO] = demo
        return command(*args, **kwargs)

    return click.option(  # type: ignore[return-value]
        "--demo", is_flag=True,
        help="Run on the demo: stand-in providers inside this command, no key and no data "
             "folder needed (the data folder is neither read nor made).")(on_demo_or_not)


def workspace_options(command: F) -> F:
    command = click.option("--all-workspaces", is_flag=True,
                           help="Every workspace.")(command)
    return click.option("--workspace", "-w", metavar="W", default=None,
                        help="This workspace (default: 'default').")(command)


# -- the service ----------------------------------------------------------------------------

def environment(data_dir: Path | None) -> tuple[dict[str, str], Path]:
    """The environment with ``--data-dir`` applied, and the data folder it names."""
    env = dict(os.environ)
    if data_dir is not None:
        env[DATA_DIR_VARIABLE] = str(data_dir)
    return env, Path(env.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR)


def open_service(data_dir: Path | None, workspace: str = "default", *,
                 new_installation: bool = False) -> ConnectionService:
    """The service of ``workspace``, its key read as :meth:`ConnectionService.from_env` does.

    Only with ``new_installation`` (an import) may this make the data folder or
    generate a key file: anywhere else a missing folder or key is a mistyped
    ``--data-dir`` or a missing variable, and is refused.  With
    ``CONNECTIONS_DATABASE_URL`` set, the store is that database and the data
    folder is not used.

    With ``--demo`` (:func:`demo_option`), the service is the demo's, and the data
    folder and the environment's store are not used at all.

    :raises Failure: no data folder, or no key to read it with.
    :raises ConnectionsError: the key is malformed or does not fit, the store can't be read.
    """
    context = click.get_current_context(silent=True)
    if context is not None and context.meta.get(ON_DEMO):
        return _demo_service(data_dir)
    env, folder = environment(data_dir)
    on_database = bool(env.get(DATABASE_URL_VARIABLE, "").strip())
    if not new_installation and not on_database:
        if not folder.is_dir():
            raise Failure(f"There is no data folder at {folder}. Pass --data-dir (or set "
                          f"{DATA_DIR_VARIABLE}) to the folder that holds connections.json.")
        if crypto.env_key(env) is None and not (folder / KEY_FILE).exists():
            raise Failure(f"No key: {crypto.KEY_VARIABLE} is not set and there is no "
                          f"{folder / KEY_FILE}. Set {crypto.KEY_VARIABLE} to the key the "
                          "dashboard uses, or pass --data-dir for its data folder.")
    service = ConnectionService.from_env(workspace, env)
    service.trusted_actor = CLI_ACTOR
    return service


def _demo_service(data_dir: Path | None) -> ConnectionService:
    if data_dir is not None:
        raise click.UsageError("Pass either --demo or --data-dir, not both: the demo never "
                               "uses a data folder.")
    echo(DEMO_NOTICE, err=True)
    service = open_demo()
    service.trusted_actor = CLI_ACTOR
    return service


def chosen_workspaces(service: ConnectionService, workspace: str | None,
                      all_workspaces: bool) -> list[ConnectionService]:
    """The services that ``--workspace`` / ``--all-workspaces`` name.

    :raises Failure: ``--workspace`` names a workspace that doesn't exist.
    """
    if workspace is not None and all_workspaces:
        raise click.UsageError("Pass either --workspace or --all-workspaces, not both.")
    if not all_workspaces:
        return [service.in_workspace(existing_workspace(service, workspace))
                if workspace else service]
    return [service.in_workspace(w) for w in service.accessible_workspaces()]


def existing_workspace(service: ConnectionService, workspace: str) -> str:
    """``workspace``, if it exists: as the dashboard's list of workspaces has it, one
    with a connection (deleted ones too) or a member, or ``default``, which always does.

    :raises Failure: it doesn't (a mistyped name), naming it and those there are.
    """
    known = service.accessible_workspaces()
    if workspace not in known:
        raise Failure(f"There is no workspace '{workspace}' in this installation (there "
                      f"are: {', '.join(known)}).")
    return workspace


# -- output -------------------------------------------------------------------------------

def is_terminal() -> bool:
    return sys.stdout.isatty()


def printable(text: str) -> str:
    """``text`` with control characters (an escape sequence's ESC among them) as spaces:
    names and messages come from the data file and from servers, and a terminal obeys
    what it is sent."""
    return "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)


def agreed(question: str, *, elsewhere: str, err: bool = False) -> bool:
    """A person's answer to ``question`` on a terminal (no unless they say yes).

    :raises Failure: stdin is not a terminal: ``elsewhere`` says what to pass instead
        (``--yes``).
    """
    if not sys.stdin.isatty():
        raise Failure(elsewhere)
    return click.confirm(question, default=False, err=err)


def echo(line: str = "", *, err: bool = False) -> None:
    click.echo(printable(line), err=err)


def print_json(document: Any) -> None:
    """The one document of ``--json``, with controls a terminal obeys escaped."""
    click.echo(json_text(document))


def output_width() -> int:
    """The columns output has: the terminal's (or ``COLUMNS``, when set); piped,
    :data:`PIPE_WIDTH`."""
    if is_terminal() or os.environ.get("COLUMNS", "").strip().isdigit():
        return shutil.get_terminal_size().columns
    return PIPE_WIDTH


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table on stdout; cells are plain text, never markup, never wrapped or cut (a
    table wider than the terminal runs past its edge)."""
    grid = _grid(columns, rows)
    width = max(output_width(), _width_of(grid))
    Console(width=width, height=_HEIGHT, highlight=False).print(grid)


def table_fits(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> bool:
    """Whether :func:`table` would print these within ``width`` columns."""
    return _width_of(_grid(columns, rows)) <= width


def _grid(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    grid = Table(show_edge=False, header_style="bold", pad_edge=False)
    for column in columns:
        grid.add_column(column, no_wrap=True)
    for row in rows:
        grid.add_row(*(Text(printable(cell)) for cell in row))
    return grid


def _width_of(grid: Table) -> int:
    return Console(width=2**16, height=_HEIGHT).measure(grid).maximum


class Bar:
    """A progress bar on a terminal; elsewhere nothing but the lines given to :meth:`echo`.

    Use it as a context manager; :meth:`update` fits the ``progress(done, total)``
    callbacks of the core.
    """

    def __init__(self, description: str, total: int | None = None, *,
                 quiet: bool = False) -> None:
        self._progress: Progress | None = None
        if is_terminal() and not quiet:
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                      BarColumn(), MofNCompleteColumn(), transient=True,
                                      console=Console(highlight=False))
            self._task = self._progress.add_task(description, total=total)

    def __enter__(self) -> Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=total)

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def echo(self, line: str) -> None:
        """A line of output, printed above the bar."""
        if self._progress is not None:
            self._progress.console.print(Text(printable(line)), soft_wrap=True)
        else:
            echo(line)
