"""The command line, run as a real subprocess against a real data folder.

Every test builds its installation with the core in this process (a real
TinyDB file, a real key), then runs ``python -m connections_core ...`` with
only the environment a person would set, and reads its exit code and output.
Independent commands run at once, to keep the file quick.
"""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connections_core import TinyDBStore, crypto, generate_key
from connections_core.backup import export_backup, write_backup
from tests.fakes import API_KEY, FakeServer, unused_url
from tests.installations import SECRET_TAIL, Installation, Ran, assert_one_line_error, finish
from tests.together import on_a_terminal

COMMANDS = ("list", "test", "rotate-key", "export", "import", "purge", "doctor")
PASSPHRASE = "correct horse battery staple"
#: The address space a command run by :func:`start_bounded` may take: several times
#: what an import needs, far less than reading a gigabyte.
MEMORY_BOUND = 512 * 2**20


def start_bounded(site: Installation, *args: str, **env: str | None
                  ) -> subprocess.Popen[str]:
    """``site.start(...)`` in at most :data:`MEMORY_BOUND` of address space, so a
    command that reads without a limit fails at once instead of filling the machine."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BOUND, MEMORY_BOUND))

    return subprocess.Popen([sys.executable, "-m", "connections_core", *args], cwd=site.home,
                            env=site.env(**env), text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit)


def finish_within(process: subprocess.Popen[str], bound: float) -> Ran:
    """Its result, or the test fails once ``bound`` seconds have passed (and it is stopped)."""
    try:
        out, err = process.communicate(timeout=bound)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"still running after {bound} s")
    return Ran(process.returncode, out, err)


@pytest.fixture
def site(tmp_path: Path) -> Installation:
    """An installation with nothing in it yet (its data folder exists)."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    return Installation(tmp_path, data, generate_key())


@pytest.fixture
def stocked(site: Installation, fake_server: FakeServer) -> Installation:
    """Two workspaces: in ``default`` an OpenAI connection that works, one whose key
    is refused and an Ollama one; in ``team-b`` one that works; one deleted."""
    default = site.service()
    default.create("openai", "Main", {"apiKey": API_KEY, "baseUrl": fake_server.openai_url})
    default.create("openai", "Stale", {"apiKey": "sk-wrong-0000000000000000QQQQ",
                                       "baseUrl": fake_server.openai_url})
    default.create("ollama", "GPU box", {"baseUrl": fake_server.url})
    gone = default.create("anthropic", "Old", {"apiKey": API_KEY,
                                               "baseUrl": fake_server.anthropic_url})
    default.delete(gone.id)
    site.service("team-b").create("openai", "B main", {"apiKey": API_KEY,
                                                       "baseUrl": fake_server.openai_url})
    return site


# -- every command ----------------------------------------------------------------------------

def test_every_command_has_help_with_an_example(site: Installation) -> None:
    for command, ran in zip(COMMANDS, site.run_all(*([c, "--help"] for c in COMMANDS)),
                            strict=True):
        assert ran.code == 0, (command, ran)
        assert "Example" in ran.out and "--data-dir" in ran.out, command


def test_usage_errors_exit_2_with_one_line(site: Installation, tmp_path: Path) -> None:
    bad_flag, both, no_folder, bad_timeout, no_command = site.run_all(
        ["list", "--bogus"], ["list", "--workspace", "a", "--all-workspaces"],
        ["list", "--data-dir", str(tmp_path / "nowhere")], ["test", "--timeout", "0"], [])
    assert no_command.code == 2 and "Commands:" in no_command.out
    assert_one_line_error(bad_flag, 2, "--bogus", "python -m connections_core list --help")
    assert_one_line_error(both, 2, "--all-workspaces")
    assert_one_line_error(no_folder, 2, "--data-dir")
    assert_one_line_error(bad_timeout, 2, "--timeout")
    assert not (tmp_path / "nowhere").exists()


def test_no_key_is_refused_and_none_is_generated(site: Installation) -> None:
    ran = site.run("list", ENCRYPTION_KEY=None)
    assert_one_line_error(ran, 2, "ENCRYPTION_KEY")
    assert not (site.data / "encryption.key").exists()


