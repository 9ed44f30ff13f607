"""One exception tree for everything ``connections_core`` raises.

Callers catch :class:`ConnectionsError` (or one of its children) and never a
``requests``, ``tinydb`` or ``cryptography`` exception: those are translated
where they happen.  No message ever contains a secret::

    ConnectionsError
    ├── ValidationError        bad input; .field_errors maps field -> message
    ├── NotFoundError          no such record (or model) in this workspace; .record_id
    ├── ConflictError          the record changed since it was read; .record_id
    ├── EncryptionKeyError     the key is missing, malformed or does not fit the data (or
    │                          its file may have been planted: .untrusted)
    ├── DecryptionError        one record's secret can't be decrypted; .record_id
    ├── PermissionDeniedError  the signed-in person's role doesn't allow this; .operation
    ├── StoreError             the data file can't be read or written (permissions, full
    │                          disk, or someone else's: .untrusted); .path
    │   ├── StoreCorruptError  the data file is not valid JSON; .path
    │   └── VerificationError  a copied store did not hold what its source holds; nothing
    │                          was kept (connections_core.migrate)
    ├── BackupError            a backup can't be read: wrong passphrase, damaged or edited
    │                          file, unknown version; nothing was imported
    │                          (connections_core.backup)
    ├── TokenRefusedError      an application token is missing, unknown, expired or
    │                          revoked: one sentence for all (connections_core.app_access)
    ├── RateLimitedError       a token asked too often this minute; .retry_after
    │                          (connections_core.app_access)
    ├── RemoteError            the dashboard's API could not be asked or refused;
    │                          .status_code (connections_core.remote)
    └── ProviderError          a provider's server failed or could not be reached; .kind
        └── OllamaError        an Ollama server answered with an error
"""

from __future__ import annotations

from collections.abc import Mapping


class ConnectionsError(Exception):
    """Root of every error this package raises."""


class ValidationError(ConnectionsError):
    """Input was rejected; ``field_errors`` says which field and why."""

    def __init__(self, field_errors: Mapping[str, str], message: str | None = None) -> None:
        self.field_errors: dict[str, str] = dict(field_errors)
        if message is None:
            message = "; ".join(f"{field}: {error}" for field, error in self.field_errors.items())
        super().__init__(message)


class NotFoundError(ConnectionsError):
    """The record (or Ollama model) does not exist, or not in this workspace."""

    def __init__(self, message: str, record_id: str | None = None) -> None:
        self.record_id = record_id
        super().__init__(message)


class ConflictError(ConnectionsError):
    """The record was changed by someone else since it was read."""

    def __init__(self, message: str, record_id: str | None = None) -> None:
        self.record_id = record_id
        super().__init__(message)


class EncryptionKeyError(ConnectionsError):
    """The encryption key is missing, malformed, or does not fit the stored data.

    ``untrusted`` is True when a key file was refused because someone else owns
    it or may write it (so it may have been planted).
    """

    def __init__(self, message: str, *, untrusted: bool = False) -> None:
        self.untrusted = untrusted
        super().__init__(message)


class DecryptionError(ConnectionsError):
    """A stored secret can't be decrypted with the current (or previous) key."""

    def __init__(self, message: str, record_id: str | None = None) -> None:
        self.record_id = record_id
        super().__init__(message)


class PermissionDeniedError(ConnectionsError):
    """The signed-in person may not do this in this workspace; nothing was changed."""

    def __init__(self, message: str, operation: str) -> None:
        self.operation = operation
        super().__init__(message)


class StoreError(ConnectionsError):
    """The data file or its folder can't be read or written; nothing was changed.

    ``untrusted`` is True when the folder or a file in it was refused because
    someone else owns it or may write it.
    """

    def __init__(self, message: str, path: str, *, untrusted: bool = False) -> None:
        self.path = path
        self.untrusted = untrusted
        super().__init__(message)


class StoreCorruptError(StoreError):
    """The data file can't be read as a connections store; it was left untouched."""


class ProviderError(ConnectionsError):
    """A provider's server could not be reached or did not answer as expected.

    ``kind`` is one of the :class:`~connections_core.TestResult` kinds
    (``unreachable``, ``timeout``, ``auth`` ...), ``status_code`` the HTTP
    status when there was one.
    """

    def __init__(self, message: str, kind: str, status_code: int | None = None) -> None:
        self.kind = kind
        self.status_code = status_code
        super().__init__(message)


class OllamaError(ProviderError):
    """An Ollama server refused or failed a model operation."""
