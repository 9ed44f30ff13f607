"""``exec`` and ``env``: a provider's credentials as the environment variables its SDKs
and tools read (``OPENAI_API_KEY``, ``ANTHROPIC_BASE_URL``, ``OLLAMA_HOST``, ...;
each provider's are in the registry, :attr:`Provider.env`).

They come from the workspace's default connection of each type: read from the
local store (trusted, as every command is), or, with ``CONNECTIONS_URL`` and
``CONNECTIONS_TOKEN`` set, from the dashboard's API with that application token.
A secret goes only into the child's environment (``exec``) or stdout (``env``):
never into an argument, so never into the process list, nor a log or the audit
trail.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import remote
from ..providers import PROVIDERS
from .common import Failure, data_dir_option, echo, open_service

__all__ = ["env_command", "exec_command", "provider_environment"]

F = TypeVar("F", bound=Callable[..., Any])

#: What ``exec`` exits with when the command can't be started (as a shell does).
NOT_FOUND, NOT_RUNNABLE = 127, 126
_TYPES_HELP = f"A provider type ({', '.join(PROVIDERS)}); repeat it for several."


def _types_option(command: F) -> F:
    return click.option("--type", "-t", "types", metavar="T", multiple=True, required=True,
                        help=_TYPES_HELP)(command)


def provider_environment(types: Sequence[str], data_dir: Path | None,
                         workspace: str | None) -> dict[str, str]:
    """The variables of each type's default connection, from the API when
    ``CONNECTIONS_URL`` and ``CONNECTIONS_TOKEN`` are set, else from the local store.

    :raises Failure: an unknown type, or two types that set one variable differently.
    """
    unknown = [t for t in types if t not in PROVIDERS]
    if unknown:
        raise Failure(f"Unknown provider type '{unknown[0]}'; choose one of: "
                      f"{', '.join(PROVIDERS)}.")
    remote_set = all(os.environ.get(name, "").strip()
                     for name in (remote.URL_VARIABLE, remote.TOKEN_VARIABLE))
    if remote_set and (data_dir is not None or workspace is not None):
        raise click.UsageError(
            f"With {remote.URL_VARIABLE} and {remote.TOKEN_VARIABLE} set, credentials come "
            "from the dashboard's API, for the token's workspace: drop --data-dir and "
            "--workspace, or unset them.")
    service = None if remote_set else open_service(data_dir, workspace or "default")
    variables: dict[str, str] = {}
    set_by: dict[str, str] = {}
    for type in dict.fromkeys(types):
        config = (remote.resolve_config(type) if service is None
                  else service.resolve_config(type))
        for name, value in PROVIDERS[type].environment(config).items():
            if name in variables and variables[name] != value:
                raise Failure(f"{set_by[name]} and {type} both set {name}, to different "
                              "values: run the command once for each.")
            variables[name], set_by[name] = value, type
    return variables


@click.command("exec", context_settings={"ignore_unknown_options": True})
@data_dir_option
@click.option("--workspace", "-w", metavar="W", default=None,
              help="This workspace (default: 'default'; not with CONNECTIONS_URL).")
@_types_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_command(data_dir: Path | None, workspace: str | None, types: tuple[str, ...],
                 command: tuple[str, ...]) -> int:
    """Run COMMAND with the providers' variables set in its environment only, and exit
    with its exit code. Put -- before COMMAND.

    \b
    Example:
      python -m connections_core exec --type openai -- python app.py
      CONNECTIONS_URL=https://connections.example.com CONNECTIONS_TOKEN=cnx_... \\
        python -m connections_core exec -t openai -t anthropic -- ./worker
    """
    environment = {**os.environ, **provider_environment(types, data_dir, workspace)}
    try:
        # The secrets are in the child's environment only: its arguments are COMMAND's.
        return subprocess.call(list(command), env=environment)
    except FileNotFoundError:
        echo(f"Can't run '{command[0]}': no such command.", err=True)
        return NOT_FOUND
    except PermissionError:
        echo(f"Can't run '{command[0]}': it is not executable.", err=True)
        return NOT_RUNNABLE
    except KeyboardInterrupt:  # the child had it too, and has ended
        return 130


@click.command("env")
@data_dir_option
@click.option("--workspace", "-w", metavar="W", default=None,
              help="This workspace (default: 'default'; not with CONNECTIONS_URL).")
@_types_option
@click.option("--format", "format_", type=click.Choice(["dotenv", "json", "shell"]),
              default="dotenv", show_default=True,
              help="dotenv: NAME=\"value\" lines; shell: export lines to eval; json: one object.")
def env_command(data_dir: Path | None, workspace: str | None, types: tuple[str, ...],
                format_: str) -> int:
    """Print the providers' variables, to redirect into a file or eval (they hold keys:
    mind where they go).

    \b
    Example:
      python -m connections_core env --type openai > .env && chmod 600 .env
      eval "$(python -m connections_core env -t ollama --format shell)"
    """
    variables = provider_environment(types, data_dir, workspace)
    if format_ == "json":
        click.echo(json.dumps(variables, indent=2, sort_keys=True))
    elif format_ == "shell":
        for name, value in variables.items():
            click.echo(f"export {name}={shlex.quote(value)}")
    else:
        for name, value in variables.items():
            click.echo(f"{name}={_dotenv(value)}")
    return 0


def _dotenv(value: str) -> str:
    """A value as a .env file holds it: double-quoted, with \\, " and $ escaped (read as
    written by python-dotenv and by a POSIX shell alike)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'