def test_a_wrong_or_malformed_key_exits_2_and_writes_nothing(stocked: Installation) -> None:
    before = stocked.data_file.read_bytes()
    started = [stocked.start("test", ENCRYPTION_KEY=generate_key()),
               stocked.start("list", ENCRYPTION_KEY="not-a-key")]
    wrong, malformed = (finish(process) for process in started)
    assert_one_line_error(wrong, 2, "does not match")
    assert_one_line_error(malformed, 2, "64 hexadecimal characters")
    assert stocked.data_file.read_bytes() == before


# -- list -------------------------------------------------------------------------------------

def test_list_shows_a_table_and_json(stocked: Installation, fake_server: FakeServer) -> None:
    # Piped, with no COLUMNS to fit: the whole table (test_cli_output fits it to a width).
    table, as_json, everywhere, deleted = (finish(stocked.start(*args, COLUMNS=None)) for args in (
        ["list"], ["list", "--json"], ["list", "--all-workspaces", "--json"],
        ["list", "--deleted", "--json"]))
    assert table.code == 0, table
    for word in ("Name", "Provider", "Default", "Status", "Last checked", "Address", "Key",
                 "Main", "Stale", "GPU box", "OpenAI", "Ollama", "never", "••••",
                 "Not checked"):
        assert word in table.out
    assert "B main" not in table.out and "Old" not in table.out
    rows = {c["name"]: c for c in as_json.json()["connections"]}
    assert set(rows) == {"Main", "Stale", "GPU box"}
    assert rows["Main"]["is_default"] is True and rows["Stale"]["is_default"] is False
    assert rows["Main"]["has_key"] is True and rows["GPU box"]["has_key"] is False
    assert rows["Main"]["status"] == "unconfigured" and rows["Main"]["last_checked_at"] is None
    assert rows["Main"]["workspace"] == "default" and rows["Main"]["type"] == "openai"
    # "address" is where its checks go (Bedrock has no base URL); "base_url" stays for scripts.
    assert rows["Main"]["address"] == rows["Main"]["base_url"] == fake_server.openai_url
    assert {c["name"] for c in everywhere.json()["connections"]} == {
        "Main", "Stale", "GPU box", "B main"}
    [old] = deleted.json()["connections"]
    assert old["name"] == "Old" and old["deleted_at"] is not None


# -- test -------------------------------------------------------------------------------------

def test_test_records_results_and_exits_1_when_one_fails(stocked: Installation) -> None:
    text, as_json = stocked.run_all(["test"], ["test", "--workspace", "team-b", "--json",
                                               "--timeout", "5"])
    assert text.code == 1, text
    assert "Connected  default/Main (OpenAI" in text.out
    assert "Error      default/Stale (OpenAI" in text.out
    assert "Connected  default/GPU box (Ollama" in text.out
    assert "Tested 3 connections: 2 connected, 1 failed." in text.out
    assert as_json.code == 0, as_json
    document = as_json.json()
    assert document["ok"] is True and document["count"] == 1 and document["failed"] == 0
    [result] = document["results"]
    assert result["name"] == "B main" and result["success"] is True and result["kind"] == "ok"
    # Recorded as the dashboard's "Test all" records them, by the CLI.
    service = stocked.service()
    statuses = {c.name: c.status for c in service.list()}
    assert statuses == {"Main": "connected", "Stale": "error", "GPU box": "connected"}
    [run] = service.audit(action="connections.tested_all")
    assert run.actor == "cli" and dict(run.details) == {"count": 3, "failed": 1}


def test_a_terminal_gets_a_progress_bar(stocked: Installation) -> None:
    """On a terminal the results are printed above a bar; piped, there is no bar."""
    code, shown = on_a_terminal([sys.executable, "-m", "connections_core", "test"],
                                stocked.home, stocked.env(TERM="xterm"))
    assert code == 1
    assert "Checking connections" in shown and "Error      default/Stale" in shown
    piped = stocked.run("test")
    assert "Checking connections" not in piped.output


