"""Which names ``server.hosts`` adds to ``server.allowedHosts``, and when it adds none."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit import config

from server import hosts

TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
     |-- 192.0.2.0
        /24 link UNICAST
     |-- 192.0.2.2
        /32 host LOCAL
     |-- 192.0.2.255
        /32 link BROADCAST
"""
INET6 = """00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 04 40 00 80     eth0
"""


@pytest.fixture(name="option")
def fixture_option() -> Iterator[None]:
    """``server.allowedHosts`` as the test sets it, and as it was afterwards."""
    before = config.get_option(hosts.OPTION), config.get_where_defined(hosts.OPTION)
    yield
    config.set_option(hosts.OPTION, before[0], before[1])


def test_the_kernels_tables_give_every_local_address(tmp_path: Path) -> None:
    (tmp_path / "trie").write_text(TRIE)
    (tmp_path / "inet6").write_text(INET6)

    assert [str(a) for a in hosts._linux_ipv4(tmp_path / "trie")] == ["127.0.0.1", "192.0.2.2"]
    assert [str(a) for a in hosts._linux_ipv6(tmp_path / "inet6")] == ["::1", "fd00::2"]


def test_missing_tables_give_nothing(tmp_path: Path) -> None:
    assert list(hosts._linux_ipv4(tmp_path / "none")) == []
    assert list(hosts._linux_ipv6(tmp_path / "none")) == []


def test_own_names_are_addresses_or_this_machines_names() -> None:
    for name in hosts.own_names():
        try:
            ipaddress.ip_address(name)
        except ValueError:
            assert name.split(".")[0] in hosts.socket.gethostname().lower()


@pytest.mark.usefixtures("option")
def test_the_configured_list_gains_this_machines_names() -> None:
    config.set_option(hosts.OPTION, ["localhost"], "a config.toml")

    hosts._extend()

    assert config.get_option(hosts.OPTION) == ["localhost", *hosts.own_names()]


@pytest.mark.usefixtures("option")
@pytest.mark.parametrize(("value", "where"), [
    ([], "a config.toml"), (["*"], "a config.toml"),
    (["dashboard.example.com"], "environment variable"),
    (["dashboard.example.com"], "command-line argument or environment variable")])
def test_a_list_that_accepts_any_name_or_the_deployments_own_stays(value: list[str],
                                                                  where: str) -> None:
    config.set_option(hosts.OPTION, value, where)

    hosts._extend()

    assert config.get_option(hosts.OPTION) == value
