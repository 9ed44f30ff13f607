"""A stand-in for Google's Gemini API on 127.0.0.1, answering ``GET /v1beta/models``
as the real one does (https://ai.google.dev/api/models#method:-models.list).

It is a :class:`tests.fakes.FakeServer` (so :meth:`~FakeServer.respond`,
:attr:`~FakeServer.requests`, :attr:`~FakeServer.delay` and the rest work as
there) whose routes are Gemini's:

* the key is read from the ``x-goog-api-key`` header, or from ``?key=`` as Google
  also takes it; none is 403 PERMISSION_DENIED, a wrong one 400 API_KEY_INVALID;
* ``pageSize`` (50 by default, at most 1000, and at most :attr:`page_size` here)
  and ``pageToken``: the token of the next page is opaque and has ``+``, ``/`` and
  ``=`` in it, so a client that doesn't quote it sends a token Google refuses;
* :attr:`failure` makes a valid key's request fail as Google's do when the API is
  disabled in the key's project, the key is restricted, the quota is used up or
  Google itself fails (the bodies are Google's, from its ``google.rpc`` errors);
* any other path is Google's 404 HTML page.

Start one per test, and :meth:`~FakeServer.close` it after (``tests/test_gemini.py``
has the fixture, ``gemini_server``)::

    def test_lists_models(gemini_server: GeminiServer) -> None:
        gemini_server.page_size = 2
        config = {"apiKey": GEMINI_KEY, "baseUrl": gemini_server.base_url}
        assert check_gemini(config, requests.Session(), 5) == gemini_server.model_ids
"""

from __future__ import annotations

import base64
from typing import Any

from tests.fakes import FakeServer, RecordedRequest, _Handler

#: A key shaped as Google's are: "AIza" and 35 more characters.
GEMINI_KEY = "AIzaSyTEST0123456789abcdefghijklmnopq"
WRONG_KEY = "AIzaSyWRONG123456789abcdefghijklmnopq"

_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_SERVICE = "generativelanguage.googleapis.com"
_NOT_FOUND_PAGE = (b"<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
                   b"  <title>Error 404 (Not Found)!!1</title>\n"
                   b"  <p><b>404.</b> <ins>That\xe2\x80\x99s an error.</ins>\n"
                   b"  <p>The requested URL <code>/v1beta/modelz</code> was not found on "
                   b"this server.  <ins>That\xe2\x80\x99s all we know.</ins>\n")


def gemini_model(name: str, display_name: str | None = None) -> dict[str, Any]:
    """One entry of ``ListModels``, shaped as Google sends it."""
    return {
        "name": f"models/{name}", "version": "001",
        "displayName": display_name or name.replace("-", " ").title(),
        "description": f"{name}, for the tests.",
        "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "countTokens",
                                       "createCachedContent", "batchGenerateContent"],
        "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": True,
    }


def google_error(code: int, status: str, message: str, *details: dict[str, Any]
                 ) -> dict[str, Any]:
    """A Google API error body: ``{"error": {"code", "message", "status", "details"}}``."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return {"error": error}


def error_info(reason: str, **metadata: str) -> dict[str, Any]:
    """A ``google.rpc.ErrorInfo`` detail."""
    return {"@type": _ERROR_INFO, "reason": reason, "domain": "googleapis.com",
            "metadata": {"service": _SERVICE, **metadata}}


def invalid_key_error() -> dict[str, Any]:
    """What Google answers (400) to a key it doesn't know."""
    message = "API key not valid. Please pass a valid API key."
    return google_error(400, "INVALID_ARGUMENT", message, error_info("API_KEY_INVALID"), {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
        "message": message})


