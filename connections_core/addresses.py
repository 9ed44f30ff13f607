"""Where requests may go: the rules for a base URL, and the addresses refused.

Link-local and cloud metadata addresses (:data:`BLOCKED_NETWORKS`) are refused
in any notation; loopback and private addresses stay allowed, since a local
Ollama is the common case.  :mod:`connections_core.http` applies the same
rule to the address each connection actually reaches.

The demo's stand-in providers (:mod:`connections_core.standins`) are a port of
this machine each while they run: :func:`standin_problem` says when a base URL
points at one, so that only the demo's own connections do (a stand-in never
receives a real key).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from urllib3.util import parse_url

__all__ = ["ALLOW_LINK_LOCAL_VARIABLE", "BLOCKED_NETWORKS", "STANDIN_REFUSAL", "blocked_message",
           "is_blocked", "link_local_allowed", "literal_address", "standin_ports",
           "standin_problem", "url_problem"]

#: Set to 1 (or true) to let requests reach the addresses in :data:`BLOCKED_NETWORKS`.
ALLOW_LINK_LOCAL_VARIABLE = "CONNECTIONS_ALLOW_LINK_LOCAL"
#: Where a server-side request forgery would do harm: the cloud metadata services
#: that hand out credentials, and link-local addresses in general.  Loopback and
#: private addresses stay allowed: a local Ollama is the common case.
BLOCKED_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),  # IPv4 link-local; AWS, GCP, Azure metadata
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud metadata
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def link_local_allowed() -> bool:
    """Whether ``CONNECTIONS_ALLOW_LINK_LOCAL`` lets requests reach :data:`BLOCKED_NETWORKS`."""
    return os.environ.get(ALLOW_LINK_LOCAL_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def is_blocked(address: str) -> bool:
    """Whether the IP address ``address`` lies in :data:`BLOCKED_NETWORKS`, also
    when written as an IPv4-mapped or NAT64 IPv6 address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return any(ip in network for network in BLOCKED_NETWORKS if ip.version == network.version)


def literal_address(host: str) -> str | None:
    """The address a host written as an IP address means, in any notation the
    C library accepts (``2852039166``, ``0xa9fea9fe``, ``169.254.43518``...);
    None for a name, which only DNS can answer."""
    if ":" in host:  # an IPv6 address, perhaps with a zone written as %25
        host = unquote(host)
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    return str(infos[0][4][0]).split("%")[0] if infos else None


def blocked_message(host: str, address: str) -> str:
    """The sentence that refuses a request to ``host``, which is or resolves to the
    blocked ``address``."""
    what = address if host == address else f"{host} resolves to {address}, which"
    return (f"{what} is a link-local or cloud metadata address; requests there are refused. "
            f"Set {ALLOW_LINK_LOCAL_VARIABLE}=1 to allow it.")


def url_problem(text: str) -> str | None:
    """What is wrong with ``text`` as a base URL, phrased to follow the field's
    name ("must not contain ..."); None if nothing is.

    Only http(s) URLs of a host (and optionally a port and a path) pass: no
    user name, query or fragment, and no host in :data:`BLOCKED_NETWORKS`
    written as an address.
    """
    if any(not ch.isprintable() or ch.isspace() for ch in text):
        return "must not contain spaces or control characters"
    # Checked on the text itself: urlsplit drops a bare trailing "?" or "#".
    if "?" in text or "#" in text:
        return "must not contain a query (?...) or a fragment (#...): give the API's address only"
    if "\\" in text:
        return "must not contain a backslash"
    try:
        parts = urlsplit(text)
        port = parts.port
        parse_url(text)  # what requests will make of it
    except ValueError:
        return "is not a valid URL (check the host name and the port)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password"
    if port == 0:
        return "has port 0; give a port from 1 to 65535"
    address = literal_address(parts.hostname)
    if address is None and not _valid_host_name(parts.hostname):
        return "has a host name that is not valid"
    if address is not None and is_blocked(address) and not link_local_allowed():
        return (f"points at {address}, a link-local or cloud metadata address; requests "
                f"there are refused. Set {ALLOW_LINK_LOCAL_VARIABLE}=1 to allow it")
    return None


def _valid_host_name(host: str) -> bool:
    try:
        encoded = host.encode("idna")
    except UnicodeError:  # an empty label, one over 63 characters, or not IDNA
        return False
    return len(encoded) <= 253


# -- the demo's stand-ins ------------------------------------------------------------------

STANDIN_REFUSAL = ("That address is the demo's stand-in for a provider, running inside this "
                   "app; only the demo's own connections may point at it, so that a real key "
                   "never reaches it. Enter the provider's own address.")

#: The ports (on 127.0.0.1) of the stand-ins running in this process: a process's
#: stand-ins are one set, started once (connections_core.standins).
_standins: frozenset[int] = frozenset()
_standins_guard = threading.Lock()
_LOCAL_NAMES = ("localhost", "ip6-localhost", "ip6-loopback")


def standin_ports(ports: Iterable[int] | None = None) -> frozenset[int]:
    """The ports of the demo's stand-ins running in this process; given ``ports``,
    they replace them first (the stand-ins say so when they start and stop)."""
    global _standins
    with _standins_guard:
        if ports is not None:
            _standins = frozenset(ports)
        return _standins


def standin_problem(url: object) -> str | None:
    """:data:`STANDIN_REFUSAL` when ``url`` points at a running stand-in (this
    machine, in any notation, at a stand-in's port); None otherwise, or when
    ``url`` can't be read (the other rules say what is wrong with it)."""
    ports = _standins
    if not ports or not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return None
    if port not in ports or not host:
        return None
    return STANDIN_REFUSAL if _this_machine(host) else None


def _this_machine(host: str) -> bool:
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    address = literal_address(host)
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # 0.0.0.0 reaches this machine too, when connected to.
    return ip.is_loopback or ip.is_unspecified
