"""What the command line prints for people: tables that fit the terminal, a
workspace that isn't there, and counts and times in words.

As in ``test_cli.py``, each test builds a real installation with the core, then
runs ``python -m connections_core`` as a subprocess (on a pseudo-terminal where
the width of a real terminal matters) and reads what it shows.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connections_core import generate_key
from connections_core.models import Connection
from tests.fakes import API_KEY, FakeServer
from tests.installations import Installation, assert_one_line_error
from tests.together import on_a_terminal

COMMANDS = ("list", "test", "rotate-key", "export", "import", "purge", "doctor",
            "migrate-store")
PASSPHRASE = "correct horse battery staple"
WIDE_HEADERS = ("Workspace", "Name", "Provider", "Default", "Status", "Last checked",
                "Address", "Key")
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def new_site(tmp_path: Path) -> Installation:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    return Installation(tmp_path, data, generate_key())


@pytest.fixture
def checked(tmp_path: Path, fake_server: FakeServer) -> Installation:
    """A workspace as a team has it: four connections checked (one failed), one not yet."""
    site = new_site(tmp_path)
    service = site.service()
    service.create("openai", "Production OpenAI", {"apiKey": API_KEY,
                                                   "baseUrl": fake_server.openai_url})
    service.create("anthropic", "Anthropic (team)", {"apiKey": API_KEY,
                                                     "baseUrl": fake_server.anthropic_url})
    service.create("ollama", "GPU box", {"baseUrl": fake_server.url})
    service.create("openai", "Stale key", {"apiKey": "sk-wrong-0000000000000000QQQQ",
                                           "baseUrl": fake_server.openai_url})
    service.test_all()
    service.create("ollama", "Spare", {"baseUrl": fake_server.url})
    return site


def on_terminal(site: Installation, *args: str, columns: int) -> str:
    """What ``args`` shows on a terminal ``columns`` wide (escape sequences removed)."""
    code, shown = on_a_terminal([sys.executable, "-m", "connections_core", *args],
                                site.home, site.env(TERM="xterm", COLUMNS=str(columns)))
    assert code == 0, shown
    return _ESCAPES.sub("", shown).replace("\r\n", "\n")


def short_time(when: datetime | None) -> str:
    return "never" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def row_of(shown: str, connection: Connection) -> str:
    [line] = [line for line in shown.splitlines() if connection.name in line]
    return line


# -- list: a table that fits -------------------------------------------------------------------

def test_list_at_80_and_100_columns_keeps_names_base_urls_and_dates_whole(
        checked: Installation) -> None:
    """At 80 columns `list` showed "http:/…" for a base URL, "2026-12…" for a date, and
    wrapped names: it now leaves out the least useful columns first."""
    connections = checked.service().list()
    narrow = on_terminal(checked, "list", columns=80)
    piped = checked.run("list", COLUMNS="100")

    assert piped.code == 0, piped
    for shown, width in ((narrow, 80), (piped.out, 100)):
        assert "…" not in shown, shown
        assert max(len(line) for line in shown.splitlines()) <= width, shown
        for connection in connections:
            row = row_of(shown, connection)
            assert connection.base_url in row and short_time(connection.last_checked_at) in row
    header = narrow.splitlines()[0]
    assert "Status" in header and "Key" not in header
    assert "Left out to fit 80 columns: Key" in narrow and "--wide" in narrow
    # With 20 more columns, more of them fit.
    assert "Provider" in piped.out.splitlines()[0]
    production = next(c for c in connections if c.name == "Production OpenAI")
    assert "OpenAI" in row_of(piped.out, production)


def test_list_wide_shows_every_column_whatever_the_width(checked: Installation) -> None:
    shown = on_terminal(checked, "list", "--wide", columns=80)

    for header in WIDE_HEADERS:
        assert header in shown
    for connection in checked.service().list():
        row = row_of(shown, connection)
        assert connection.base_url in row and "default" in row
        when = connection.last_checked_at
        assert (when.astimezone(UTC).isoformat(timespec="seconds") if when else "never") in row


def test_list_shows_each_connection_whole_when_no_table_fits(tmp_path: Path) -> None:
    """A base URL too long for any table at this width: each connection is shown as
    lines of its own, every value whole."""
    site = new_site(tmp_path)
    long_url = "http://gpu-01.research-cluster.example.internal:11434"
    site.service().create("ollama", "Research cluster, building 4", {"baseUrl": long_url})

    shown = on_terminal(site, "list", columns=80)

    assert "Research cluster, building 4" in shown and long_url in shown
    for label in ("Provider", "Status", "Last checked", "Address"):
        assert label in shown
    assert "…" not in shown
    assert max(len(line) for line in shown.splitlines()) <= 80, shown


# -- a workspace that isn't there --------------------------------------------------------------

def test_a_workspace_that_does_not_exist_is_an_error_naming_it(tmp_path: Path) -> None:
    """`list --workspace nope` printed "No connections" and exited 0."""
    site = new_site(tmp_path)
    site.service().create("ollama", "Local", {"baseUrl": "http://127.0.0.1:9"})
    site.service("team-b").set_member("ana@example.com", "admin")  # a member, no connection

    listed, tested, members_only, empty_default = site.run_all(
        ["list", "--workspace", "nope"], ["test", "--workspace", "nope", "--json"],
        ["list", "--workspace", "team-b"], ["list", "--workspace", "default", "--deleted"])

    assert_one_line_error(listed, 2, "no workspace 'nope'", "default, team-b")
    assert_one_line_error(tested, 2, "no workspace 'nope'")
    assert members_only.code == 0 and "No connections in workspace 'team-b'." in members_only.out
    assert empty_default.code == 0, empty_default


# -- words for people --------------------------------------------------------------------------

def test_help_examples_run_without_installing(tmp_path: Path) -> None:
    """`--help` showed `connections ...`, which exists only after `pip install .`."""
    site = new_site(tmp_path)
    shown = site.run_all(["--help"], *([c, "--help"] for c in COMMANDS),
                         ["list", "--bogus"])

    for ran in shown[:-1]:
        assert ran.code == 0, ran
        examples = ran.out.split("Example", 1)[1]
        assert "python -m connections_core " in examples, ran.out
        assert not re.search(r"(^|\s)connections (list|test|export|import|purge|doctor|"
                             r"rotate-key|migrate-store)\b", examples), examples
    assert_one_line_error(shown[-1], 2, "`python -m connections_core list --help`")


def test_test_says_failed_and_times_in_seconds(tmp_path: Path, fake_server: FakeServer,
                                              provider: FakeServer) -> None:
    """"Tested 2 connections: 1 connected, 1 error." and "(OpenAI, 1003 ms)"."""
    site = new_site(tmp_path)
    site.service().create("openai", "Quick", {"apiKey": API_KEY, "baseUrl": provider.openai_url})
    site.service().create("openai", "Slow", {"apiKey": API_KEY,
                                             "baseUrl": fake_server.openai_url})
    fake_server.hold()  # never answered: the check ends at its timeout, a second

    text, as_json = (site.run("test", "--timeout", "1", *flags) for flags in ((), ("--json",)))

    assert text.code == 1, text
    assert "Tested 2 connections: 1 connected, 1 failed." in text.out
    slow = next(line for line in text.out.splitlines() if "default/Slow" in line)
    assert re.search(r"\(OpenAI, 1\.\d s\)", slow), slow
    assert re.search(r"\(OpenAI, \d+ ms\)", next(
        line for line in text.out.splitlines() if "default/Quick" in line))
    # The JSON keeps its numbers.
    latency = {r["name"]: r["latency_ms"] for r in as_json.json()["results"]}
    assert isinstance(latency["Slow"], int) and latency["Slow"] >= 1000


def test_export_says_how_many_of_its_connections_are_deleted(tmp_path: Path) -> None:
    """`export` said "3 connections" when one of them was deleted."""
    site = new_site(tmp_path)
    service = site.service()
    for name in ("One", "Two"):
        service.create("ollama", name, {"baseUrl": "http://127.0.0.1:9"})
    service.delete(service.create("ollama", "Gone", {"baseUrl": "http://127.0.0.1:9"}).id)

    ran = site.run("export", str(tmp_path / "b.json"), "--passphrase-env", "P", P=PASSPHRASE)

    assert ran.code == 0, ran
    assert "3 connections, 1 of them deleted" in ran.out


def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    """"1 secrets", "1 days ago", "1 members added", "these 1 connections"."""
    site = new_site(tmp_path)
    site.service().create("openai", "Main", {"apiKey": API_KEY, "baseUrl": "http://127.0.0.1:9"})
    backup = tmp_path / "b.json"
    site.service().set_member("ana@example.com", "admin")
    assert site.run("export", str(backup), "--passphrase-env", "P", P=PASSPHRASE).code == 0
    other = Installation(tmp_path, tmp_path / "other", generate_key())

    rotated, purged = site.run_all(["rotate-key"], ["purge", "--deleted-before", "1"])
    imported = other.run("import", str(backup), "--passphrase-env", "P", "--yes",
                         P=PASSPHRASE)

    assert "Re-encrypted 1 secret with" in rotated.out, rotated
    assert "deleted more than 1 day ago" in purged.out, purged
    assert "1 member added" in imported.out, imported


def test_purge_asks_about_one_connection_in_the_singular(tmp_path: Path) -> None:
    """It asked "Remove these 1 connections for good?"."""
    site = new_site(tmp_path)
    service = site.service()
    service.delete(service.create("ollama", "Gone", {"baseUrl": "http://127.0.0.1:9"}).id)

    code, shown = on_a_terminal([sys.executable, "-m", "connections_core", "purge",
                                 "--deleted-before", "0"], site.home,
                                site.env(TERM="xterm"), typed="n\n")

    assert code == 1, shown
    assert "Deleted more than 0 days ago (1 connection):" in shown
    assert "Remove this connection for good?" in shown
    assert [c.name for c in service.list_deleted()] == ["Gone"]
