"""Amazon Bedrock's check: the foundation models a region offers, at no cost.

``GET {endpoint}/foundation-models`` (the control plane's ``ListFoundationModels``;
``bedrock-runtime`` is the one that calls models), signed with Signature Version 4
by botocore's own signer: the secret access key never travels, only a signature
made with it, so AWS tells a wrong secret (``InvalidSignatureException``) from a
key id it doesn't know (``UnrecognizedClientException``), both usually with 403.
Each AWS error type gets its own sentence; the type comes in the
``x-amzn-ErrorType`` header (or ``__type`` in the body), the message in the body.

A region that doesn't exist has no endpoint: its host does not resolve, which is
said in terms of the region rather than of DNS.  botocore logs the canonical
request at DEBUG, session token included, so its signer is kept quiet while it
signs for us.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import requests
from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]
from botocore.session import get_session  # type: ignore[import-untyped]

from . import http
from .answers import redact, secrets_in
from .errors import ProviderError
from .text import server_text

__all__ = ["bedrock_address", "check_bedrock"]

NAME = "Amazon Bedrock"
_DETAIL_LIMIT = 300


def bedrock_address(config: Mapping[str, Any]) -> str:
    """The control-plane endpoint a check reaches: ``endpoint``, or the region's own."""
    endpoint = config.get("endpoint")
    if isinstance(endpoint, str) and endpoint:
        return endpoint
    return f"https://bedrock.{config.get('region', '')}.amazonaws.com"


def check_bedrock(config: Mapping[str, str], session: requests.Session,
                  timeout: float) -> list[str]:
    """The ids of the foundation models Bedrock offers in ``region`` (``ListFoundationModels``)."""
    url = f"{bedrock_address(config).rstrip('/')}/foundation-models"
    try:
        response, body = http.send("GET", url, session=session,
                                   headers=_signed_headers(url, config), timeout=timeout)
    except ProviderError as error:
        if not config.get("endpoint") and http.name_not_resolved(error.__context__):
            raise _no_endpoint(config.get("region", ""), url) from None
        raise
    if response.status_code >= 400:
        raise _refusal(response, body, config)
    return _model_ids(response, body)


# -- signing -----------------------------------------------------------------------------

def _signed_headers(url: str, config: Mapping[str, str]) -> dict[str, str]:
    """``Authorization``, ``X-Amz-Date`` (and ``X-Amz-Security-Token``) for a GET of ``url``."""
    credentials = Credentials(config.get("accessKeyId", ""), config.get("secretAccessKey", ""),
                              config.get("sessionToken") or None)
    request = AWSRequest(method="GET", url=url)
    with _signer_quiet():
        SigV4Auth(credentials, "bedrock", config.get("region", "")).add_auth(request)
    return {str(name): str(value) for name, value in request.headers.items()}


# Set while we sign: botocore.auth's DEBUG records print the canonical request,
# which holds the session token.
_SIGNING: ContextVar[bool] = ContextVar("connections_bedrock_signing", default=False)


class _QuietWhileSigning(logging.Filter):
    """Drops botocore.auth's records made while this thread signs a check."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _SIGNING.get()


logging.getLogger("botocore.auth").addFilter(_QuietWhileSigning())


@contextmanager
def _signer_quiet() -> Iterator[None]:
    token = _SIGNING.set(True)
    try:
        yield
    finally:
        _SIGNING.reset(token)


# -- a region without an endpoint ---------------------------------------------------------

def _no_endpoint(region: str, url: str) -> ProviderError:
    host = urlsplit(url).hostname or ""
    shown = server_text(region, 40)
    if region in _bedrock_regions():
        # A region Bedrock is in: the lookup failed here, not at AWS.
        return ProviderError(
            f"{host} could not be resolved (DNS), though {shown} is a Bedrock region: check "
            "this machine's network and DNS, or its proxy settings.", kind="unreachable")
    return ProviderError(
        f"There is no Bedrock endpoint for region '{shown}' ({host} does not resolve): check "
        "the region code, e.g. us-east-1.", kind="unreachable")


def _bedrock_regions() -> set[str]:
    """The regions botocore's endpoint data lists Bedrock in, in every partition."""
    botocore = get_session()
    return {str(region) for partition in botocore.get_available_partitions()
            for region in botocore.get_available_regions("bedrock", partition)}


# -- AWS's answers ------------------------------------------------------------------------

