"""Reading what a provider answered: error statuses turned into sentences, model lists.

Every check reads its answers here, so that each provider's failures are told the
same way (:func:`raise_for_status`: a :class:`ProviderError` whose ``kind`` names
the failure and whose message says what to do), and nothing a server echoes of a
key reaches a message (:func:`redact`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from itertools import groupby
from operator import itemgetter
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import requests

from . import http
from .errors import ProviderError
from .text import server_text

__all__ = ["ResultKind", "error_detail", "model_list", "next_page", "raise_for_status",
           "redact"]

ResultKind = Literal["ok", "auth", "forbidden", "not_found", "rate_limited", "server_error",
                     "timeout", "unreachable", "tls", "invalid_response"]

_KEY_LIKE = re.compile(r"\b(?:sk|key)-[A-Za-z0-9_*.\-]{4,}")
_MASKS = "*•.…"  # what servers put between the ends of a key they half show
_DETAIL_LIMIT = 300
#: How a server that answers a wrong key with 400 says so (xAI, Google).
_KEY_REFUSED = re.compile(r"(?:incorrect|invalid|wrong) api.?key|api.?key (?:is )?not valid"
                          r"|API_KEY_INVALID", re.IGNORECASE)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Remove anything that could be (part of) one of ``secrets`` from a server's message.

    Besides the whole key: any run of 4 or more characters it starts or ends
    with, and any 8 in a row from it, whatever their case, also percent-encoded
    ("sk-proj-****1234", "SK-PROJ-ABCD...", "sk%2Dproj%2Dabcd"); the stars or
    dots between such runs go too.  Then anything shaped like a key.
    """
    for _ in range(3):  # a key may be percent-encoded more than once
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    folded = _fold(text)
    covered = [False] * len(text)
    for secret in secrets:
        for piece in _key_pieces(_fold(secret)) if secret else ():
            start = folded.find(piece)
            while start >= 0:
                covered[start:start + len(piece)] = [True] * len(piece)
                start = folded.find(piece, start + 1)
    _cover_masks(text, covered)
    kept = "".join("[redacted]" if hidden else "".join(ch for ch, _ in run)
                   for hidden, run in groupby(zip(text, covered, strict=True), key=itemgetter(1)))
    return _KEY_LIKE.sub("[redacted]", kept)


def _fold(text: str) -> str:
    """Lower-case ASCII letters only, so that positions in the text stay put."""
    return "".join(ch.lower() if ch.isascii() else ch for ch in text)


def _key_pieces(key: str) -> set[str]:
    """The runs of ``key`` that give it away: starts and ends of 4 to 7
    characters, and every 8 in a row (longer runs are made of these)."""
    ends = {key[:n] for n in range(4, min(len(key), 8))} | {
        key[-n:] for n in range(4, min(len(key), 8))}
    return ends | ({key[i:i + 8] for i in range(len(key) - 7)} or {key})


def _cover_masks(text: str, covered: list[bool]) -> None:
    """Also cover runs of mask characters between two covered runs, or of two or
    more beside one: "[redacted]" rather than "[redacted]****[redacted]"."""
    i = 0
    while i < len(text):
        if text[i] not in _MASKS or covered[i]:
            i += 1
            continue
        end = i
        while end < len(text) and text[end] in _MASKS:
            end += 1
        before, after = i > 0 and covered[i - 1], end < len(text) and covered[end]
        if (before and after) or ((before or after) and end - i >= 2):
            covered[i:end] = [True] * (end - i)
        i = end


