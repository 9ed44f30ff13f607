"""connections_core: AI provider connections, with API keys encrypted at rest.

Application code gets usable credentials from the default connection of a
provider type::

    from connections_core import ConnectionService

    service = ConnectionService.from_env()          # ENCRYPTION_KEY, CONNECTIONS_DATA_DIR
    config = service.resolve_config("openai")       # {"apiKey": "sk-...", "baseUrl": ...}

A signed-in person's service is built with ``actor=`` their e-mail address; what
they may do then depends on their role in the workspace (:data:`ROLES`), and
every change is recorded in the workspace's audit trail (``service.audit()``), and
every check in the connection's check history (``service.history(id)``,
``service.health(id)``).

``service.set_schedule(id, minutes)`` has a connection checked in the background
(every 1, 5, 15 or 60 minutes); a :class:`Scheduler` runs the due checks (the
dashboard's server runs one, and so does ``python -m connections_core watch``).

:func:`open_demo` gives a service over the demo instead: connections to stand-in
providers served by this process, in a store of its own (see :mod:`connections_core.demo`).

Everything this package raises is a :class:`ConnectionsError`.
"""

from typing import TYPE_CHECKING

from . import ollama
from .access import email_verified, needed_role, normalized_email
from .alerts import DEMO_ALERTS_REFUSAL, AlertDelivery, AlertWebhook
from .app_access import AppToken, Credentials, CredentialsGate
from .checks import TestAllRun
from .crypto import KeyRing, decrypt, encrypt, generate_key, is_encrypted
from .demo import (
    DEMO_NOTICE,
    DEMO_WORKSPACE,
    close_demo,
    demo_requested,
    is_demo,
    open_demo,
    reset_demo,
)
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
from .history import CheckRecord, Health
from .models import (
    ROLES,
    SCHEDULE_MINUTES,
    STATUS_LABELS,
    STATUSES,
    AuditEntry,
    Connection,
    LastResult,
    Member,
)
from .ollama import (
    ModelDetails,
    ModelInfo,
    OllamaModel,
    Pull,
    PullProgress,
    RunningModel,
    format_bytes,
)
from .providers import GROUPS, PROVIDERS, ConfigField, Provider, TestResult, test_connection
from .scheduler import ScheduledCheck, Scheduler, scheduler_enabled
from .service import ConnectionService
from .storage import Store
from .store import TinyDBStore
from .text import counted, duration

if TYPE_CHECKING:
    from .postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "DEMO_ALERTS_REFUSAL",
    "DEMO_NOTICE",
    "DEMO_WORKSPACE",
    "GROUPS",
    "PROVIDERS",
    "ROLES",
    "SCHEDULE_MINUTES",
    "STATUSES",
    "STATUS_LABELS",
    "AlertDelivery",
    "AlertWebhook",
    "AppToken",
    "AuditEntry",
    "CheckRecord",
    "ConfigField",
    "ConflictError",
    "Connection",
    "ConnectionService",
    "ConnectionsError",
    "Credentials",
    "CredentialsGate",
    "DecryptionError",
    "EncryptionKeyError",
    "Health",
    "KeyRing",
    "LastResult",
    "Member",
    "ModelDetails",
    "ModelInfo",
    "NotFoundError",
    "OllamaError",
    "OllamaModel",
    "PermissionDeniedError",
    "PostgresStore",
    "Provider",
    "ProviderError",
    "Pull",
    "PullProgress",
    "RunningModel",
    "ScheduledCheck",
    "Scheduler",
    "Store",
    "StoreCorruptError",
    "StoreError",
    "TestAllRun",
    "TestResult",
    "TinyDBStore",
    "ValidationError",
    "close_demo",
    "counted",
    "decrypt",
    "demo_requested",
    "duration",
    "email_verified",
    "encrypt",
    "format_bytes",
    "generate_key",
    "is_demo",
    "is_encrypted",
    "needed_role",
    "normalized_email",
    "ollama",
    "open_demo",
    "reset_demo",
    "scheduler_enabled",
    "test_connection",
]


def __getattr__(name: str) -> object:
    """``PostgresStore`` is imported on first use, so that the TinyDB path never
    needs psycopg."""
    if name == "PostgresStore":
        from .postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
