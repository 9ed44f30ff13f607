"""Keys and tokens: AES-256-GCM in the format ``v1:<iv>:<authTag>:<ciphertext>``.

Every part is lower-case hex: a 12-byte random IV, the 16-byte GCM tag and the
ciphertext.  The same format is what Node's ``crypto`` produces with
``aes-256-gcm``, so tokens move freely between the two given the same key::

    >>> key = generate_key()
    >>> decrypt(encrypt("sk-secret", key), key)
    'sk-secret'

A ``v1`` token can be copied anywhere and still decrypts.  A *bound* token,
``v2:<iv>:<authTag>:<ciphertext>``, carries a context as GCM associated data
(for a stored API key: its workspace, record id, field and base URL), so it
decrypts only with that same context::

    >>> token = encrypt_bound("sk-secret", key, {"id": "a", "field": "apiKey"})
    >>> decrypt_bound(token, key, {"id": "a", "field": "apiKey"})
    'sk-secret'

and with any other context (``"id": "b"``) raises :class:`DecryptionError`.

The associated data is the context as canonical JSON: keys sorted, no spaces,
non-ASCII as ``\\uXXXX`` escapes (see :func:`associated_data`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DecryptionError, EncryptionKeyError
from .permissions import distrust

__all__ = [
    "Context",
    "KeyRing",
    "associated_data",
    "decrypt",
    "decrypt_bound",
    "encrypt",
    "encrypt_bound",
    "generate_key",
    "is_bound",
    "is_encrypted",
]

log = logging.getLogger(__name__)

KEY_VARIABLE = "ENCRYPTION_KEY"
KEY_ALIAS_VARIABLE = "ENCRYPTION_SECRET"
PREVIOUS_KEY_VARIABLE = "ENCRYPTION_KEY_PREVIOUS"

MAKE_A_KEY = (
    "Make one with `openssl rand -hex 32` "
    "or `python -c \"import secrets; print(secrets.token_hex(32))\"`."
)

_IV_BYTES = 12
_TAG_BYTES = 16
_KEY_FILE_MAX = 4096  # bytes read from a key file (a key is 65)
# Whole bytes only: an odd number of hex digits is not a token (bytes.fromhex
# would raise ValueError on it).  Matched with fullmatch, so no trailing newline.
_PARTS = r"([0-9a-f]{24}):([0-9a-f]{32}):((?:[0-9a-f]{2})*)"
_TOKEN = re.compile(r"(?:v1:)?" + _PARTS, re.IGNORECASE)
_BOUND_TOKEN = re.compile(r"v2:" + _PARTS, re.IGNORECASE)

Key = str | bytes
#: What a bound token is bound to: names and values, e.g. ``{"id": ..., "field": ...}``.
Context = Mapping[str, str | None]


def generate_key() -> str:
    """Return a new random 256-bit key as 64 lower-case hex characters."""
    return secrets.token_hex(32)


def _key_bytes(key: Key, name: str = "the key") -> bytes:
    """Turn a 64-hex string or 32 raw bytes into 32 key bytes, or say what is wrong.

    The message never quotes the bad value: it may be a real key, pasted wrongly.
    """
    if not isinstance(key, (str, bytes)):
        raise EncryptionKeyError(f"{name} must be text (64 hexadecimal characters) or 32 "
                                 f"bytes, not {type(key).__name__}. {MAKE_A_KEY}")
    if isinstance(key, bytes):
        if len(key) != 32:
            raise EncryptionKeyError(
                f"{name} must be 32 bytes; it has {len(key)}. {MAKE_A_KEY}"
            )
        return key
    text = key.strip()
    if len(text) != 64:
        raise EncryptionKeyError(
            f"{name} must be 64 hexadecimal characters (32 bytes); "
            f"it has {len(text)}. {MAKE_A_KEY}"
        )
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise EncryptionKeyError(
            f"{name} must contain only hexadecimal characters (0-9, a-f). {MAKE_A_KEY}"
        ) from None


def encrypt(plaintext: str, key: Key) -> str:
    """Encrypt ``plaintext`` with a fresh random IV and return a ``v1:`` token."""
    iv = os.urandom(_IV_BYTES)
    sealed = AESGCM(_key_bytes(key)).encrypt(iv, plaintext.encode("utf-8"), None)
    ciphertext, tag = sealed[:-_TAG_BYTES], sealed[-_TAG_BYTES:]
    return f"v1:{iv.hex()}:{tag.hex()}:{ciphertext.hex()}"


def decrypt(token: str, key: Key) -> str:
    """Decrypt a token made by :func:`encrypt` (with or without its ``v1:`` prefix).

    :raises DecryptionError: the token is malformed, was tampered with, or was
        made with another key.  Which of these it was is deliberately not said.
    """
    return _open(_TOKEN, token, key, None)


def encrypt_bound(plaintext: str, key: Key, context: Context) -> str:
    """Encrypt ``plaintext`` bound to ``context`` and return a ``v2:`` token."""
    iv = os.urandom(_IV_BYTES)
    sealed = AESGCM(_key_bytes(key)).encrypt(iv, plaintext.encode("utf-8"),
                                             associated_data(context))
    ciphertext, tag = sealed[:-_TAG_BYTES], sealed[-_TAG_BYTES:]
    return f"v2:{iv.hex()}:{tag.hex()}:{ciphertext.hex()}"


def decrypt_bound(token: str, key: Key, context: Context) -> str:
    """Decrypt a token made by :func:`encrypt_bound` with the same ``context``.

    :raises DecryptionError: as :func:`decrypt`, and also when the token was
        made for another context (a token moved to another record, or a record
        whose base URL was edited), or is a ``v1`` token.
    """
    return _open(_BOUND_TOKEN, token, key, associated_data(context))


def associated_data(context: Context) -> bytes:
    """The canonical encoding of ``context`` that a bound token authenticates:
    JSON with sorted keys, ``,`` and ``:`` as separators and ASCII escapes, so
    two contexts give the same bytes exactly when they are equal."""
    return json.dumps(dict(context), sort_keys=True, ensure_ascii=True,
                      separators=(",", ":")).encode("ascii")


def _open(shape: re.Pattern[str], token: object, key: Key, aad: bytes | None) -> str:
    aes = AESGCM(_key_bytes(key))
    match = shape.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise DecryptionError("This value is not an encrypted token.")
    iv, tag, ciphertext = (bytes.fromhex(part) for part in match.groups())
    try:
        return aes.decrypt(iv, ciphertext + tag, aad).decode("utf-8")
    except (InvalidTag, UnicodeDecodeError):
        raise DecryptionError(
            "This value can't be decrypted with the current key (was ENCRYPTION_KEY changed?)."
        ) from None


def is_encrypted(value: object) -> bool:
    """Tell whether ``value`` has the shape of a token, plain (``v1``) or bound (``v2``)."""
    return isinstance(value, str) and (_TOKEN.fullmatch(value) is not None
                                       or _BOUND_TOKEN.fullmatch(value) is not None)


def is_bound(value: object) -> bool:
    """Tell whether ``value`` has the shape of a bound (``v2``) token."""
    return isinstance(value, str) and _BOUND_TOKEN.fullmatch(value) is not None


class KeyRing:
    """The current key, which encrypts, and previous keys, tried when it can't decrypt.

    A ``KeyRing`` with a malformed key is never built: the constructor raises
    :class:`EncryptionKeyError`.  Its ``repr`` shows how many keys it holds,
    never the keys.
    """

    def __init__(self, current: Key, previous: Key | Iterable[Key] = ()) -> None:
        if isinstance(previous, (str, bytes)):
            previous = (previous,)
        if not isinstance(previous, Iterable):
            raise EncryptionKeyError(f"{PREVIOUS_KEY_VARIABLE} must be a key or a list of keys.")
        self._current = _key_bytes(current, KEY_VARIABLE)
        self._previous = tuple(
            _key_bytes(key, PREVIOUS_KEY_VARIABLE) for key in previous if key
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KeyRing:
        """Build a key ring from ``ENCRYPTION_KEY`` (or ``ENCRYPTION_SECRET``) and
        ``ENCRYPTION_KEY_PREVIOUS`` (several may be given, separated by commas).

        :raises EncryptionKeyError: no key is set, the two names disagree, or a
            key is malformed.
        """
        env = os.environ if environ is None else environ
        current = env_key(env)
        if current is None:
            raise EncryptionKeyError(
                f"{KEY_VARIABLE} is not set. Set it to 64 hexadecimal characters. {MAKE_A_KEY}"
            )
        return cls(current, previous_keys(env))

    @property
    def has_previous(self) -> bool:
        """Whether previous keys are being tried (a rotation is under way)."""
        return bool(self._previous)

    def encrypt(self, plaintext: str, context: Context | None = None) -> str:
        """Encrypt with the current key: a ``v1`` token, or with ``context`` a
        ``v2`` token bound to it."""
        if context is None:
            return encrypt(plaintext, self._current)
        return encrypt_bound(plaintext, self._current, context)

    def decrypt(self, token: str, context: Context | None = None) -> str:
        """Decrypt with the current key, then each previous key in turn.

        Without ``context`` only a ``v1`` token is accepted; with it, only a
        ``v2`` token bound to that context.
        """
        shape = _TOKEN if context is None else _BOUND_TOKEN
        if not isinstance(token, str) or shape.fullmatch(token) is None:
            raise DecryptionError("This value is not an encrypted token"
                                  f"{'' if context is None else ' bound to its record'}.")
        for key in (self._current, *self._previous):
            try:
                return decrypt(token, key) if context is None \
                    else decrypt_bound(token, key, context)
            except DecryptionError:
                continue
        raise DecryptionError(
            "This value can't be decrypted with the current key "
            f"(was {KEY_VARIABLE} changed? Set the old one as {PREVIOUS_KEY_VARIABLE})."
        )

    def decrypting_key(self, token: str, context: Context | None = None) -> int | None:
        """Which key decrypts ``token`` (as :meth:`decrypt` would take it): ``0`` for the
        current key, ``1``... for the previous ones in order, None for none of them."""
        for index, key in enumerate((self._current, *self._previous)):
            try:
                if context is None:
                    decrypt(token, key)
                else:
                    decrypt_bound(token, key, context)
            except DecryptionError:
                continue
            return index
        return None

    def __repr__(self) -> str:
        return f"<KeyRing: current key, {len(self._previous)} previous>"


def env_key(env: Mapping[str, str]) -> str | None:
    """The key named by ``ENCRYPTION_KEY`` or its alias ``ENCRYPTION_SECRET``, if any."""
    primary = env.get(KEY_VARIABLE, "").strip()
    alias = env.get(KEY_ALIAS_VARIABLE, "").strip()
    if primary and alias and primary.lower() != alias.lower():
        raise EncryptionKeyError(
            f"{KEY_VARIABLE} and {KEY_ALIAS_VARIABLE} are both set and differ. "
            f"{KEY_ALIAS_VARIABLE} is only another name for {KEY_VARIABLE}: unset one of them."
        )
    return primary or alias or None


def previous_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """The keys listed in ``ENCRYPTION_KEY_PREVIOUS``, comma-separated."""
    raw = env.get(PREVIOUS_KEY_VARIABLE, "")
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def read_key_file(path: Path) -> str:
    """Read a key file written by :func:`create_key_file`.

    The file is opened without following a symbolic link, and what was opened
    must belong to this user and be writable by nobody else: a key file someone
    else planted is refused, not used (see :func:`~connections_core.permissions.distrust`).

    :raises EncryptionKeyError: the file can't be read, can't be trusted, or
        holds no well-formed key.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        refused = distrust(path, "key file")
        if refused is not None:  # a symbolic link (O_NOFOLLOW: ELOOP)
            raise EncryptionKeyError(str(refused), untrusted=True) from None
        raise _unreadable(path, error) from None
    with os.fdopen(fd, "rb") as file:
        refused = distrust(path, "key file", os.fstat(file.fileno()))
        if refused is not None:
            raise EncryptionKeyError(str(refused), untrusted=True)
        try:
            # A key is 64 characters and a newline: more is not a key file.
            raw = file.read(_KEY_FILE_MAX)
        except OSError as error:
            raise _unreadable(path, error) from None
    try:
        key = raw.decode("ascii").strip()
    except UnicodeDecodeError as error:
        raise _unreadable(path, error) from None
    _key_bytes(key, f"The key in {path}")
    return key


