"""Is this installation healthy?  The checks behind ``connections doctor``.

Each check is a plain function that looks and never changes anything (taking
the lock may create the empty lock file, as any write would), and returns a
:class:`Check`: passed, failed, or a warning, with the fix for anything not
passed::

    for check in run_checks(Path("data"), os.environ):
        print(check.status, check.message, check.fix or "")

The key is read as :meth:`ConnectionService.from_env` reads it
(``ENCRYPTION_KEY``, ``ENCRYPTION_KEY_PREVIOUS``, else ``<data dir>/encryption.key``),
but a missing key is reported, never generated.  With ``CONNECTIONS_DATABASE_URL``
set the store is that PostgreSQL database: the key must come from the
environment, and the checks of the data folder's files are not made.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from filelock import FileLock, Timeout

from . import crypto, text
from .environment import DATABASE_URL_VARIABLE, KEY_FILE, STORE_FILE, open_database
from .errors import ConnectionsError, EncryptionKeyError, StoreError
from .permissions import distrust, owner_name
from .providers import PROVIDERS
from .service import ConnectionService
from .storage import Store
from .store import TinyDBStore

__all__ = ["Check", "run_checks"]

Status = Literal["passed", "failed", "warning"]
LOCK_WAIT = 5.0  # seconds the lock may take to get
#: The ``[auth]`` settings the dashboard needs for sign-in (as ``ui/auth.py`` checks them).
SIGN_IN_SETTINGS = ("redirect_uri", "cookie_secret", "client_id", "client_secret",
                    "server_metadata_url")
ROTATE = "Run `python -m connections_core rotate-key` with the old key as ENCRYPTION_KEY_PREVIOUS."


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``name`` is stable (for scripts), ``message`` says what was
    found, ``fix`` what to do about it (None when it passed)."""

    name: str
    status: Status
    message: str
    fix: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def _passed(name: str, message: str) -> Check:
    return Check(name, "passed", message)


@dataclass
class _Installation:
    """What the checks found so far, for the checks that need it."""

    data_dir: Path
    environ: Mapping[str, str]
    keyring: crypto.KeyRing | None = None
    key_file: Path | None = None
    store: Store | None = None
    service: ConnectionService | None = None
    checks: list[Check] = field(default_factory=list)
    #: The files and folders not used because someone else owns them or may write them.
    refused: set[Path] = field(default_factory=set)

    @property
    def data_file(self) -> Path:
        return self.data_dir / STORE_FILE


def run_checks(data_dir: Path, environ: Mapping[str, str], *,
               secrets_files: Sequence[Path] | None = None,
               lock_wait: float = LOCK_WAIT) -> list[Check]:
    """Every check, in the order a person would fix them.

    :param data_dir: the data folder (``CONNECTIONS_DATA_DIR``).
    :param environ: where the key variables are read.
    :param secrets_files: where the dashboard's ``secrets.toml`` may be (by default
        Streamlit's two places: ``~/.streamlit/`` and ``./.streamlit/``).
    """
    here = _Installation(data_dir, environ)
    database_url = environ.get(DATABASE_URL_VARIABLE, "").strip()
    if database_url:
        here.checks += [_key_source(here, shared=True), _database_opens(here, database_url),
                        _key_fits(here), _residual_secrets(here), _defaults(here),
                        _sign_in(secrets_files or _streamlit_secrets())]
        if here.store is not None:
            here.store.close()
        return here.checks
    if not data_dir.is_dir():
        return [Check("data_folder", "failed", f"There is no data folder at {data_dir}.",
                      "Pass --data-dir (or set CONNECTIONS_DATA_DIR) to the folder that "
                      "holds connections.json.")]
    here.checks += [*_owners(here), _key_source(here), _store_parses(here), _key_fits(here),
                    _residual_secrets(here), *_modes(here), _lock(here, lock_wait),
                    _defaults(here), _sign_in(secrets_files or _streamlit_secrets())]
    return here.checks


