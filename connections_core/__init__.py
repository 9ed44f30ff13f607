"""connections_core: AI provider connections, with API keys encrypted at rest.

Application code gets usable credentials from the default connection of a
provider type::

    from connections_core import ConnectionService

    service = ConnectionService.from_env()          # ENCRYPTION_KEY, CONNECTIONS_DATA_DIR
    config = service.resolve_config("openai")       # {"apiKey": "sk-...", "baseUrl": ...}

A signed-in person's service is built with ``actor=`` their e-mail address; what
they may do then depends on their role in the workspace (:data:`ROLES`), and
every change is recorded in the workspace's audit trail (``service.audit()``).

Everything this package raises is a :class:`ConnectionsError`.
"""

from . import ollama
from .access import needed_role
from .crypto import KeyRing, decrypt, encrypt, generate_key, is_encrypted
from .errors import (
    ConflictError,
    ConnectionsError,
    DecryptionError,
    EncryptionKeyError,
    NotFoundError,
    OllamaError,
    PermissionDeniedError,
    ProviderError,
    StoreCorruptError,
    StoreError,
    ValidationError,
)
from .models import ROLES, STATUS_LABELS, STATUSES, AuditEntry, Connection, LastResult, Member
from .providers import PROVIDERS, ConfigField, Provider, TestResult, test_connection
from .service import ConnectionService
from .store import TinyDBStore

__all__ = [
    "PROVIDERS",
    "ROLES",
    "STATUSES",
    "STATUS_LABELS",
    "AuditEntry",
    "ConfigField",
    "ConflictError",
    "Connection",
    "ConnectionService",
    "ConnectionsError",
    "DecryptionError",
    "EncryptionKeyError",
    "KeyRing",
    "LastResult",
    "Member",
    "NotFoundError",
    "OllamaError",
    "PermissionDeniedError",
    "Provider",
    "ProviderError",
    "StoreCorruptError",
    "StoreError",
    "TestResult",
    "TinyDBStore",
    "ValidationError",
    "decrypt",
    "encrypt",
    "generate_key",
    "is_encrypted",
    "needed_role",
    "ollama",
    "test_connection",
]
