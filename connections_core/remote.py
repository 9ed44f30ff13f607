"""Credentials for an application, from the dashboard's HTTP API, with an application
token instead of the encryption key::

    from connections_core.remote import resolve_config

    config = resolve_config("openai")   # CONNECTIONS_URL, CONNECTIONS_TOKEN from the environment
    client = OpenAI(api_key=config["apiKey"], base_url=config["baseUrl"])

It asks ``GET {CONNECTIONS_URL}/api/v1/credentials/{type}`` with
``Authorization: Bearer {CONNECTIONS_TOKEN}`` and gives the ``config`` of the
answer: what :meth:`ConnectionService.resolve_config` gives trusted code.  Every
failure is a :class:`ConnectionsError` whose sentence says what to do, and never
holds the token or a key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from . import http
from .addresses import url_problem
from .errors import ConnectionsError, NotFoundError, PermissionDeniedError, ProviderError
from .text import server_text, shown

__all__ = ["TOKEN_VARIABLE", "URL_VARIABLE", "RemoteError", "fetch_credentials", "resolve_config"]

URL_VARIABLE = "CONNECTIONS_URL"
TOKEN_VARIABLE = "CONNECTIONS_TOKEN"  # noqa: S105  (a name, not a token)
API_PATH = "/api/v1/credentials/"
DEFAULT_TIMEOUT = 10.0


class RemoteError(ConnectionsError):
    """The dashboard could not be asked, or refused; ``status_code`` is its answer's."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


def resolve_config(type: str, *, url: str | None = None, token: str | None = None,
                   timeout: float = DEFAULT_TIMEOUT) -> dict[str, str]:
    """The decrypted config of the default ``type`` connection of the token's workspace.

    :param url: the dashboard's address (``CONNECTIONS_URL`` when None).
    :param token: an application token, ``cnx_...`` (``CONNECTIONS_TOKEN`` when None).
    :raises RemoteError: a setting is missing, the dashboard can't be reached, or it
        refused the token (401) or answered too often (429).
    :raises PermissionDeniedError: the token does not cover ``type`` (403).
    :raises NotFoundError: the workspace has no default of ``type`` (404).
    """
    config = fetch_credentials(type, url=url, token=token, timeout=timeout)["config"]
    return {str(k): str(v) for k, v in config.items()}


def fetch_credentials(type: str, *, url: str | None = None, token: str | None = None,
                      timeout: float = DEFAULT_TIMEOUT,
                      environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The whole answer: ``{"type", "connection_id", "name", "config"}`` (see
    :func:`resolve_config`, which gives its ``config``)."""
    env = os.environ if environ is None else environ
    base = (url if url is not None else env.get(URL_VARIABLE, "")).strip().rstrip("/")
    secret = (token if token is not None else env.get(TOKEN_VARIABLE, "")).strip()
    if not base:
        raise RemoteError(f"Set {URL_VARIABLE} to the dashboard's address (e.g. "
                          "https://connections.example.com), or pass url=.")
    problem = url_problem(base)
    if problem:
        raise RemoteError(f"{URL_VARIABLE} {problem}.")
    if not secret:
        raise RemoteError(f"Set {TOKEN_VARIABLE} to an application token (cnx_...; an admin "
                          "makes one in Settings, Application access), or pass token=.")
    if not secret.isascii() or not secret.isprintable() or " " in secret:
        raise RemoteError(f"{TOKEN_VARIABLE} is not an application token: it has spaces or "
                          "characters a token never has. Copy it again.")
    where = f"{base}{API_PATH}{quote(type, safe='')}"
    try:
        response, body = http.send("GET", where, headers={"Authorization": f"Bearer {secret}"},
                                   timeout=timeout)
    except ProviderError as error:
        raise RemoteError(f"Can't ask the dashboard for credentials: {error}") from None
    try:
        data = http.parse_json(response, body)
    except ProviderError:
        data = None
    said = data.get("error") if isinstance(data, dict) else None
    said = server_text(said, 300) if isinstance(said, str) else ""
    status = response.status_code
    if status == 200 and isinstance(data, dict) and isinstance(data.get("config"), dict):
        return data
    if status == 401:
        raise RemoteError(f"The dashboard at {http.origin(base)} refused the application token "
                          "(401): it is unknown, expired or revoked. Ask an admin of the "
                          "workspace for a new one.", 401)
    if status == 403:
        raise PermissionDeniedError(said or f"The token may not read '{shown(type, 40)}'.",
                                    "credentials")
    if status == 404:
        raise NotFoundError(said or f"The dashboard has no credentials of type "
                                    f"'{shown(type, 40)}' for this token.")
    if status == 429:
        retry = response.headers.get("Retry-After", "").strip()
        after = f" Retry after {retry} s." if retry.isdigit() and len(retry) <= 6 else ""
        raise RemoteError(f"The dashboard is limiting this token's requests (429).{after}", 429)
    raise RemoteError(f"The dashboard at {http.origin(base)} answered {status} instead of "
                      f"credentials{': ' + said if said else ''}. Check {URL_VARIABLE}.", status)