def test_test_of_an_empty_workspace_passes(site: Installation) -> None:
    ran = site.run("test", "--json")
    assert ran.code == 0 and ran.json() == {"ok": True, "count": 0, "failed": 0, "results": []}


def test_an_unreachable_server_fails_the_check(site: Installation) -> None:
    site.service().create("ollama", "Gone", {"baseUrl": unused_url()})
    ran = site.run("test", "--json")
    assert ran.code == 1
    [result] = ran.json()["results"]
    assert result["success"] is False and result["kind"] == "unreachable"


# -- rotate-key -----------------------------------------------------------------------------

def test_rotate_key_check_before_and_after_a_rotation(stocked: Installation) -> None:
    old, new = stocked.key, generate_key()
    rotating = {"ENCRYPTION_KEY": new, "ENCRYPTION_KEY_PREVIOUS": old}
    before = stocked.run("rotate-key", "--check", "--json", **rotating)
    assert before.code == 1, before
    document = before.json()
    assert document["residual"] == 4 and document["previous_key"] == 4
    assert {(s["workspace"], s["name"], s["reason"]) for s in document["secrets"]} == {
        ("default", "Main", "previous_key"), ("default", "Stale", "previous_key"),
        ("default", "Old", "previous_key"), ("team-b", "B main", "previous_key")}
    assert all(s["field"] == "apiKey" and s["id"] for s in document["secrets"])

    rotated = stocked.run("rotate-key", **rotating)
    assert rotated.code == 0, rotated
    assert "Re-encrypted 4 secrets" in rotated.out and "Residual: 0" in rotated.out

    after = stocked.run("rotate-key", "--check", "--json", ENCRYPTION_KEY=new)
    assert after.code == 0, after
    assert after.json() == {"ok": True, "rotated": None, "residual": 0, "previous_key": 0,
                            "no_key": 0, "unbound": 0, "secrets": []}
    service = stocked.service(key=new)
    assert service.resolve_config("openai")["apiKey"] == API_KEY
    [entry] = service.audit(action="keys.rotated")
    assert entry.actor == "cli"


def test_rotate_key_with_an_undecryptable_secret_changes_nothing(stocked: Installation
                                                                 ) -> None:
    data = json.loads(stocked.data_file.read_text())
    stale = next(r for r in data["connections"].values() if r["name"] == "Stale")
    stale["config"]["apiKey"] = "sk-planted-in-plain-text"
    stocked.data_file.write_text(json.dumps(data))
    before = stocked.data_file.read_bytes()
    check, rotate = stocked.run_all(["rotate-key", "--check"], ["rotate-key"])
    assert check.code == 1 and "default/Stale" in check.out and "no key decrypts" in check.out
    assert rotate.code == 1 and "Nothing was re-encrypted" in rotate.err
    assert "Traceback" not in rotate.output
    assert stocked.data_file.read_bytes() == before


def test_rotate_key_reseals_old_keys_only_where_the_operator_agreed(
        stocked: Installation) -> None:
    """Old unbound keys were re-sealed, and so used, without anyone seeing where they
    would be sent: now rotate-key shows each base URL and asks (or takes --yes)."""
    with TinyDBStore(stocked.data_file).transaction() as tx:
        tx.update_connections(
            (record["workspace_id"], record["id"],
             {"config": {**record["config"], "apiKey": crypto.encrypt(API_KEY, stocked.key)}})
            for record in tx.connections(None) if "apiKey" in record["config"])

    refused = stocked.run("rotate-key", "--json")
    assert refused.code == 1, refused
    assert "Not re-sealing them without confirmation" in refused.err and "--yes" in refused.err
    main = next(s for s in refused.json()["secrets"] if s["name"] == "Main")
    assert main["reason"] == "unbound" and main["base_url"].startswith("http://127.0.0.1:")
    assert f"default/Main ({main['id']}, apiKey) -> {main['base_url']}" in refused.err
    assert refused.json()["unbound"] == 4 and '"v1:' in stocked.data_file.read_text()

    code, shown = on_a_terminal([sys.executable, "-m", "connections_core", "rotate-key"],
                                stocked.home, stocked.env(), typed="y\n")
    assert code == 0, shown
    assert "Do these keys belong at these addresses?" in shown and "Residual: 0" in shown
    assert '"v1:' not in stocked.data_file.read_text()
    assert stocked.service().resolve_config("openai")["apiKey"] == API_KEY