def _error_of(response: requests.Response, body: bytes) -> tuple[str, str]:
    """``(error type, message)`` of an AWS error answer; either may be empty.

    The type is in ``x-amzn-ErrorType`` ("UnrecognizedClientException:http://...")
    or the body's ``__type`` ("com.amazon.coral.service#ExpiredTokenException")."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    data = data if isinstance(data, dict) else {}
    kind = response.headers.get("x-amzn-ErrorType") or data.get("__type") or data.get("code")
    kind = kind.split(":")[0].rpartition("#")[2] if isinstance(kind, str) else ""
    message = data.get("message") or data.get("Message")
    return server_text(kind, 80), message if isinstance(message, str) else ""


def _refusal(response: requests.Response, body: bytes,
             config: Mapping[str, str]) -> ProviderError:
    """What an error answer means, as a :class:`ProviderError` that says what to do."""
    status = response.status_code
    kind, message = _error_of(response, body)
    label = f"{status} {kind}" if kind else str(status)
    said = server_text(redact(server_text(message, 3000), secrets_in(config)), _DETAIL_LIMIT)
    quoted = f' AWS said: "{said}"' if said else ""
    auth = _auth_refusal(kind, message, label, config)
    if auth is not None:
        return ProviderError(auth, kind="auth", status_code=status)
    if kind == "AccessDeniedException":
        return ProviderError(
            f"The credentials are valid but lack bedrock:ListFoundationModels ({label}); add "
            f"it to the IAM policy of the user or role.{quoted}",
            kind="forbidden", status_code=status)
    if kind == "ThrottlingException" or status == 429:
        return ProviderError(
            f"AWS is throttling Bedrock's requests from this account ({label}). Try again in "
            "a minute.", kind="rate_limited", status_code=status)
    if status >= 500:
        return ProviderError(f"{NAME} had a server error ({label}). Try again later.{quoted}",
                             kind="server_error", status_code=status)
    if status == 404:
        return ProviderError(
            f"{http.origin(response.url)}{urlsplit(response.url).path} answered {label}: "
            "check that the endpoint is Bedrock's control plane (https://bedrock.<region>."
            "amazonaws.com, or its VPC endpoint), not bedrock-runtime.",
            kind="not_found", status_code=status)
    if status in (401, 403):
        return ProviderError(f"AWS refused the credentials ({label}).{quoted}",
                             kind="forbidden" if status == 403 else "auth", status_code=status)
    return ProviderError(f"{NAME} refused the request as invalid ({label}).{quoted}",
                         kind="invalid_response", status_code=status)


def _auth_refusal(kind: str, message: str, label: str,
                  config: Mapping[str, str]) -> str | None:
    """The sentence for an answer that rejects the credentials themselves, else None."""
    region = server_text(config.get("region", ""), 40)
    if kind == "UnrecognizedClientException":
        temporary = config.get("accessKeyId", "").startswith("ASIA")
        if config.get("sessionToken"):
            return (f"AWS does not recognize the access key ID with this session token "
                    f"({label}): check that both come from the same temporary credentials.")
        hint = (" It is a temporary key (ASIA…), which works only with the session token "
                "it was issued with: add that." if temporary else "")
        return (f"AWS does not recognize the access key ID ({label}): check that it is copied "
                f"whole and still active (IAM, Security credentials).{hint}")
    if kind == "ExpiredTokenException":
        return (f"The session token has expired ({label}): temporary credentials last a few "
                "hours at most. Get new ones (e.g. aws sso login, or aws sts) and update the "
                "connection.")
    if kind in ("InvalidSignatureException", "SignatureDoesNotMatch"):
        if "Signature expired" in message or "not yet current" in message:
            return (f"AWS refused the request's time ({label}, signature expired): this "
                    "machine's clock is off by more than 5 minutes. Set it right (NTP) and "
                    "try again.")
        if "scoped to" in message:
            return (f"The endpoint does not serve region {region} ({label}): set the region "
                    "to the endpoint's own, or clear the endpoint.")
        return (f"AWS knows the access key ID, but the secret access key is wrong ({label}: "
                "the request's signature does not match). Check that it is the secret issued "
                "with this key ID, copied whole.")
    return None


def _model_ids(response: requests.Response, body: bytes) -> list[str]:
    """``modelSummaries[].modelId`` of a ListFoundationModels answer."""
    data = http.parse_json(response, body)
    summaries = data.get("modelSummaries") if isinstance(data, dict) else None
    if not isinstance(summaries, list) or not all(
            isinstance(item, dict) and isinstance(item.get("modelId"), str)
            for item in summaries):
        raise ProviderError(
            f"{http.origin(response.url)} answered with JSON that is not Bedrock's list of "
            "foundation models. Check that the endpoint is Bedrock's control plane "
            "(https://bedrock.<region>.amazonaws.com).",
            kind="invalid_response", status_code=response.status_code)
    return [item["modelId"] for item in summaries]
