"""connections_core: AI provider connections, with API keys encrypted at rest.

Application code gets usable credentials from the default connection of a
provider type::

    from connections_core import ConnectionService

    service = ConnectionService.from_env()          # ENCRYPTION_KEY, CONNECTIONS_DATA_DIR
    config = service.resolve_config("openai")       # {"apiKey": "sk-...", "baseUrl": ...}

Everything this package raises is a :class:`ConnectionsError`.
"""

from . import ollama
from .crypto import KeyRing, decrypt, encrypt, generate_key, is_encrypted
from .errors import (
    ConflictError,
    ConnectionsError,
    DecryptionError,
    EncryptionKeyError,
    NotFoundError,
    OllamaError,
    ProviderError,
    StoreCorruptError,
    StoreError,
    ValidationError,
)
from .models import STATUSES, Connection, LastResult
from .providers import PROVIDERS, ConfigField, Provider, TestResult, test_connection
from .service import ConnectionService
from .store import TinyDBStore

__all__ = [
    "PROVIDERS",
    "STATUSES",
    "ConfigField",
    "ConflictError",
    "Connection",
    "ConnectionService",
    "ConnectionsError",
    "DecryptionError",
    "EncryptionKeyError",
    "KeyRing",
    "LastResult",
    "NotFoundError",
    "OllamaError",
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
    "ollama",
    "test_connection",
]