# -- purge ------------------------------------------------------------------------------------

def test_purge_removes_only_what_was_deleted_long_enough_ago(stocked: Installation) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=40)
    then = stocked.service(clock=lambda: long_ago)
    ancient = then.create("openai", "Ancient", {"apiKey": API_KEY,
                                                "baseUrl": "http://127.0.0.1:9/v1"})
    then.delete(ancient.id)

    refused = stocked.run("purge", "--deleted-before", "30")
    assert_one_line_error(refused, 2, "--yes")
    assert "Ancient" in refused.out
    assert {c.name for c in stocked.service().list_deleted()} == {"Ancient", "Old"}

    purged = stocked.run("purge", "--deleted-before", "30", "--yes")
    assert purged.code == 0, purged
    assert "Removed default/Ancient" in purged.out and "Old" not in purged.out
    service = stocked.service()
    assert [c.name for c in service.list_deleted()] == ["Old"]
    [entry] = service.audit(action="connection.purged")
    assert entry.actor == "cli" and entry.target_name == "Ancient"

    nothing = stocked.run("purge", "--deleted-before", "30")
    assert nothing.code == 0 and "nothing to remove" in nothing.out


# -- doctor -----------------------------------------------------------------------------------

def test_doctor_passes_a_healthy_installation(stocked: Installation) -> None:
    secrets = stocked.home / ".streamlit" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text('[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\n'
                       f'cookie_secret = "{"c" * 40}"\nclient_id = "id"\n'
                       'client_secret = "s"\n'
                       'server_metadata_url = "https://id.example.com/.well-known/x"\n')
    text, as_json = stocked.run_all(["doctor"], ["doctor", "--json"])
    assert text.code == 0, text
    assert "FAIL" not in text.out
    document = as_json.json()
    assert document["ok"] is True
    checks = {c["name"]: c for c in document["checks"]}
    assert {name for name, c in checks.items() if c["status"] != "passed"} == set()
    assert {"key", "store", "key_fits", "residual_secrets", "data_file_mode", "lock_file_mode",
            "data_folder_mode", "lock", "defaults", "sign_in"} <= set(checks)


def test_doctor_finds_a_readable_file_and_two_defaults(stocked: Installation) -> None:
    data = json.loads(stocked.data_file.read_text())
    for record in data["connections"].values():
        if record["name"] == "Stale":
            record["is_default"] = True
    stocked.data_file.write_text(json.dumps(data))
    stocked.data_file.chmod(0o644)
    text, as_json = stocked.run_all(["doctor"], ["doctor", "--json"])
    assert text.code == 1, text
    assert f"chmod 600 {stocked.data_file}" in text.out
    document = as_json.json()
    assert document["ok"] is False
    failed = {c["name"]: c for c in document["checks"] if c["status"] == "failed"}
    assert set(failed) == {"data_file_mode", "defaults"}
    assert "'default' has 2 default OpenAI connections (Main, Stale)" in \
        failed["defaults"]["message"]
    sign_in = next(c for c in document["checks"] if c["name"] == "sign_in")
    assert sign_in["status"] == "warning" and "[auth]" in sign_in["fix"]


def test_doctor_reports_a_wrong_key_and_generates_none(stocked: Installation) -> None:
    wrong, missing = (stocked.run("doctor", "--json", ENCRYPTION_KEY=generate_key()),
                      stocked.run("doctor", "--json", ENCRYPTION_KEY=None))
    assert wrong.code == 1 and missing.code == 1
    assert {c["name"]: c["status"] for c in wrong.json()["checks"]}["key_fits"] == "failed"
    assert {c["name"]: c["status"] for c in missing.json()["checks"]}["key"] == "failed"
    assert not (stocked.data / "encryption.key").exists()


