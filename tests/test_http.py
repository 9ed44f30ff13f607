"""The HTTP seam: a deadline that holds whatever a server does, and only our own
errors, whatever the URL or the answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import responses

from connections_core import http
from connections_core.errors import ProviderError, ValidationError
from tests import fakes
from tests.fakes import (
    FakeServer,
    TrickleServer,
    self_signed_tls,
    trickle_body,
    trickle_headers,
)

pytestmark = pytest.mark.timeout(30)

Trickle = Callable[..., TrickleServer]
trickle_server = fakes.trickle_server  # the fixture, shared with this module
API = "https://api.example.test/v1"


# -- the deadline --------------------------------------------------------------------------

def test_a_body_sent_a_byte_at_a_time_is_cut_off_at_the_deadline(
        trickle_server: Trickle) -> None:
    """Headers, then one byte every half second, kept a 2 s request open for as long
    as the server liked: the deadline was looked at only after each 64 KiB chunk."""
    server = trickle_server(trickle_body())
    started = time.monotonic()

    with pytest.raises(ProviderError, match="took longer than 2 s") as caught:
        http.send("GET", server.url, timeout=2)

    assert time.monotonic() - started < 6
    assert caught.value.kind == "timeout"


def test_headers_sent_a_byte_at_a_time_are_cut_off_at_the_deadline(
        trickle_server: Trickle) -> None:
    server = trickle_server(trickle_headers())
    started = time.monotonic()

    with pytest.raises(ProviderError, match="did not answer within 1 s") as caught:
        http.send("GET", server.url, timeout=1)

    assert time.monotonic() - started < 5
    assert caught.value.kind == "timeout"


def test_the_connection_is_closed_when_the_deadline_passes(trickle_server: Trickle) -> None:
    server = trickle_server(trickle_body())

    with pytest.raises(ProviderError):
        http.send("GET", server.url, timeout=1)

    assert server.hung_up.wait(5)


def test_a_session_of_ones_own_still_has_a_deadline_on_the_body(
        trickle_server: Trickle) -> None:
    server = trickle_server(trickle_body())
    started = time.monotonic()

    with requests.Session() as session, pytest.raises(ProviderError, match="took longer"):
        http.send("GET", server.url, session=session, timeout=1)

    assert time.monotonic() - started < 5


def test_a_trickle_over_tls_is_cut_off_at_the_deadline(
        trickle_server: Trickle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)  # it would outrank session.verify
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    context, certificate = self_signed_tls(tmp_path)
    server = trickle_server(trickle_body(), tls=context)
    started = time.monotonic()

    with http.new_session() as session, pytest.raises(ProviderError, match="took longer"):
        session.verify = str(certificate)
        http.send("GET", server.url, session=session, timeout=1)

    assert time.monotonic() - started < 5
    assert server.hung_up.wait(5)


def test_a_kept_alive_connection_serves_the_next_request(fake_server: FakeServer) -> None:
    """The watchdog of a finished request never shuts the connection the next one uses."""
    fake_server.keep_alive = True
    fake_server.respond("/ping", 200, {"ok": True})
    with http.new_session() as session:
        bodies = [http.send("GET", f"{fake_server.url}/ping", session=session, timeout=2)[1]
                  for _ in range(3)]

    assert bodies == [b'{"ok": true}'] * 3
    assert len({r.client_port for r in fake_server.requests}) == 1, "one connection, reused"


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), "2", None, True])
def test_a_time_limit_that_is_not_a_number_of_seconds_is_refused(timeout: object) -> None:
    with pytest.raises(ValidationError, match="number of seconds"):
        http.send("GET", API, timeout=timeout)  # type: ignore[arg-type]


# -- redirects and odd addresses -----------------------------------------------------------

@pytest.mark.parametrize("location", [
    "http://collector.example:99999/steal",  # a port above 65535
    "http://[::1/steal",  # an IPv6 host without its closing bracket
    "http://[zz::1]/steal",  # brackets around something that is not an address
    "//[::1",
])
@responses.activate
def test_a_redirect_to_an_unparsable_address_is_a_provider_error(location: str) -> None:
    responses.get(f"{API}/models", status=302, headers={"Location": location})

    with pytest.raises(ProviderError, match="redirected to an invalid address") as caught:
        http.send("GET", f"{API}/models", timeout=2)
    assert caught.value.kind == "invalid_response"


def test_the_body_of_a_redirect_is_never_read(trickle_server: Trickle) -> None:
    """requests read a redirect's whole body, however long it took to come, even
    when told not to follow it."""
    server = trickle_server((b"HTTP/1.1 302 Found\r\nLocation: https://other.test/\r\n"
                             b"Content-Length: 1000000\r\n\r\n", b"x"))
    started = time.monotonic()

    with pytest.raises(ProviderError, match="redirected to https://other.test"):
        http.send("GET", server.url, timeout=10)

    assert time.monotonic() - started < 5


@pytest.mark.parametrize("url", [
    "http://[::1",
    "http://host:99999/",
    "http://" + "a" * 64 + ".example/",  # a label over 63 characters
    "http://a..b/",
    "http://\ud800.example/",
])
def test_an_address_requests_cannot_use_is_a_provider_error(url: str) -> None:
    with pytest.raises(ProviderError) as caught:
        http.send("GET", url, timeout=2)
    assert caught.value.kind == "unreachable"
    str(caught.value).encode("utf-8")  # and its message can be shown and stored


def test_a_header_http_cannot_carry_is_a_provider_error_without_the_value(
        fake_server: FakeServer) -> None:
    with pytest.raises(ProviderError, match="characters HTTP can't carry") as caught:
        http.send("GET", fake_server.url, headers={"x-api-key": "sk-ключ-секрет"}, timeout=2)
    assert "ключ" not in str(caught.value)


# -- text from servers ---------------------------------------------------------------------

def test_origin_of_an_unparsable_url_never_raises() -> None:
    assert http.origin("http://[::1") == "an invalid address"
    assert http.origin("http://h:99999/") == "an invalid address"
