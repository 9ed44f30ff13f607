"""The host names the dashboard answers to: its configured ones, and this machine's.

The WebSocket that drives the app accepts only the names in
``server.allowedHosts``, so that a page on a name that an attacker controls, now
resolving to this machine (DNS rebinding), can't drive it.  The attacker needs a
*name*: an address is no name of theirs.  So this machine's own addresses (every
interface's, IPv4 and IPv6) and its own host name are safe to accept, and with
them the "Network URL" Streamlit prints opens the app from a colleague's machine.

A list set in ``STREAMLIT_SERVER_ALLOWED_HOSTS`` or ``--server.allowedHosts`` is
the deployment's own and stays exactly as given; so does an empty list or ``*``
(which accept any name already).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

from streamlit import config

OPTION = "server.allowedHosts"
#: Where Streamlit says an option given in the environment or a flag was defined.
_GIVEN_BY_THE_DEPLOYMENT = ("environment variable", "command-line argument")
_WHERE = "connections: this machine's own names and addresses (server/hosts.py)"
#: Addresses a UDP socket is "connected" to (nothing is sent) to learn which of this
#: machine's addresses faces the network, as Streamlit finds its Network URL.
_ROUTES = ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1"))


def accept_this_machine() -> None:
    """Add this machine's names and addresses to ``server.allowedHosts``, unless the
    deployment gave the list itself or the list accepts any name.  Again after
    Streamlit reads its config files anew (it watches them)."""
    _extend()
    config.on_config_parsed(_extend, force_connect=True)


def _extend() -> None:
    configured: list[str] = list(config.get_option(OPTION) or [])
    where = config.get_where_defined(OPTION)
    if not configured or "*" in configured or where.startswith(_GIVEN_BY_THE_DEPLOYMENT):
        return
    names = list(dict.fromkeys([*configured, *own_names()]))
    if names != configured:
        config.set_option(OPTION, names, _WHERE)


def own_names() -> list[str]:
    """This machine's host names (short and qualified) and the addresses of all its
    interfaces, lower case, without duplicates."""
    names: list[str] = []
    for name in (socket.gethostname(), socket.getfqdn()):
        if name and name.lower() not in ("localhost", "localhost.localdomain"):
            names.append(name.lower().rstrip("."))
    addresses = [*_resolved(names), *_routed(), *_linux_ipv4(), *_linux_ipv6()]
    return list(dict.fromkeys([*names, *(str(a) for a in addresses)]))


def _resolved(names: Iterable[str]) -> Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    for name in names:
        try:
            infos = socket.getaddrinfo(name, None)
        except OSError:
            continue
        for info in infos:
            yield from _address(str(info[4][0]))


def _routed() -> Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    for family, target in _ROUTES:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                yield from _address(str(probe.getsockname()[0]))
        except OSError:
            continue  # no route, or no such family on this machine


def _linux_ipv4(trie: Path = Path("/proc/net/fib_trie")) -> Iterator[ipaddress.IPv4Address]:
    """Every local IPv4 address: in the kernel's routing trie, a leaf followed by
    ``/32 host LOCAL``."""
    try:
        lines = trie.read_text().splitlines()
    except OSError:
        return
    leaf = ""
    for line in lines:
        text = line.strip()
        if text.startswith("|--"):
            leaf = text[3:].strip()
        elif text.startswith("/32 host LOCAL"):
            for address in _address(leaf):
                if isinstance(address, ipaddress.IPv4Address):
                    yield address


def _linux_ipv6(table: Path = Path("/proc/net/if_inet6")) -> Iterator[ipaddress.IPv6Address]:
    """Every interface's IPv6 addresses: the first column, 32 hexadecimal digits."""
    try:
        lines = table.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        digits = line.split()[0] if line.split() else ""
        try:
            yield ipaddress.IPv6Address(int(digits, 16))
        except ValueError:
            continue


def _address(text: str) -> Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """``text`` as an address (a zone such as ``%eth0`` dropped: no Host header has one),
    or nothing when it is none."""
    try:
        yield ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return
