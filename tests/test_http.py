"""The HTTP seam: a deadline that holds whatever a server does, addresses that are
refused, and only our own errors, whatever the URL or the answer."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import responses

from connections_core import addresses, http
from connections_core.errors import ProviderError, ValidationError
from connections_core.text import server_text
from tests.fakes import (
    FakeServer,
    TrickleServer,
    self_signed_tls,
    trickle_body,
    trickle_headers,
)

pytestmark = pytest.mark.timeout(30)

Trickle = Callable[..., TrickleServer]
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


# -- refused addresses ---------------------------------------------------------------------

@pytest.mark.parametrize("host", [
    "169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518",
    "169.16689662", "::ffff:169.254.169.254", "fe80::1", "fd00:ec2::254", "64:ff9b::a9fe:a9fe",
])
def test_every_notation_of_a_metadata_address_is_recognised(host: str) -> None:
    address = addresses.literal_address(host)
    assert address is not None and addresses.is_blocked(address)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "10.0.0.7", "192.168.1.20", "0x7f.1"])
def test_loopback_and_private_addresses_are_allowed(host: str) -> None:
    address = addresses.literal_address(host)
    assert address is not None and not addresses.is_blocked(address)


def test_a_host_name_is_not_an_address_to_judge_before_it_is_resolved() -> None:
    assert addresses.literal_address("metadata.google.internal") is None


@pytest.fixture
def loopback_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse 127.0.0.0/8 as if it were link-local: the only addresses a test can reach."""
    monkeypatch.setattr(addresses, "BLOCKED_NETWORKS", (ipaddress.ip_network("127.0.0.0/8"),))
    monkeypatch.delenv(addresses.ALLOW_LINK_LOCAL_VARIABLE, raising=False)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f000001",
                                  "127.1"])
@pytest.mark.usefixtures("loopback_refused")
def test_a_refused_address_is_judged_on_the_address_connected_to(
        fake_server: FakeServer, host: str) -> None:
    port = fake_server.url.rsplit(":", 1)[1]

    with pytest.raises(ProviderError, match="link-local or cloud metadata address; requests "
                                            "there are refused. Set CONNECTIONS_ALLOW_LINK_"
                                            "LOCAL=1") as caught:
        http.send("GET", f"http://{host}:{port}/api/version", timeout=2)

    assert caught.value.kind == "unreachable"
    assert fake_server.requests == [], "nothing was sent"


@pytest.mark.usefixtures("loopback_refused")
def test_a_session_of_ones_own_is_refused_a_blocked_address_too(fake_server: FakeServer) -> None:
    with requests.Session() as session, pytest.raises(ProviderError, match="link-local"):
        http.send("GET", f"{fake_server.url}/api/version", session=session, timeout=2)
    assert fake_server.requests == []


@pytest.mark.usefixtures("loopback_refused")
def test_the_environment_variable_allows_a_refused_address(
        fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(addresses.ALLOW_LINK_LOCAL_VARIABLE, "1")

    response, _ = http.send("GET", f"{fake_server.url}/api/version", timeout=2)

    assert response.status_code == 200


# -- base URLs -----------------------------------------------------------------------------

@pytest.mark.parametrize("url, problem", [
    ("http://host/admin/users?", "must not contain a query"),
    ("http://host/api#", "or a fragment"),
    ("http://host/api?x=1", "must not contain a query"),
    ("http://host\\@evil/", "backslash"),
    ("http://host:99999", "not a valid URL"),
    ("http://[::1", "not a valid URL"),
    ("http://host:0", "port 0"),
    ("http://a..b", "host name that is not valid"),
    ("http://user:pw@host", "user name or password"),
    ("http://2852039166", "points at 169.254.169.254, a link-local or cloud metadata"),
    ("http://[fe80::1%25eth0]:11434", "points at fe80::1"),
    ("http://169.254.43518/latest", "points at 169.254.169.254"),
])
def test_base_url_problems(url: str, problem: str) -> None:
    assert problem in (addresses.url_problem(url) or "")


@pytest.mark.parametrize("url", ["http://localhost:11434", "http://10.0.0.7:11434",
                                 "https://api.openai.com/v1", "http://[::1]:8000/v1",
                                 "http://bücher.example/v1"])
def test_ordinary_base_urls_pass(url: str) -> None:
    assert addresses.url_problem(url) is None


# -- text from servers ---------------------------------------------------------------------

def test_server_text_is_encodable_printable_and_bounded() -> None:
    text = server_text("bad \ud800 model\x1b[31m\u202e" + "x" * 500, 50)

    assert text.startswith("bad \ufffd model [31m") and len(text) == 50 and text.endswith("…")
    text.encode("utf-8")


def test_origin_of_an_unparsable_url_never_raises() -> None:
    assert http.origin("http://[::1") == "an invalid address"
    assert http.origin("http://h:99999/") == "an invalid address"
