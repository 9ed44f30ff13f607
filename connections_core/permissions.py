"""Warnings about files that others on this machine could read.

The key file decrypts every stored API key, and the data folder holds the
ciphertexts and the audit trail: both should be readable by their owner only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["permission_warnings"]


def permission_warnings(data_file: Path | None, key_file: Path | None = None) -> list[str]:
    """One sentence per file or folder that group or others may read, saying how to fix it.

    Missing files and platforms without POSIX modes give no warning.
    """
    if os.name != "posix":
        return []
    warnings = []
    if key_file is not None:
        mode = _mode(key_file)
        if mode is not None and mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(
                f"The key file {key_file} can be read by other users (mode {mode:03o}); anyone "
                f"who can read it can decrypt every stored API key. Run `chmod 600 {key_file}`.")
    folder = data_file.parent if data_file is not None else None
    mode = None if folder is None else _mode(folder)
    if mode is not None and mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IXOTH):
        warnings.append(
            f"The data folder {folder} can be opened by every user on this machine (mode "
            f"{mode:03o}). Run `chmod 700 {folder}`.")
    return warnings


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
