"""Who else on this machine could read, write or have made the store's files.

The key file decrypts every stored API key, and the data folder holds the
ciphertexts and the audit trail.  Two kinds of finding:

* a file or folder that another user owns, or that others may write, is not
  to be used at all (:func:`distrust`): whoever planted a key file knows the
  key every API key added afterwards is encrypted with, and whoever can write
  the data can plant connections in it;
* one that others may *read* only gets a warning (:func:`permission_warnings`):
  reading is not taking over.

POSIX only: elsewhere there are no owners and modes to check, and nothing is said.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Distrust", "distrust", "owner_name", "permission_warnings"]

#: What whoever could write each thing could do with it.
_AT_STAKE = {
    "key file": "whoever put it there would know the key that encrypts every API key "
                "saved from now on",
    "data folder": "whoever can write it can plant a key file or a data file in it",
    "data file": "whoever can write it can change the stored connections",
    "audit trail": "whoever can write it can rewrite the record of what was done",
    "lock file": "whoever owns it can hold the lock and stop every change",
}


@dataclass(frozen=True)
class Distrust:
    """Why a file or folder is not used: ``problem`` says what was found, ``fix``
    the command that mends it."""

    path: Path
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.problem} {self.fix}"


def distrust(path: Path, what: str, found: os.stat_result | None = None) -> Distrust | None:
    """Why ``path`` (``what``: ``"key file"``, ``"data folder"``, ``"data file"``, ...)
    must not be used, or None when it may (or does not exist).

    It must not be used when it is a symbolic link, belongs to a user other than
    the one this process runs as (root's own files, when it runs as root), or
    may be written by its group or by others.

    :param found: the ``stat`` of the file already opened (``fstat``), so that
        what is checked is exactly what is read; by default ``lstat(path)``.
    """
    if os.name != "posix":
        return None
    if found is None:
        try:
            found = os.lstat(path)
        except OSError:
            return None  # missing, or unreadable: opening it says why
    mode = stat.S_IMODE(found.st_mode)
    folder = stat.S_ISDIR(found.st_mode)
    at_stake = _AT_STAKE.get(what, "whoever can write it can change what this app uses")
    me = os.geteuid()
    if stat.S_ISLNK(found.st_mode):
        return Distrust(path, f"The {what} {path} is a symbolic link, so what it points to "
                              f"could be changed by whoever made the link; it was not used.",
                        f"Replace the link with the real {what} (`cp --remove-destination "
                        f"\"$(readlink -f {path})\" {path}`), or remove it (`rm {path}`).")
    if found.st_uid != me:
        return Distrust(
            path, f"The {what} {path} belongs to {owner_name(found.st_uid)}, not to "
                  f"{owner_name(me)}, the user this app runs as (mode {mode:03o}): someone "
                  f"else may have put it there, and {at_stake}. It was not used.",
            f"If it is yours, run `chown {_login(me)} {path}`; if you don't know who made "
            f"it, move it aside (`mv {path} {path}.untrusted`) and start again.")
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return Distrust(
            path, f"The {what} {path} can be written by other users (mode {mode:03o}, owner "
                  f"{owner_name(found.st_uid)}), and {at_stake}. It was not used.",
            f"Run `chmod {'700' if folder else '600'} {path}`"
            + (", and check that nothing in it was put there by someone else." if folder
               else "."))
    return None


def owner_name(uid: int) -> str:
    """A user as a person reads it: ``nobody (uid 65534)``, or ``uid 1234`` without a name."""
    name = _name(uid)
    return f"uid {uid}" if name is None else f"{name} (uid {uid})"


def _login(uid: int) -> str:
    return _name(uid) or str(uid)


def _name(uid: int) -> str | None:
    import pwd  # POSIX only: imported where it is used

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


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