def error_detail(body: bytes) -> tuple[str, str]:
    """``(code or type, message)`` from an OpenAI, Anthropic, Ollama, Azure or Google
    error body (``{"error": {"code" or "type" or "status", "message"}}``)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    error = data.get("error")
    if isinstance(error, str):
        return "", error
    if isinstance(error, dict):
        code = next((value for value in (error.get(k) for k in ("code", "type", "status"))
                     if isinstance(value, str) and value), "")
        message = error.get("message")
        return code, message if isinstance(message, str) else ""
    return "", ""


def raise_for_status(name: str, response: requests.Response, body: bytes,
                     config: Mapping[str, str]) -> None:
    """Turn an error status into a :class:`ProviderError` that says what to do.

    What the server said is quoted (but not for a 401, which is about the key), with
    every secret field of ``config`` redacted from it.
    """
    status = response.status_code
    if status < 400:
        return
    code, detail = error_detail(body)
    # Redacted whole, before it is cut, so that no cut hides part of a key.
    detail = server_text(detail, 10 * _DETAIL_LIMIT)
    detail = server_text(redact(detail, secrets_in(config)), _DETAIL_LIMIT)
    if status == 400 and _KEY_REFUSED.search(f"{code} {detail}"):
        # Some (xAI, Google) answer a wrong key with 400; it is about the key all the same.
        raise ProviderError(f"{name} rejected the API key (400). Check that it is correct "
                            "and not revoked.", kind="auth", status_code=status)
    said = f' {name} said: "{detail}"' if detail and status != 401 else ""
    kind, message = _explain(name, status, code, response, keyless=not secrets_in(config))
    raise ProviderError(message + said, kind=kind, status_code=status)


def _explain(name: str, status: int, code: str, response: requests.Response, *,
             keyless: bool = False) -> tuple[ResultKind, str]:
    if status == 401 and keyless:
        return "auth", (f"{name} asks for an API key (401): add the key the server "
                        "expects to the connection.")
    if status == 401:
        return "auth", (f"{name} rejected the API key (401). Check that it is correct and "
                        "not revoked.")
    if status == 403:
        return "forbidden", (f"{name} accepted the key but refused access (403): the key "
                             "may lack permission, or the organization is wrong.")
    if status == 404:
        path = urlsplit(response.url).path
        return "not_found", (f"{http.origin(response.url)}{path} answered 404 Not Found: "
                             f"the base URL looks wrong for {name}.")
    if status == 429:
        if code == "insufficient_quota":
            return "rate_limited", (f"{name} says the quota is used up (429 insufficient_quota): "
                                    "check the account's plan and billing.")
        retry = response.headers.get("Retry-After", "").strip()
        seconds = retry.isascii() and retry.isdigit() and len(retry) <= 6
        after = f" Retry after {retry} s." if seconds else " Try again later."
        return "rate_limited", f"{name} is rate-limiting this key (429).{after}"
    if status == 529 or code == "overloaded_error":
        return "server_error", f"{name} is overloaded ({status}). Try again in a few minutes."
    if status >= 500:
        return "server_error", f"{name} had a server error ({status}). Try again later."
    return "invalid_response", f"{name} refused the request ({status})."



def secrets_in(config: Mapping[str, str]) -> list[str]:
    """The values of ``config``'s fields that some provider declares secret."""
    from .providers import SECRET_FIELDS  # the registry reads answers with this module

    return [config[name] for name in sorted(SECRET_FIELDS) if config.get(name)]


def model_list(name: str, response: requests.Response, body: bytes
               ) -> tuple[list[str], dict[str, Any]]:
    """The model ids of an OpenAI-style or Anthropic model list, and the list itself.

    The list is ``{"data": [{"id": ...}, ...]}``, or a bare ``[{"id": ...}, ...]``
    (Together's); the second value is the object around it (empty for a bare list).
    """
    data = http.parse_json(response, body)
    if isinstance(data, list):
        data = {"data": data}
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(
            isinstance(item, dict) and isinstance(item.get("id"), str) for item in items):
        raise ProviderError(
            f"{http.origin(response.url)} answered with JSON that is not a {name} model "
            "list. Check that the base URL points at the API itself.",
            kind="invalid_response", status_code=response.status_code)
    return [item["id"] for item in items], data


def next_page(name: str, url: str, session: requests.Session, headers: Mapping[str, str],
              deadline: float, timeout: float, *, first: bool
              ) -> tuple[requests.Response, bytes]:
    """One page of ``name``'s model list, within what is left before ``deadline`` (the
    ``timeout`` of all the pages together): a page after the first that doesn't come
    in time ends the list with a timeout that says so."""
    left = deadline - time.monotonic()
    if left > 0:
        try:
            return http.send("GET", url, session=session, headers=headers, timeout=left)
        except ProviderError as error:
            if error.kind != "timeout" or first:
                raise
    raise ProviderError(f"{http.origin(url)} did not send all of {name}'s model list "
                        f"within {timeout:g} s.", kind="timeout")