#: What Google answers a valid key's request with when something else is wrong.
FAILURES: dict[str, tuple[int, dict[str, Any]]] = {
    "service_disabled": (403, google_error(
        403, "PERMISSION_DENIED",
        "Generative Language API has not been used in project 123456789012 before or it is "
        "disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
        "generativelanguage.googleapis.com/overview?project=123456789012 then retry. If you "
        "enabled this API recently, wait a few minutes for the action to propagate to our "
        "systems and retry.",
        error_info("SERVICE_DISABLED", consumer="projects/123456789012",
                   serviceTitle="Generative Language API"))),
    "key_blocked": (403, google_error(
        403, "PERMISSION_DENIED",
        "Requests to this API generativelanguage.googleapis.com method "
        "google.ai.generativelanguage.v1beta.ModelService.ListModels are blocked.",
        error_info("API_KEY_SERVICE_BLOCKED", consumer="projects/123456789012",
                   methodName="google.ai.generativelanguage.v1beta.ModelService.ListModels"))),
    "ip_blocked": (403, google_error(
        403, "PERMISSION_DENIED",
        "The provided API key has an IP address restriction. The originating IP address of "
        "the call (127.0.0.1) violates this restriction.",
        error_info("API_KEY_IP_ADDRESS_BLOCKED", consumer="projects/123456789012"))),
    "quota": (429, google_error(
        429, "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. For "
        "more information on this error, head to: "
        "https://ai.google.dev/gemini-api/docs/rate-limits.",
        {"@type": "type.googleapis.com/google.rpc.Help", "links": [{
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"})),
    "internal": (500, google_error(
        500, "INTERNAL", "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting")),
    "unavailable": (503, google_error(503, "UNAVAILABLE",
                                      "The service is currently unavailable.")),
}


def _page_token(offset: int) -> str:
    """An opaque token for the page that starts at ``offset``: base64 with ``+``,
    ``/`` and ``=`` in it, as Google's have."""
    return base64.b64encode(b"\xfb\xef\xff" + f"offset={offset}".encode()).decode()


class GeminiServer(FakeServer):
    """A stand-in Gemini API on a daemon thread; point a check at :attr:`base_url`."""

    def __init__(self) -> None:
        super().__init__()
        self.api_key = GEMINI_KEY
        self.models = [gemini_model(name) for name in (
            "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash",
            "text-embedding-004")]
        self.page_size = 1000  # the most this server puts on a page
        self.failure: str | None = None  # a key of FAILURES, answered to a valid key
        self.echo_key_in_errors = False  # a failure's message quotes the key it was sent

    @property
    def base_url(self) -> str:
        """The connection's base URL: the stand-in's origin and the API version."""
        return f"{self.url}/v1beta"

    @property
    def model_ids(self) -> list[str]:
        return [model["name"].removeprefix("models/") for model in self.models]

    # -- serving (called on the server's threads) ------------------------------------

    def _serve(self, handler: _Handler, request: RecordedRequest) -> None:
        if (request.method, request.route) == ("GET", "/v1beta/models"):
            self._list_models(handler, request)
        else:
            handler.reply(404, _NOT_FOUND_PAGE, "text/html; charset=UTF-8")

    def _list_models(self, handler: _Handler, request: RecordedRequest) -> None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            handler.reply_json(403, google_error(
                403, "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to "
                "call this API."))
            return
        if key != self.api_key:
            handler.reply_json(400, invalid_key_error())
            return
        if self.failure is not None:
            status, body = FAILURES[self.failure]
            if self.echo_key_in_errors:
                body = google_error(status, body["error"]["status"],
                                    f"{body['error']['message']} (key {key})",
                                    *body["error"].get("details", []))
            handler.reply_json(status, body)
            return
        self._send_page(handler, request)

    def _send_page(self, handler: _Handler, request: RecordedRequest) -> None:
        size_text = request.query.get("pageSize", "50")
        token = request.query.get("pageToken")
        starts = {_page_token(offset): offset for offset in range(len(self.models) + 1)}
        if not size_text.isascii() or not size_text.isdigit():
            handler.reply_json(400, google_error(
                400, "INVALID_ARGUMENT",
                f"Invalid value at 'page_size' (TYPE_INT32), \"{size_text}\""))
            return
        if token is not None and token not in starts:
            handler.reply_json(400, google_error(
                400, "INVALID_ARGUMENT", "Page token is invalid."))
            return
        size = min(int(size_text) or 50, 1000, self.page_size)
        start = starts[token] if token is not None else 0
        answer: dict[str, Any] = {}  # proto3 JSON leaves out an empty list
        if self.models[start:start + size]:
            answer["models"] = self.models[start:start + size]
        if start + size < len(self.models):
            answer["nextPageToken"] = _page_token(start + size)
        handler.reply_json(200, answer)

