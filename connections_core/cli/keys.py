"""``rotate-key``: re-encrypt with the current key, and check what is left."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import click

from ..errors import DecryptionError
from ..models import ResidualSecret
from .common import (
    FOUND_A_PROBLEM,
    OK,
    Bar,
    data_dir_option,
    echo,
    json_option,
    open_service,
    print_json,
)

REASONS = {
    "previous_key": "only ENCRYPTION_KEY_PREVIOUS decrypts it",
    "no_key": "no key decrypts it (damaged, moved, or not a token): enter the key again",
    "unbound": "an old token not bound to its connection",
}


@click.command("rotate-key")
@data_dir_option
@click.option("--check", is_flag=True,
              help="Only count the secrets the current key alone can't decrypt.")
@json_option
def rotate_key_command(data_dir: Path | None, check: bool, as_json: bool) -> int:
    """Re-encrypt every stored secret (every workspace, deleted connections too) with
    ENCRYPTION_KEY, then check that none is left that needs another key.

    With --check, only list the secrets that only ENCRYPTION_KEY_PREVIOUS, or no
    key, can decrypt (by workspace, name and id); exits 1 if there are any.

    \b
    Example:
      ENCRYPTION_KEY=<new> ENCRYPTION_KEY_PREVIOUS=<old> connections rotate-key
      ENCRYPTION_KEY=<new> connections rotate-key --check
    """
    service = open_service(data_dir)
    rotated: int | None = None
    if not check:
        try:
            with Bar("Re-encrypting", quiet=as_json):
                rotated = service.rotate_keys()
        except DecryptionError as error:
            echo(f"error: {error}", err=True)
    residual = service.residual_secrets()
    if as_json:
        print_json(_document(rotated, residual, check))
    else:
        _report(rotated, residual)
    failed = bool(residual) or (not check and rotated is None)
    return FOUND_A_PROBLEM if failed else OK


def _report(rotated: int | None, residual: list[ResidualSecret]) -> None:
    if rotated is not None:
        echo(f"Re-encrypted {rotated} secrets with the current key.")
    if not residual:
        echo("Residual: 0 secrets need a previous key or can't be decrypted.")
        return
    counts = Counter(r.reason for r in residual)
    echo(f"Residual: {len(residual)} secrets the current key alone can't decrypt "
         f"({counts['previous_key']} under a previous key, {counts['no_key']} under no key, "
         f"{counts['unbound']} unbound):")
    for secret in residual:
        echo(f"  {secret.workspace_id}/{secret.name} ({secret.id}, {secret.field}): "
             f"{REASONS[secret.reason]}")


def _document(rotated: int | None, residual: list[ResidualSecret],
              check: bool) -> dict[str, Any]:
    counts = Counter(r.reason for r in residual)
    return {"ok": not residual and (check or rotated is not None), "rotated": rotated,
            "residual": len(residual), "previous_key": counts["previous_key"],
            "no_key": counts["no_key"], "unbound": counts["unbound"],
            "secrets": [{"workspace": r.workspace_id, "name": r.name, "id": r.id,
                         "field": r.field, "reason": r.reason} for r in residual]}
