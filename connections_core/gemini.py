"""Google Gemini's check: the models a Gemini API key may use, at no cost.

``GET {baseUrl}/models?pageSize=1000``, following ``nextPageToken``, with the key
in the ``x-goog-api-key`` header.  Google also takes it as ``?key=``, but a URL
ends up in logs, so the key is never put there.  Google answers a wrong key with
400 (not 401) and an ``ErrorInfo`` whose reason is ``API_KEY_INVALID``, and a key
it knows but won't serve with 403 ``PERMISSION_DENIED`` (the Generative Language
API disabled in the key's project, or the key restricted); each gets a sentence
that says which it is likely to be.  A model's id is its ``name`` without the
``models/`` prefix ("gemini-2.5-flash"), as the SDKs take it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

from . import http
from .answers import next_page, raise_for_status, redact, secrets_in
from .errors import ProviderError
from .text import server_text, well_formed

__all__ = ["check_gemini"]

NAME = "Google Gemini"
_MAX_PAGES = 50
_REASON = re.compile(r"[A-Z][A-Z0-9_]{0,59}")  # an ErrorInfo reason, as Google spells them
_DETAIL_LIMIT = 300


def check_gemini(config: Mapping[str, str], session: requests.Session,
                 timeout: float) -> list[str]:
    """The ids of the models the key may use, following pages; ``timeout`` bounds
    all the pages together."""
    headers = {"x-goog-api-key": config.get("apiKey", "")}
    deadline = time.monotonic() + timeout
    models: list[str] = []
    token: str | None = None
    seen: set[str] = set()
    for _ in range(_MAX_PAGES):
        url = f"{config['baseUrl']}/models?pageSize=1000"
        if token:
            url += f"&pageToken={quote(well_formed(token), safe='')}"
        response, body = next_page(NAME, url, session, headers, deadline, timeout,
                                   first=not token)
        _raise_for_google_error(response, body, config)
        page, token = _model_page(response, body)
        models += page
        if not token or token in seen:
            break
        seen.add(token)
    return models


def _raise_for_google_error(response: requests.Response, body: bytes,
                            config: Mapping[str, str]) -> None:
    """Google's answers about the key get sentences of their own; the rest are
    told as every provider's are."""
    status = response.status_code
    if status in (400, 403):
        reason, message = _google_error(body)
        if status == 400 and "API key expired" in message:
            raise ProviderError(
                f"Google says the API key has expired (400 {reason or 'INVALID_ARGUMENT'}). "
                "Renew it, or make a new one (Google AI Studio, API keys).",
                kind="auth", status_code=400)
        if status == 400 and (reason == "API_KEY_INVALID" or "API key not valid" in message):
            raise ProviderError(
                f"Google rejected the API key (400 {reason or 'INVALID_ARGUMENT'}). Check "
                "that it is correct and not deleted (Google AI Studio, API keys).",
                kind="auth", status_code=400)
        if status == 403:
            raise ProviderError(_forbidden(reason) + _google_said(message, config),
                                kind="forbidden", status_code=403)
    raise_for_status(NAME, response, body, config)


def _forbidden(reason: str) -> str:
    if reason == "SERVICE_DISABLED":
        return ("Google accepted the key, but the Generative Language API is not enabled "
                "in its Google Cloud project (403 SERVICE_DISABLED). Enable it there, or "
                "use a key made in Google AI Studio.")
    if reason == "API_KEY_SERVICE_BLOCKED":
        return ("Google refused the key (403 API_KEY_SERVICE_BLOCKED): its API restrictions "
                "leave out the Generative Language API. Add it to the key's restrictions "
                "(Google Cloud console, Credentials), or use a key without them.")
    if reason.startswith("API_KEY_") and reason.endswith("_BLOCKED"):
        return (f"Google refused the key (403 {reason}): its application restrictions "
                "don't allow calls from here. Loosen them (Google Cloud console, "
                "Credentials), or use a key without them.")
    return (f"Google refused access with this key (403 {reason or 'PERMISSION_DENIED'}): "
            "the Generative Language API may not be enabled in the key's project, or the "
            "key is restricted.")


def _google_error(body: bytes) -> tuple[str, str]:
    """``(reason, message)`` from Google's ``{"error": {"message", "details":
    [{"@type": ".../google.rpc.ErrorInfo", "reason"}]}}``; empty strings for what
    is missing or malformed."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return "", ""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return "", ""
    message = error.get("message")
    details = error.get("details")
    reasons = [item.get("reason") for item in details if isinstance(item, dict)
               and str(item.get("@type", "")).endswith("google.rpc.ErrorInfo")
               ] if isinstance(details, list) else []
    reason = next((r for r in reasons if isinstance(r, str) and _REASON.fullmatch(r)), "")
    return reason, message if isinstance(message, str) else ""


def _google_said(message: str, config: Mapping[str, str]) -> str:
    # Redacted whole, before it is cut, so that no cut hides part of a key.
    detail = server_text(message, 10 * _DETAIL_LIMIT)
    detail = server_text(redact(detail, secrets_in(config)), _DETAIL_LIMIT)
    return f' Google said: "{detail}"' if detail else ""


def _model_page(response: requests.Response, body: bytes) -> tuple[list[str], str | None]:
    """The model ids on one page of ``ListModels``, and the next page's token.

    An empty list is sent as ``{}`` (proto3 JSON leaves out empty fields), so an
    object with no ``models`` is a page without models; but one with other fields
    is some other API's answer.
    """
    data: Any = http.parse_json(response, body)
    if isinstance(data, dict) and "models" not in data and set(data) <= {"nextPageToken"}:
        data = {**data, "models": []}
    items = data.get("models") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(
            isinstance(item, dict) and isinstance(item.get("name"), str) for item in items):
        raise ProviderError(
            f"{http.origin(response.url)} answered with JSON that is not {NAME}'s model "
            "list. Check that the base URL points at the API itself (it ends in /v1beta).",
            kind="invalid_response", status_code=response.status_code)
    token = data.get("nextPageToken")
    return ([item["name"].removeprefix("models/") for item in items],
            token if isinstance(token, str) else None)
