"""``rotate-key``: re-encrypt with the current key, and check what is left."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import click

from ..errors import DecryptionError
from ..models import ResidualSecret
from ..text import counted
from .common import (
    FOUND_A_PROBLEM,
    OK,
    Bar,
    Failure,
    agreed,
    data_dir_option,
    echo,
    json_option,
    open_service,
    print_json,
)

REASONS = {
    "previous_key": "only ENCRYPTION_KEY_PREVIOUS decrypts it",
    "no_key": "no key decrypts it (damaged, moved, or not a token): enter the key again",
    "unbound": "an old token not bound to its connection, so never used: re-seal it "
               "with `rotate-key` (it asks) or enter the key again",
}


@click.command("rotate-key")
@data_dir_option
@click.option("--check", is_flag=True,
              help="Only count the secrets the current key alone can't decrypt.")
@click.option("--yes", is_flag=True,
              help="Re-seal old unbound keys to the base URLs shown, without asking.")
@json_option
def rotate_key_command(data_dir: Path | None, check: bool, yes: bool, as_json: bool) -> int:
    """Re-encrypt every stored secret (every workspace, deleted connections too) with
    ENCRYPTION_KEY, then check that none is left that needs another key.

    Old keys from before tokens were bound to their connection are never used
    until re-sealed: nothing shows they were saved for the base URL beside them.
    rotate-key lists them (workspace, name, base URL) and asks, on a terminal,
    whether to bind each to that base URL; elsewhere it needs --yes.

    With --check, only list the secrets that only ENCRYPTION_KEY_PREVIOUS, or no
    key, can decrypt, and the unbound ones (by workspace, name and id); exits 1 if
    there are any.

    \b
    Example:
      ENCRYPTION_KEY=<new> ENCRYPTION_KEY_PREVIOUS=<old> python -m connections_core \\
          rotate-key
      ENCRYPTION_KEY=<new> python -m connections_core rotate-key --check
    """
    service = open_service(data_dir)
    rotated: int | None = None
    if not check:
        reseal = _agreed_reseal(service.residual_secrets(), yes)
        try:
            with Bar("Re-encrypting", quiet=as_json):
                rotated = service.rotate_keys(reseal=reseal)
        except DecryptionError as error:
            echo(f"error: {error}", err=True)
    residual = service.residual_secrets()
    if as_json:
        print_json(_document(rotated, residual, check))
    else:
        _report(rotated, residual)
    failed = bool(residual) or (not check and rotated is None)
    return FOUND_A_PROBLEM if failed else OK


def _agreed_reseal(residual: list[ResidualSecret], yes: bool) -> list[ResidualSecret]:
    """The unbound secrets the operator agrees to bind to the base URLs shown: all of
    them with ``--yes``, else as answered on a terminal (none elsewhere)."""
    unbound = [r for r in residual if r.reason == "unbound"]
    if not unbound:
        return []
    echo(f"Not bound to a connection and base URL, so not used: "
         f"{counted(len(unbound), 'old key')}. Re-sealing binds each to the base URL shown, "
         "where it will be sent:", err=True)
    for secret in unbound:
        echo(f"  {_where(secret)} -> {secret.base_url or '(no base URL)'}", err=True)
    if yes:
        return unbound
    try:
        question = ("Does this key belong at this address? Re-seal it" if len(unbound) == 1
                    else "Do these keys belong at these addresses? Re-seal them")
        if agreed(question, err=True,
                  elsewhere="Not re-sealing them without confirmation, and this is not a "
                            "terminal: check the base URLs above, then run "
                            "`rotate-key --yes`."):
            return unbound
        echo("Left them unbound and unused: enter their keys again in the dashboard.",
             err=True)
    except Failure as refusal:  # the rest is still re-encrypted
        echo(str(refusal), err=True)
    return []


def _report(rotated: int | None, residual: list[ResidualSecret]) -> None:
    if rotated is not None:
        echo(f"Re-encrypted {counted(rotated, 'secret')} with the current key.")
    if not residual:
        echo("Residual: 0 secrets need a previous key or can't be decrypted.")
        return
    counts = Counter(r.reason for r in residual)
    echo(f"Residual: {counted(len(residual), 'secret')} the current key alone can't decrypt "
         f"({counts['previous_key']} under a previous key, {counts['no_key']} under no key, "
         f"{counts['unbound']} unbound):")
    for secret in residual:
        echo(f"  {_where(secret)}: {REASONS[secret.reason]}")


def _where(secret: ResidualSecret) -> str:
    return f"{secret.workspace_id}/{secret.name} ({secret.id}, {secret.field})"


def _document(rotated: int | None, residual: list[ResidualSecret],
              check: bool) -> dict[str, Any]:
    counts = Counter(r.reason for r in residual)
    return {"ok": not residual and (check or rotated is not None), "rotated": rotated,
            "residual": len(residual), "previous_key": counts["previous_key"],
            "no_key": counts["no_key"], "unbound": counts["unbound"],
            "secrets": [{"workspace": r.workspace_id, "name": r.name, "id": r.id,
                         "field": r.field, "reason": r.reason, "base_url": r.base_url}
                        for r in residual]}