def test_doctor_on_a_damaged_store(site: Installation) -> None:
    site.data_file.write_text("{not json")
    ran = site.run("doctor", "--json")
    assert ran.code == 1
    store = next(c for c in ran.json()["checks"] if c["name"] == "store")
    assert store["status"] == "failed" and "not valid JSON" in store["message"]


# -- secrets never leak -------------------------------------------------------------------

def test_no_command_prints_a_key_a_token_or_its_last_four(stocked: Installation,
                                                          tmp_path: Path) -> None:
    stocked.data_file.chmod(0o600)
    tokens = [record["config"]["apiKey"] for record in
              json.loads(stocked.data_file.read_text())["connections"].values()
              if "apiKey" in record["config"]]
    assert tokens
    new = generate_key()
    rans = stocked.run_all(
        ["list"], ["list", "--all-workspaces", "--json"], ["list", "--deleted"],
        ["test"], ["test", "--json"], ["rotate-key", "--check"], ["doctor"],
        ["doctor", "--json"], ["purge", "--deleted-before", "0"])
    backup, other = str(tmp_path / "b.json"), str(tmp_path / "other")
    rans.append(stocked.run("export", backup, "--all-workspaces", "--passphrase-env", "P",
                            P=PASSPHRASE))
    rans.append(stocked.run("import", backup, "--data-dir", other, "--passphrase-env", "P",
                            P=PASSPHRASE))
    rans.append(stocked.run("rotate-key", "--json", ENCRYPTION_KEY=new,
                            ENCRYPTION_KEY_PREVIOUS=stocked.key))
    tokens += [record["config"]["apiKey"] for record in
               json.loads(stocked.data_file.read_text())["connections"].values()
               if "apiKey" in record["config"]]
    for ran in rans:
        text = ran.output.lower()
        for secret in (stocked.key, new, API_KEY, SECRET_TAIL, "QQQQ", PASSPHRASE, *tokens):
            assert secret.lower() not in text
    assert stat.S_IMODE(stocked.data_file.stat().st_mode) == 0o600


# -- export and import ------------------------------------------------------------------------

def test_export_then_import_under_another_key_gives_the_same_credentials(
        stocked: Installation, tmp_path: Path) -> None:
    backup = tmp_path / "all.backup.json"
    exported = stocked.run("export", str(backup), "--all-workspaces",
                           "--passphrase-env", "BACKUP_PASSPHRASE", BACKUP_PASSPHRASE=PASSPHRASE)
    assert exported.code == 0, exported
    assert "5 connections, 1 of them deleted" in exported.out
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stocked.key not in backup.read_text() and API_KEY not in backup.read_text()

    damaged_copy = tmp_path / "damaged.backup.json"
    damaged_copy.write_text(backup.read_text().replace('"Stale"', '"Stole"', 1))
    other = Installation(tmp_path, tmp_path / "elsewhere" / "data", generate_key())
    wrong, damaged, no_terminal = (finish(p) for p in [
        other.start("import", str(backup), "--passphrase-env", "P", P="not the passphrase"),
        other.start("import", str(damaged_copy), "--passphrase-env", "P", P=PASSPHRASE),
        other.start("import", str(backup))])
    assert_one_line_error(wrong, 2, "Wrong passphrase", "nothing was imported")
    assert_one_line_error(damaged, 2, "edited", "nothing was imported")
    assert_one_line_error(no_terminal, 2, "--passphrase-env")
    assert not other.data.exists()  # nothing written, not even the folder

    imported = other.run("import", str(backup), "--passphrase-env", "P", P=PASSPHRASE)
    assert imported.code == 0, imported
    assert imported.out.count("created   ") == 5 and "created 5, replaced 0" in imported.out
    for workspace in ("default", "team-b"):
        source, target = stocked.service(workspace), other.service(workspace)
        for connection in source.list():
            assert target.resolve_config(connection.type, connection.id) == \
                source.resolve_config(connection.type, connection.id)
    assert {c.name for c in other.service().list_deleted()} == {"Old"}
    assert {e.actor for e in other.service().audit(action="connection.imported")} == {"cli"}


