"""A stand-in for Amazon Bedrock's control plane on 127.0.0.1 that verifies signatures.

moto (5.2) has no ``ListFoundationModels``, and its server checks no signature
unless told to, for the operations it has.  :class:`FakeBedrock` answers
``GET /foundation-models`` as AWS does and, first, VERIFIES each request's
Signature Version 4: it rebuilds the request from what it received (method,
path, query, the headers named in ``SignedHeaders``, the ``X-Amz-Date`` sent),
signs that with botocore using the secret *it* holds for the access key id, and
compares the result with the ``Signature=`` received.  So a request passes only
if whoever sent it knew the secret; nothing is compared with a string the client
computed.  It answers as AWS does, with its headers and bodies::

    unknown key id, or a session token not issued with it  403 UnrecognizedClientException
    a session token marked expired                        403 ExpiredTokenException
    a signature that does not match                       403 InvalidSignatureException
    a request dated 15 min or more from its clock         403 InvalidSignatureException
    a credential scoped to another region or service      403 InvalidSignatureException
    a key id told it lacks the permission                 403 AccessDeniedException
    any other path                                        404 UnknownOperationException

Tests configure it through its attributes and :meth:`FakeBedrock.fail_with` (an
error answered after the signature passed), and read :attr:`FakeBedrock.verified`
(``tests/test_bedrock.py`` has the fixture that starts one)::

    def test_lists_models(bedrock):
        config = {"region": "us-east-1", "accessKeyId": AWS_ACCESS_KEY_ID,
                  "secretAccessKey": AWS_SECRET_KEY, "endpoint": bedrock.url}
        assert "amazon.nova-lite-v1:0" in check_bedrock(config, http.new_session(), 5)
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support import AWS_ACCESS_KEY_ID, AWS_SECRET_KEY

_CORAL = ":http://internal.amazon.com/coral/com.amazon.coral.service/"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<scope>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})$")
_SKEW = timedelta(minutes=15)  # how far AWS lets a request's date be from its clock
_STAMP = "%Y%m%dT%H%M%SZ"


def model_summary(model_id: str, provider: str, name: str, *, streaming: bool = True,
                  inputs: tuple[str, ...] = ("TEXT",)) -> dict[str, Any]:
    """One ``modelSummaries`` entry, shaped as the Bedrock API reference shows it."""
    return {
        "modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{model_id}",
        "modelId": model_id, "modelName": name, "providerName": provider,
        "inputModalities": list(inputs), "outputModalities": ["TEXT"],
        "responseStreamingSupported": streaming, "customizationsSupported": [],
        "inferenceTypesSupported": ["ON_DEMAND"], "modelLifecycle": {"status": "ACTIVE"},
    }


DEFAULT_MODELS = [
    model_summary("anthropic.claude-3-5-haiku-20241022-v1:0", "Anthropic", "Claude 3.5 Haiku"),
    model_summary("amazon.nova-lite-v1:0", "Amazon", "Nova Lite", inputs=("TEXT", "IMAGE")),
    model_summary("meta.llama3-1-8b-instruct-v1:0", "Meta", "Llama 3.1 8B Instruct"),
]


@dataclass(frozen=True)
class _Failure:
    status: int
    error_type: str
    message: str
    in_body: bool  # the type as the body's "__type" instead of x-amzn-ErrorType


@dataclass(repr=False)  # its repr would show the secrets it holds
class FakeBedrock:
    """Bedrock's ``ListFoundationModels`` on a daemon thread; point a check at :attr:`url`."""

    region: str = "us-east-1"
    #: access key id -> its secret; the only keys it knows.
    keys: dict[str, str] = field(default_factory=lambda: {AWS_ACCESS_KEY_ID: AWS_SECRET_KEY})
    #: access key id -> the session token it was issued with (temporary credentials).
    tokens: dict[str, str] = field(default_factory=dict)
    expired_tokens: set[str] = field(default_factory=set)
    #: access key ids without bedrock:ListFoundationModels.
    denied: set[str] = field(default_factory=set)
    models: list[dict[str, Any]] = field(default_factory=lambda: list(DEFAULT_MODELS))
    #: how far its clock is from this machine's.
    clock_offset: timedelta = timedelta(0)
    #: raw bytes to answer a verified request with, instead of the model list.
    body: bytes | None = None
    verified: int = 0  # requests whose signature matched
    refused: list[str] = field(default_factory=list)  # the error types answered, in order

    def __post_init__(self) -> None:
        self._failure: _Failure | None = None
        self._lock = threading.Lock()
        self._httpd = _Server(self)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        name="fake-bedrock", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"FakeBedrock({self.url}, {self.region})"

    def fail_with(self, status: int, error_type: str, message: str, *,
                  in_body: bool = False) -> None:
        """Answer verified requests with this AWS error from now on."""
        self._failure = _Failure(status, error_type, message, in_body)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- serving (on the server's threads) ---------------------------------------------

    def answer(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[
            str, str], bytes]:
        """``(status, headers, body)`` for a request, as Bedrock's front end would answer."""
        refusal = self._authenticate(method, target, headers)
        if refusal is None and urlsplit(target).path != "/foundation-models":
            refusal = _Failure(404, "UnknownOperationException", "", False)
        if refusal is None and self._key_of(headers) in self.denied:
            refusal = _Failure(403, "AccessDeniedException", (
                "User: arn:aws:iam::111122223333:user/checker is not authorized to perform: "
                "bedrock:ListFoundationModels because no identity-based policy allows the "
                "bedrock:ListFoundationModels action"), False)
        refusal = refusal or self._failure
        if refusal is not None:
            with self._lock:
                self.refused.append(refusal.error_type)
            return _error(refusal)
        with self._lock:
            self.verified += 1
        body = self.body if self.body is not None else json.dumps(
            {"modelSummaries": self.models}).encode()
        return 200, {"Content-Type": "application/json",
                     "x-amzn-RequestId": str(uuid.uuid4())}, body

    def _authenticate(self, method: str, target: str, headers: dict[str, str]
                      ) -> _Failure | None:
        """Why AWS would refuse this request's credentials or signature, or None."""
        found = _AUTHORIZATION.match(headers.get("authorization", ""))
        if found is None:
            return _Failure(403, "MissingAuthenticationTokenException",
                            "Missing Authentication Token", False)
        sent_at = headers.get("x-amz-date", "")
        scope = found["scope"].split("/")
        date, region, service, terminal = scope if len(scope) == 4 else ("", "", "", "")
        if service != "bedrock" or terminal != "aws4_request":
            return _invalid_signature("Credential should be scoped to correct service: "
                                      "'bedrock'. ")
        if region != self.region:
            return _invalid_signature("Credential should be scoped to a valid region. ")
        skewed = self._skew_problem(sent_at)
        if skewed or date != sent_at[:8]:
            return _invalid_signature(skewed or (
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{date}' != '{sent_at[:8]}', from '{sent_at}'."))
        key = found["key"]
        token = headers.get("x-amz-security-token")
        if key not in self.keys or self.tokens.get(key) != token:
            return _Failure(403, "UnrecognizedClientException",
                            "The security token included in the request is invalid.", False)
        if token is not None and token in self.expired_tokens:
            return _Failure(403, "ExpiredTokenException",
                            "The security token included in the request is expired", False)
        expected = self._signature(method, target, headers, found["signed"], sent_at, key)
        if not hmac.compare_digest(expected, found["signature"]):
            return _invalid_signature(
                "The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method. Consult the "
                "service documentation for details.")
        return None

    def _signature(self, method: str, target: str, headers: dict[str, str], signed: str,
                   sent_at: str, key: str) -> str:
        """The signature of the request as received, made with the secret this server holds."""
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names:
            return ""  # AWS insists on both; no signature can match
        request = AWSRequest(method=method, url=f"http://{headers.get('host', '')}{target}",
                             headers={name: headers.get(name, "") for name in names})
        request.context["timestamp"] = sent_at
        signer = SigV4Auth(Credentials(key, self.keys[key], self.tokens.get(key)), "bedrock",
                           self.region)
        string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
        return str(signer.signature(string_to_sign, request))

    def _skew_problem(self, sent_at: str) -> str:
        now = datetime.now(UTC) + self.clock_offset
        try:
            sent = datetime.strptime(sent_at, _STAMP).replace(tzinfo=UTC)
        except ValueError:
            return "Signature expired: the request has no valid X-Amz-Date."
        if sent < now - _SKEW:
            return (f"Signature expired: {sent_at} is now earlier than "
                    f"{(now - _SKEW).strftime(_STAMP)} ({now.strftime(_STAMP)} - 15 min.)")
        if sent > now + _SKEW:
            return (f"Signature not yet current: {sent_at} is still later than "
                    f"{(now + _SKEW).strftime(_STAMP)} ({now.strftime(_STAMP)} + 15 min.)")
        return ""

    def _key_of(self, headers: dict[str, str]) -> str:
        found = _AUTHORIZATION.match(headers.get("authorization", ""))
        return found["key"] if found else ""


def _invalid_signature(message: str) -> _Failure:
    return _Failure(403, "InvalidSignatureException", message, False)


def _error(failure: _Failure) -> tuple[int, dict[str, str], bytes]:
    """An error as AWS's JSON services send it."""
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}
    body: dict[str, Any] = {"message": failure.message or None}
    if failure.in_body:
        body["__type"] = f"com.amazon.coral.service#{failure.error_type}"
    else:
        headers["x-amzn-ErrorType"] = failure.error_type + _CORAL
    return failure.status, headers, json.dumps(body).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeBedrock) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, reply_headers, body = self.server.fake.answer(self.command, self.path, headers)
        self.send_response(status)
        for name, value in reply_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass
