"""The applications' API, served by the dashboard's own server (nothing new to run):
``GET /api/v1/credentials/{type}`` with ``Authorization: Bearer cnx_...``.

It answers the token's workspace's default connection of ``type``::

    {"type": "openai", "connection_id": "...", "name": "Prod",
     "config": {"apiKey": "sk-...", "baseUrl": "https://api.openai.com/v1"}}

exactly what :meth:`ConnectionService.resolve_config` gives trusted code, through
:class:`connections_core.CredentialsGate` (the rules, the rate limit and the audit
entry are the core's).  401 for a missing, unknown, expired or revoked token (one
body for all), 403 for a type outside the token's types, 404 for no default, 429
past the token's rate (with ``Retry-After``), 503 when the store doesn't answer;
``Cache-Control: no-store`` on every answer.  Nothing of a request's token or an
answer's key is logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connections_core import (
    ConnectionsError,
    ConnectionService,
    CredentialsGate,
    DecryptionError,
    NotFoundError,
    PermissionDeniedError,
)
from connections_core.app_access import REFUSED, RateLimitedError, TokenRefusedError

__all__ = ["API_TIMEOUT", "MAX_API_READS", "api_routes"]

log = logging.getLogger(__name__)

API_TIMEOUT = 5.0  # seconds an answer waits for the store
MAX_API_READS = 8  # answers being read from the store at once; more wait their turn
_NOT_CACHED = {"Cache-Control": "no-store"}


def api_routes(open_service: Callable[[], ConnectionService]) -> list[BaseRoute]:
    """The API's routes, over the store and key of the service ``open_service`` gives
    (opened on the first request, once)."""
    gate = _Gate(open_service)
    pool = ThreadPoolExecutor(MAX_API_READS, thread_name_prefix="connections-api")

    async def credentials(request: Request) -> Response:
        type = request.path_params["type"]
        secret = _bearer(request.headers.get("authorization", ""))
        try:
            found = await asyncio.wait_for(
                asyncio.wrap_future(pool.submit(lambda: gate.get().resolve(secret, type))),
                API_TIMEOUT)
        except TokenRefusedError:
            return _answer(401, {"error": REFUSED}, {"WWW-Authenticate": "Bearer"})
        except RateLimitedError as error:
            return _answer(429, {"error": str(error)}, {"Retry-After": str(error.retry_after)})
        except PermissionDeniedError as error:
            return _answer(403, {"error": str(error)})
        except NotFoundError as error:
            return _answer(404, {"error": str(error)})
        except DecryptionError as error:
            log.warning("GET /api/v1/credentials: %s", error)
            return _answer(500, {"error": "The default connection's key can't be decrypted on "
                                          "the server; an admin must enter it again."})
        except (ConnectionsError, TimeoutError) as error:
            log.warning("GET /api/v1/credentials: the store did not answer: %s",
                        error or "timed out")
            return _answer(503, {"error": "The dashboard's store did not answer. Try again."})
        return _answer(200, found.as_json())

    return [Route("/api/v1/credentials/{type}", credentials, methods=["GET"])]


def _bearer(header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None
            ) -> Response:
    return JSONResponse(body, status, headers={**_NOT_CACHED, **(headers or {})})


class _Gate:
    """The process's gate: one, for its rate limit, opened on the first request."""

    def __init__(self, open_service: Callable[[], ConnectionService]) -> None:
        self._open = open_service
        self._gate: CredentialsGate | None = None
        self._lock = threading.Lock()

    def get(self) -> CredentialsGate:
        with self._lock:
            if self._gate is None:
                service = self._open()
                self._gate = CredentialsGate(service.store, service.keyring,
                                             audit_days=service.audit_days)
            return self._gate