def test_import_dry_run_and_each_conflict_mode(stocked: Installation, tmp_path: Path) -> None:
    backup = tmp_path / "default.backup.json"
    stocked.run("export", str(backup), "--passphrase-env", "P", P=PASSPHRASE)
    main = next(c for c in stocked.service().list() if c.name == "Main")
    stocked.service().update(main.id, main.version, name="Main renamed")
    before = stocked.data_file.read_bytes()

    def start(*flags: str) -> subprocess.Popen[str]:
        return stocked.start("import", str(backup), "--passphrase-env", "P", *flags,
                             P=PASSPHRASE)

    def imported(*flags: str) -> Ran:
        ran = finish(start(*flags))
        assert ran.code == 0, ran
        return ran

    # Neither writes anything, so they may run at once.
    dry, skipped = (finish(p) for p in [start("--on-conflict", "replace", "--dry-run"),
                                        start()])
    assert dry.code == 0 and skipped.code == 0, (dry, skipped)
    assert "replaced 4" in dry.out and "Dry run: nothing was written." in dry.out
    assert "skipped 4" in skipped.out and "created 0" in skipped.out
    assert stocked.data_file.read_bytes() == before
    replaced = imported("--on-conflict", "replace")
    assert "replaced 4" in replaced.out
    assert "Main" in {c.name for c in stocked.service().list()}
    copied = imported("--on-conflict", "copy")
    assert "copied 4" in copied.out
    assert {c.name for c in stocked.service().list()} == {
        "Main", "Stale", "GPU box", "Main (imported)", "Stale (imported)", "GPU box (imported)"}


def test_import_refuses_a_huge_file_without_reading_it(site: Installation,
                                                       tmp_path: Path) -> None:
    """`import` read the whole file before its size cap: 1 GiB took 1,066 MiB."""
    huge = tmp_path / "huge.backup.json"
    with huge.open("wb") as file:
        file.truncate(2**30)  # sparse: a gigabyte that takes no disk

    # In 512 MiB of address space: reading the file would end in a MemoryError. (Its
    # peak is not measured here: a child's ru_maxrss starts at the test process's own.
    # test_backup measures load_backup's with tracemalloc.)
    ran = finish_within(start_bounded(site, "import", str(huge), "--passphrase-env", "P",
                                      P=PASSPHRASE), 60)

    assert_one_line_error(ran, 2, "larger than a backup may be", "nothing was imported")
    assert list(site.data.iterdir()) == []


@pytest.mark.parametrize("kind", ["device", "named pipe"])
def test_import_refuses_what_is_not_a_file_at_once(site: Installation, tmp_path: Path,
                                                    kind: str) -> None:
    """`import /dev/zero` read until MemoryError, and a named pipe waited for a writer."""
    path = Path("/dev/zero")
    if kind == "named pipe":
        path = tmp_path / "pipe.backup.json"
        os.mkfifo(path)

    ran = finish_within(start_bounded(site, "import", str(path), "--passphrase-env", "P",
                                      P=PASSPHRASE), bound=20)

    assert_one_line_error(ran, 2, f"is a {kind}", "not a file", "nothing was imported")
    assert list(site.data.iterdir()) == []


# -- import: what is confirmed ----------------------------------------------------------------

ELSEWHERE = "http://127.0.0.1:9/v1"


def backup_of(site: Installation, path: Path) -> Path:
    """The backup of ``site``'s default workspace (at scrypt's least cost, to be quick)."""
    write_backup(path, export_backup(site.service(), ["default"], PASSPHRASE, scrypt_n=2**14))
    return path


@pytest.fixture
def with_an_admin(stocked: Installation, tmp_path: Path) -> Path:
    """A backup whose default workspace has an admin, ana@example.com."""
    stocked.service().set_member("ana@example.com", "admin")
    return backup_of(stocked, tmp_path / "with-an-admin.backup.json")