def _key_source(here: _Installation, *, shared: bool = False) -> Check:
    """Where the key comes from, and whether it is well-formed (from the environment
    only, when the store is ``shared`` by replicas)."""
    name = "key"
    key_file = here.data_dir / KEY_FILE
    if not shared and crypto.env_key(here.environ) is None and key_file in here.refused:
        return Check(name, "failed", f"No key: {crypto.KEY_VARIABLE} is not set and the key "
                                     f"file {key_file} is not used (see key_file_owner).",
                     "Fix the key file's owner and mode first.")
    try:
        key = crypto.env_key(here.environ)
        if key is not None:
            here.keyring = crypto.KeyRing(key, crypto.previous_keys(here.environ))
            return _passed(name, f"The key comes from {crypto.KEY_VARIABLE} and is well-formed"
                                 f"{_rotation(here.keyring)}.")
        if shared:
            return Check(name, "failed", f"No key: {crypto.KEY_VARIABLE} is not set, and on "
                                         "PostgreSQL every replica needs it.",
                         f"Set {crypto.KEY_VARIABLE} to the key the data was written with, "
                         "the same in every replica.")
        if not key_file.exists():
            return Check(name, "failed", f"No key: {crypto.KEY_VARIABLE} is not set and there "
                                         f"is no {key_file}.",
                         f"Set {crypto.KEY_VARIABLE} to the key this data was written with. "
                         f"{crypto.MAKE_A_KEY}")
        here.keyring = crypto.KeyRing(crypto.read_key_file(key_file),
                                      crypto.previous_keys(here.environ))
    except EncryptionKeyError as error:
        return Check(name, "failed", str(error), f"Fix {crypto.KEY_VARIABLE} (or the key file).")
    here.key_file = key_file
    return Check(name, "warning", f"The key comes from the local key file {key_file} and is "
                                  f"well-formed{_rotation(here.keyring)}.",
                 f"For a shared deployment, set {crypto.KEY_VARIABLE} to that key and keep "
                 "the file out of the data folder.")


def _rotation(keyring: crypto.KeyRing) -> str:
    return f" ({crypto.PREVIOUS_KEY_VARIABLE} is set too)" if keyring.has_previous else ""


def _store_parses(here: _Installation) -> Check:
    name = "store"
    if here.refused & {here.data_dir, here.data_file}:
        return Check(name, "failed", f"The data file {here.data_file} was not read: the data "
                                     "folder or the file itself can't be trusted (see above).",
                     "Fix their owner and mode first.")
    if not here.data_file.exists():
        return Check(name, "warning", f"There is no data file {here.data_file} yet: nothing "
                                      "is stored.",
                     "If connections were added, --data-dir names the wrong folder.")
    try:
        store = TinyDBStore(here.data_file)
        for table in ("connections", "members", "meta"):
            store.snapshot(table)
    except StoreError as error:
        return Check(name, "failed", str(error), "Restore the data file from a backup.")
    here.store = store
    return _passed(name, f"The data file {here.data_file} reads as a connections store.")


def _database_opens(here: _Installation, url: str) -> Check:
    name = "store"
    try:
        store = open_database(url)
    except StoreError as error:
        return Check(name, "failed", str(error),
                     f"Check that the server runs and that {DATABASE_URL_VARIABLE} names it, "
                     "with the right user and password.")
    here.store = store
    return _passed(name, f"{store.location[0].upper()}{store.location[1:]} is reachable and "
                         "its schema is up to date.")


def _key_fits(here: _Installation) -> Check:
    name = "key_fits"
    if here.store is None or here.keyring is None:
        return Check(name, "warning", "Not checked: the key or the data file is missing.",
                     "Fix the checks above first.")
    try:
        here.service = ConnectionService(here.store, here.keyring)
    except EncryptionKeyError as error:
        return Check(name, "failed", str(error),
                     f"Set {crypto.KEY_VARIABLE} to the key this data was written with.")
    return _passed(name, "The key fits the data (the key check decrypts).")


def _residual_secrets(here: _Installation) -> Check:
    name = "residual_secrets"
    if here.service is None:
        return Check(name, "warning", "Not checked: the key does not fit the data.",
                     "Fix the checks above first.")
    residual = here.service.residual_secrets()
    if not residual:
        return _passed(name, "Every stored secret decrypts with the current key alone.")
    by_reason = Counter(r.reason for r in residual)
    counted = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(
        by_reason.items()))
    fix = f"{ROTATE} `python -m connections_core rotate-key --check` lists them."
    if by_reason["unbound"]:
        fix += (" Unbound ones are old keys never used until re-sealed: `python -m "
                "connections_core rotate-key` shows the base URL each would be bound to and asks.")
    secrets = text.counted(len(residual), "stored secret")
    return Check(name, "failed", f"{secrets} {'needs' if len(residual) == 1 else 'need'} "
                                 f"more than the current key ({counted}).", fix)


def _owners(here: _Installation) -> Iterator[Check]:
    """The data folder, data file and key file: this user's, and writable by nobody else
    (else the app refuses them, as someone else may have planted them)."""
    for name, what, path in (("data_folder_owner", "data folder", here.data_dir),
                             ("data_file_owner", "data file", here.data_file),
                             ("key_file_owner", "key file", here.data_dir / KEY_FILE)):
        if not (path.exists() or path.is_symlink()):
            continue
        refused = distrust(path, what)
        if refused is not None:
            here.refused.add(path)
            yield Check(name, "failed", refused.problem, refused.fix)
        else:
            yield _passed(name, f"The {what} {path} belongs to {owner_name(os.geteuid())} "
                                "and no one else may write it."
                          if os.name == "posix" else f"The {what} {path} is in place.")