def _unreadable(path: Path, error: Exception) -> EncryptionKeyError:
    return EncryptionKeyError(
        f"The key file {path} can't be read ({error.__class__.__name__}). "
        f"Fix its permissions, or set {KEY_VARIABLE} instead.")


def create_key_file(path: Path) -> str:
    """Write a new random key to ``path`` (mode 0600) and return it.

    The folder is checked first (this user's, writable by nobody else).  The
    key is written to a new private file (``O_EXCL``), then linked into place,
    which fails if ``path`` exists: a reader never sees a half-written key, and
    nothing planted there is overwritten or followed.  If ``path`` exists (another
    process created it first, so that two processes starting at once agree on one
    key, or someone planted it), it is read as :func:`read_key_file` reads it:
    refused unless it is this user's.

    :raises EncryptionKeyError: the folder or an existing file can't be trusted.
    :raises OSError: the key can't be written (a full or read-only disk).
    """
    refused = distrust(path.parent, "data folder")
    if refused is not None:
        raise EncryptionKeyError(str(refused), untrusted=True)
    key = generate_key()
    # mkstemp opens with O_CREAT | O_EXCL | O_NOFOLLOW under a random name, mode 0600.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".encryption.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(key + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)
    except FileExistsError:
        return read_key_file(path)
    finally:
        os.unlink(temporary)
    log.warning(
        "No %s is set: generated a key for local use in %s. Anyone who can read that "
        "file can decrypt the stored API keys; set %s for a shared deployment.",
        KEY_VARIABLE, path, KEY_VARIABLE,
    )
    return key