@pytest.fixture
def moved_default(stocked: Installation, tmp_path: Path) -> Path:
    """A backup of ``stocked``, whose default OpenAI connection (Main) has since been
    pointed elsewhere: replacing it from the backup changes the default's base URL."""
    backup = backup_of(stocked, tmp_path / "default.backup.json")
    service = stocked.service()
    main = next(c for c in service.list() if c.name == "Main")
    service.update(main.id, main.version, config={"baseUrl": ELSEWHERE, "apiKey": API_KEY})
    return backup


def nowhere(tmp_path: Path) -> Installation:
    """An installation that doesn't exist yet."""
    return Installation(tmp_path, tmp_path / "elsewhere" / "data", generate_key())


def import_on_a_terminal(site: Installation, backup: Path, *flags: str,
                         typed: str) -> tuple[int, str]:
    return on_a_terminal([sys.executable, "-m", "connections_core", "import", str(backup),
                          "--passphrase-env", "P", *flags], site.home,
                         site.env(TERM="xterm", P=PASSPHRASE), typed=typed)


def test_an_import_that_adds_an_admin_needs_yes_without_a_terminal(
        with_an_admin: Path, tmp_path: Path) -> None:
    """An import that made someone an admin only printed it: nothing asked."""
    other = nowhere(tmp_path)

    ran = other.run("import", str(with_an_admin), "--passphrase-env", "P", P=PASSPHRASE)

    assert_one_line_error(ran, 2, "not a terminal", "pass --yes", "nothing was imported")
    assert "admin     default/ana@example.com" in ran.out
    assert not other.data.exists()


def test_an_import_that_adds_an_admin_goes_ahead_with_yes(with_an_admin: Path,
                                                         tmp_path: Path) -> None:
    other = nowhere(tmp_path)

    ran = other.run("import", str(with_an_admin), "--passphrase-env", "P", "--yes",
                    P=PASSPHRASE)

    assert ran.code == 0, ran
    assert "member    default/ana@example.com (admin)" in ran.out
    assert [(m.email, m.role) for m in other.service().members()] == [
        ("ana@example.com", "admin")]


def test_an_import_that_adds_an_admin_asks_on_a_terminal(with_an_admin: Path,
                                                        tmp_path: Path) -> None:
    other = nowhere(tmp_path)

    code, shown = import_on_a_terminal(other, with_an_admin, typed="y\n")

    assert code == 0, shown
    assert "admin     default/ana@example.com" in shown and "Import, with these changes?" in shown
    assert [m.email for m in other.service().members()] == ["ana@example.com"]


def test_declining_an_import_that_adds_an_admin_writes_nothing(with_an_admin: Path,
                                                              tmp_path: Path) -> None:
    other = nowhere(tmp_path)

    code, shown = import_on_a_terminal(other, with_an_admin, typed="n\n")

    assert code == 1, shown
    assert "Nothing was imported." in shown
    assert not other.data.exists()  # not even the folder, or a key file


def test_a_replace_that_moves_a_default_needs_yes_without_a_terminal(
        stocked: Installation, moved_default: Path, fake_server: FakeServer) -> None:
    """Replacing a default connection with one of another base URL only printed
    "replaced": nothing said the default would now send its requests elsewhere."""
    before = stocked.data_file.read_bytes()

    ran = stocked.run("import", str(moved_default), "--passphrase-env", "P",
                      "--on-conflict", "replace", P=PASSPHRASE)

    assert_one_line_error(ran, 2, "pass --yes", "nothing was imported")
    assert "default/Main (OpenAI, " in ran.out
    assert f"base URL {ELSEWHERE} -> {fake_server.openai_url}" in ran.out
    assert stocked.data_file.read_bytes() == before


def test_a_replace_that_moves_a_default_asks_on_a_terminal(
        stocked: Installation, moved_default: Path, fake_server: FakeServer) -> None:
    code, shown = import_on_a_terminal(stocked, moved_default, "--on-conflict", "replace",
                                       typed="y\n")

    assert code == 0, shown
    assert f"base URL {ELSEWHERE} -> {fake_server.openai_url}" in shown
    default = stocked.service().get_default("openai")
    assert default is not None and default.name == "Main"
    assert default.base_url == fake_server.openai_url