def _modes(here: _Installation) -> Iterator[Check]:
    """The data, key and lock files readable by their owner only; the folder closed to others."""
    lock_file = here.data_file.with_name(STORE_FILE + ".lock")
    for name, path in (("data_file_mode", here.data_file), ("key_file_mode", here.key_file),
                       ("lock_file_mode", lock_file)):
        mode = _mode(path)
        if path is None or mode is None:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            yield Check(name, "failed", f"{path} is mode {mode:03o}: others on this machine can "
                                        "read it.", f"Run `chmod 600 {path}`.")
        else:
            yield _passed(name, f"{path} is mode {mode:03o}.")
    mode = _mode(here.data_dir)
    if mode is not None and mode & stat.S_IRWXO:
        yield Check("data_folder_mode", "failed", f"The data folder {here.data_dir} is mode "
                                                  f"{mode:03o}: every user can open it.",
                    f"Run `chmod 700 {here.data_dir}`.")
    elif mode is not None:
        yield _passed("data_folder_mode", f"The data folder {here.data_dir} is mode {mode:03o}.")


def _mode(path: Path | None) -> int | None:
    if path is None or os.name != "posix":
        return None
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def _lock(here: _Installation, wait: float) -> Check:
    name = "lock"
    if here.store is None:
        return Check(name, "warning", "Not checked: there is no readable data file.",
                     "Fix the checks above first.")
    lock = FileLock(str(here.data_file.with_name(STORE_FILE + ".lock")), mode=0o600)
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        return Check(name, "failed", f"The data file's lock was held for {wait:g} s by "
                                     "another process.",
                     "Find the process holding it (a stuck dashboard or script) and stop it.")
    except OSError as error:
        return Check(name, "failed", f"The lock file can't be opened: "
                                     f"{error.strerror or error.__class__.__name__}.",
                     f"Make {here.data_dir} writable by this user.")
    lock.release()
    return _passed(name, f"The lock was taken within {wait:g} s.")


def _defaults(here: _Installation) -> Check:
    """Each workspace: exactly one default per provider type it uses."""
    name = "defaults"
    if here.service is None:
        return Check(name, "warning", "Not checked: the key does not fit the data.",
                     "Fix the checks above first.")
    problems = []
    try:
        for workspace in here.service.accessible_workspaces():
            problems += _default_problems(here.service.in_workspace(workspace))
    except ConnectionsError as error:
        return Check(name, "failed", str(error), "Restore the data file from a backup.")
    if not problems:
        return _passed(name, "Every workspace has one default per provider type it uses.")
    return Check(name, "failed", " ".join(problems),
                 "Keep one default: delete the extra one and restore it (a restored connection "
                 "does not take the default), or set one as the default if there is none.")


def _default_problems(service: ConnectionService) -> list[str]:
    problems = []
    connections = service.list()
    for type in sorted({c.type for c in connections}):
        defaults = sorted(c.name for c in connections if c.type == type and c.is_default)
        if len(defaults) != 1:
            label = PROVIDERS[type].display_name if type in PROVIDERS else type
            problems.append(f"Workspace '{service.workspace_id}' has {len(defaults)} default "
                            f"{label} connections{_named(defaults)}.")
    return problems


def _named(names: list[str]) -> str:
    return f" ({', '.join(names)})" if names else ""


def _streamlit_secrets() -> list[Path]:
    return [Path.home() / ".streamlit" / "secrets.toml", Path(".streamlit") / "secrets.toml"]


def _sign_in(secrets_files: Sequence[Path]) -> Check:
    """Whether the dashboard would ask people to sign in (``[auth]`` in secrets.toml)."""
    name = "sign_in"
    auth: object = None
    found: Path | None = None
    for path in secrets_files:
        try:
            with path.open("rb") as file:
                settings = tomllib.load(file)
        except FileNotFoundError:
            continue
        except (OSError, tomllib.TOMLDecodeError) as error:
            return Check(name, "failed", f"{path} can't be read as TOML "
                                         f"({error.__class__.__name__}).",
                         f"Fix {path}; the dashboard won't start with it.")
        if "auth" in settings:
            auth, found = settings["auth"], path
    if found is None:
        return Check(name, "warning", "Sign-in is off: anyone who can open the dashboard can "
                                      "do everything.",
                     "Before sharing the dashboard, add an [auth] section to "
                     ".streamlit/secrets.toml (README: Team sign-in).")
    missing = [s for s in SIGN_IN_SETTINGS if not (isinstance(auth, dict)
                                                   and isinstance(auth.get(s), str)
                                                   and auth[s].strip())]
    if missing:
        return Check(name, "failed", f"Sign-in is set up in {found} but lacks: "
                                     f"{', '.join(missing)}.",
                     "Add them to its [auth] section (README: Team sign-in).")
    return _passed(name, f"Sign-in is on ({found}).")
