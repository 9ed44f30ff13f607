"""The one place where this package talks HTTP.

Every request made to a provider goes through :func:`send`, which

* always sets a timeout;
* never follows a redirect, so credentials can't be carried to another host
  (``requests`` drops ``Authorization`` on a cross-host redirect, but not
  ``x-api-key``); a redirect is reported with where it pointed;
* reads at most :data:`MAX_BODY_BYTES` of a body, so a hostile server can't
  exhaust memory;
* turns every ``requests`` exception into a :class:`ProviderError` whose
  message a person can act on and which never contains a header value.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import NameResolutionError, ReadTimeoutError

from .errors import ProviderError

DEFAULT_TIMEOUT = 15.0
MAX_BODY_BYTES = 4 * 1024 * 1024
_CHUNK = 64 * 1024
USER_AGENT = "connections/1.0"


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what messages show of an address."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def new_session() -> requests.Session:
    """A session that sends our user agent (proxy and CA settings from the
    environment still apply, as a deployment behind a proxy needs)."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def open_response(
    method: str,
    url: str,
    *,
    session: requests.Session | None = None,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> requests.Response:
    """Send a request and return the response with its body still unread.

    The caller must close the response.  Redirects are refused.

    :raises ProviderError: the server can't be reached, timed out, failed TLS,
        or answered with a redirect.
    """
    owner = session or new_session()
    try:
        response = owner.request(
            method, url, headers=dict(headers or {}), json=json_body,
            timeout=timeout, allow_redirects=False, stream=True,
        )
    except requests.RequestException as error:
        raise _translate(error, url, timeout) from None
    finally:
        if session is None:
            owner.close()
    if response.is_redirect:
        target = response.headers.get("Location", "")
        response.close()
        where = f" to {origin(urljoin(url, target))}" if target else ""
        raise ProviderError(
            f"The server at {origin(url)} redirected{where}. Credentials are never sent "
            "through a redirect: set the base URL to the final address.",
            kind="invalid_response", status_code=response.status_code,
        )
    return response


def read_body(response: requests.Response, *, timeout: float = DEFAULT_TIMEOUT,
              limit: int | None = None) -> bytes:
    """Read a whole body, at most ``limit`` bytes (default :data:`MAX_BODY_BYTES`)
    and within ``timeout`` overall, then close the response."""
    limit = MAX_BODY_BYTES if limit is None else limit
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in iter_raw(response):
            size += len(chunk)
            if size > limit:
                raise ProviderError(
                    f"The server at {origin(response.url)} sent more than "
                    f"{_size(limit)}; that is not an answer this check expects.",
                    kind="invalid_response", status_code=response.status_code,
                )
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"The server at {origin(response.url)} took longer than {timeout:g} s "
                    "to send its answer.", kind="timeout", status_code=response.status_code,
                )
            chunks.append(chunk)
    finally:
        response.close()
    return b"".join(chunks)


def iter_raw(response: requests.Response) -> Iterator[bytes]:
    """The body's chunks as they arrive, with transport errors translated."""
    try:
        yield from response.iter_content(chunk_size=_CHUNK)
    except requests.ConnectionError as error:
        # requests reports a read timeout in the middle of a body as a
        # ConnectionError wrapping urllib3's ReadTimeoutError.
        if error.args and isinstance(error.args[0], ReadTimeoutError):
            raise ProviderError(f"{origin(response.url)} stopped sending its answer "
                                "(read timed out).", kind="timeout") from None
        raise _translate(error, response.url, None) from None
    except requests.RequestException as error:
        raise _translate(error, response.url, None) from None


def send(
    method: str,
    url: str,
    *,
    session: requests.Session | None = None,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[requests.Response, bytes]:
    """Send a request and read its whole (bounded) body: ``(response, body)``."""
    response = open_response(method, url, session=session, headers=headers,
                             json_body=json_body, timeout=timeout)
    return response, read_body(response, timeout=timeout)


def parse_json(response: requests.Response, body: bytes) -> Any:
    """Decode a JSON body, or raise ``invalid_response`` saying what came instead."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()[:60]
        what = f"a {content_type} page" if content_type else "something that is not JSON"
        raise ProviderError(
            f"The server at {origin(response.url)} answered with {what}, not the JSON "
            "this API returns. Check that the base URL points at the API itself.",
            kind="invalid_response", status_code=response.status_code,
        ) from None


def _translate(error: requests.RequestException, url: str, timeout: float | None) -> ProviderError:
    where = origin(url)
    if isinstance(error, requests.exceptions.SSLError):
        return ProviderError(
            f"The TLS handshake with {where} failed (an untrusted or invalid certificate?). "
            "Check the address, or the server's certificate.", kind="tls")
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return ProviderError(
            f"{where} did not accept a connection within {timeout:g} s. Check that the "
            "server is running and reachable from here.", kind="timeout")
    if isinstance(error, requests.Timeout):
        limit = f"{timeout:g} s" if timeout else "the time limit"
        return ProviderError(f"{where} did not answer within {limit}.", kind="timeout")
    if isinstance(error, requests.ConnectionError) and _name_not_resolved(error):
        return ProviderError(
            f"Can't reach the server at {where}: the host name could not be resolved (DNS). "
            "Check the base URL for typos, and this machine's network.", kind="unreachable")
    if isinstance(error, requests.ConnectionError):
        return ProviderError(
            f"Can't reach the server at {where}: the connection was refused or dropped. "
            "Check the base URL and that the server is running.", kind="unreachable")
    if isinstance(error, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                          requests.exceptions.InvalidSchema)):
        return ProviderError(f"{where} is not a valid http(s) address.", kind="unreachable")
    return ProviderError(
        f"The request to {where} failed ({error.__class__.__name__}).", kind="unreachable")


def _name_not_resolved(error: BaseException) -> bool:
    """Whether urllib3's NameResolutionError lies somewhere inside ``error``."""
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, NameResolutionError):
            return True
        inner = getattr(seen, "reason", None) or (seen.args[0] if seen.args else None)
        seen = inner if isinstance(inner, BaseException) else None
    return False


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n} bytes"