def test_declining_a_replace_that_moves_a_default_writes_nothing(
        stocked: Installation, moved_default: Path) -> None:
    before = stocked.data_file.read_bytes()

    code, shown = import_on_a_terminal(stocked, moved_default, "--on-conflict", "replace",
                                       typed="n\n")

    assert code == 1, shown
    assert "Nothing was imported." in shown
    assert stocked.data_file.read_bytes() == before


def test_a_dry_run_names_what_an_import_would_ask_about(
        stocked: Installation, moved_default: Path, fake_server: FakeServer) -> None:
    ran = stocked.run("import", str(moved_default), "--passphrase-env", "P",
                      "--on-conflict", "replace", "--dry-run", P=PASSPHRASE)

    assert ran.code == 0, ran
    assert f"base URL {ELSEWHERE} -> {fake_server.openai_url}" in ran.out
    assert "--yes" in ran.out and "Dry run: nothing was written." in ran.out


def test_a_dry_run_previews_an_import_into_a_new_folder(with_an_admin: Path,
                                                        tmp_path: Path) -> None:
    """`import --dry-run --data-dir NEW` refused ("There is no data folder"), though
    the import itself makes the folder: a dry run previews a new installation too."""
    other = nowhere(tmp_path)
    new_folder = ["--data-dir", str(other.data), "--passphrase-env", "P", "--dry-run"]

    with_key, without_key = (
        other.run("import", str(with_an_admin), *new_folder, P=PASSPHRASE, **key)
        for key in ({}, {"ENCRYPTION_KEY": None}))

    for ran in (with_key, without_key):
        assert ran.code == 0, ran
        assert ran.out.count("created   ") == 4 and "created 4, replaced 0" in ran.out
        assert "member    default/ana@example.com (admin)" in ran.out
        assert "Dry run: nothing was written." in ran.out and "--yes" in ran.out
    assert "key file" in without_key.out
    assert not (tmp_path / "elsewhere").exists()  # not the folder, nor its parent


def test_export_of_an_unknown_workspace_is_refused(stocked: Installation,
                                                   tmp_path: Path) -> None:
    ran = stocked.run("export", str(tmp_path / "x.json"), "--workspace", "nope",
                      "--passphrase-env", "P", P=PASSPHRASE)
    assert_one_line_error(ran, 2, "no workspace 'nope'")
    assert not (tmp_path / "x.json").exists()


def test_a_name_edited_into_the_file_cannot_drive_the_terminal(site: Installation) -> None:
    """The data file is not trusted: an escape sequence in a name is printed as text."""
    site.service().create("ollama", "Local", {"baseUrl": "http://127.0.0.1:9"})
    site.data_file.write_text(site.data_file.read_text().replace(
        '"Local"', '"Local\\u001b]0;pwned\\u0007\\u001b[2J"'))

    table, error = site.run_all(["list"], ["list", "--workspace", "\x1b[2J"])

    assert table.code == 0, table
    assert "Local" in table.out
    assert "\x1b" not in table.output and "\x07" not in table.output
    assert error.code == 2 and "\x1b" not in error.output


def test_json_escapes_controls_that_a_terminal_obeys(site: Installation) -> None:
    """`list --json` and `test --json` printed a name's U+009B (a terminal's CSI),
    U+009D and U+202E raw; the tables already replaced them."""
    site.service().create("ollama", "Local", {"baseUrl": unused_url()})
    site.data_file.write_text(site.data_file.read_text().replace(
        '"Local"', '"Lo\\u009b2J\\u009d0;x\\u202ecal"'))

    listed, tested = site.run_all(["list", "--json"], ["test", "--json"])

    name = "Lo\u009b2J\u009d0;x\u202ecal"
    assert listed.json()["connections"][0]["name"] == name
    assert tested.json()["results"][0]["name"] == name
    for ran in (listed, tested):
        assert not {"\u009b", "\u009d", "\u202e"} & set(ran.out), ran.out
        assert '"Lo\\u009b2J\\u009d0;x\\u202ecal"' in ran.out
