"""Portable backups: export from one data folder, import into another with another key."""

from __future__ import annotations

import json
import os
import stat
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connections_core import (
    ConflictError,
    ConnectionService,
    KeyRing,
    PermissionDeniedError,
    Store,
    TinyDBStore,
    ValidationError,
    generate_key,
)
from connections_core.backup import (
    SCRYPT_N,
    Backup,
    BackupError,
    BackupMember,
    DefaultMove,
    ImportEntry,
    _derive,
    _document_context,
    _passphrase_bytes,
    _seal,
    export_backup,
    import_backup,
    load_backup,
    read_backup,
    write_backup,
)
from tests import stores
from tests.support import ANTHROPIC_KEY, OPENAI_KEY, FakeClock

PASSPHRASE = "correct horse battery staple"
FAST_N = 2**14  # scrypt's least accepted cost: the full cost has a test of its own


@pytest.fixture
def source(service: ConnectionService) -> ConnectionService:
    """A workspace with one connection of each provider, a deleted one and a member."""
    service.create("openai", "Prod", {"apiKey": OPENAI_KEY})
    service.create("anthropic", "Claude", {"apiKey": ANTHROPIC_KEY})
    service.create("ollama", "GPU box", {"baseUrl": "http://10.0.0.7:11434"})
    gone = service.create("openai", "Old", {"apiKey": "sk-old-0000000000000000abcd"})
    service.delete(gone.id)
    service.set_member("ana@example.com", "admin")
    return service


@pytest.fixture
def target_store(store: Store, tmp_path: Path, request: pytest.FixtureRequest
                 ) -> Iterator[Store]:
    """Another empty store of the same kind as ``store``: another data folder, or
    another database on the same server."""
    if isinstance(store, TinyDBStore):
        yield TinyDBStore(tmp_path / "other" / "connections.json")
        return
    from connections_core.postgres import PostgresStore

    postgres = request.getfixturevalue("postgres")
    database = postgres.clean_database()
    try:
        with PostgresStore(postgres.dsn(database)) as other:
            yield other
    finally:
        postgres.recycle(database)


@pytest.fixture
def target(target_store: Store, clock: FakeClock) -> ConnectionService:
    """Another store, with another key."""
    return ConnectionService(target_store, KeyRing(generate_key()), clock=clock)


def exported(service: ConnectionService, workspaces: tuple[str, ...] = ("default",)) -> bytes:
    return export_backup(service, workspaces, PASSPHRASE, scrypt_n=FAST_N)


def resealed(data: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """``data`` edited by someone who knows the passphrase: the seal is made again."""
    document = json.loads(data)
    edit(document)
    aes_key = _derive(_passphrase_bytes(PASSPHRASE), document["kdf"])
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    document["seal"] = _seal(AESGCM(aes_key), b"", _document_context(document))
    return json.dumps(document).encode()


def first_connection(document: dict[str, Any], name: str) -> dict[str, Any]:
    found = document["workspaces"]["default"]["connections"]
    return next(c for c in found if c["name"] == name)


# -- the round trip ----------------------------------------------------------------------


def test_round_trip_to_another_key_resolves_the_same_credentials(
        source: ConnectionService, target: ConnectionService) -> None:
    backup = read_backup(exported(source), PASSPHRASE)
    report = import_backup(target, backup)
    assert report.counts == {"created": 4, "replaced": 0, "skipped": 0, "copied": 0}
    for type in ("openai", "anthropic", "ollama"):
        assert target.resolve_config(type) == source.resolve_config(type)
    assert {c.id for c in target.list()} == {c.id for c in source.list()}


def test_a_deleted_connection_and_the_members_come_too(
        source: ConnectionService, target: ConnectionService) -> None:
    import_backup(target, read_backup(exported(source), PASSPHRASE))
    assert [c.name for c in target.list_deleted()] == ["Old"]
    assert [(m.email, m.role) for m in target.members()] == [("ana@example.com", "admin")]


def test_imported_secrets_are_bound_to_their_new_record(
        source: ConnectionService, target: ConnectionService) -> None:
    import_backup(target, read_backup(exported(source), PASSPHRASE))
    record = next(r for r in target.store.connections()[1] if r["name"] == "Prod")
    assert record["config"]["apiKey"].startswith("v2:")
    assert target.get(record["id"]).config["apiKey"].endswith(OPENAI_KEY[-4:])


def test_status_and_last_result_are_kept(source: ConnectionService,
                                         target: ConnectionService) -> None:
    prod = next(c for c in source.list() if c.name == "Prod")
    stores.edit(source.store, prod.id, lambda record: record.update(
        status="connected", last_result={"success": True, "message": "12 models.",
                                         "kind": "ok", "latency_ms": 80, "status_code": 200}))
    import_backup(target, read_backup(exported(source), PASSPHRASE))
    imported = target.get(prod.id)
    assert imported.status == "connected"
    assert imported.last_result is not None and imported.last_result.message == "12 models."


def test_the_import_is_in_the_audit_trail(source: ConnectionService,
                                          target: ConnectionService) -> None:
    import_backup(target, read_backup(exported(source), PASSPHRASE))
    actions = [e.action for e in target.audit()]
    assert actions.count("connection.imported") == 4
    assert actions.count("member.imported") == 1
    assert not any(a.startswith("connection.created") for a in actions)


def test_the_full_strength_kdf_round_trips(source: ConnectionService,
                                           target: ConnectionService) -> None:
    data = export_backup(source, ["default"], PASSPHRASE)
    assert json.loads(data)["kdf"]["n"] == SCRYPT_N
    import_backup(target, read_backup(data, PASSPHRASE))
    assert target.resolve_config("openai")["apiKey"] == OPENAI_KEY


def test_several_workspaces_go_to_theirs_or_all_into_one(
        source: ConnectionService, target: ConnectionService) -> None:
    source.in_workspace("team-b").create("openai", "B", {"apiKey": "sk-b-00000000000000000bbbb"})
    backup = read_backup(exported(source, ("default", "team-b")), PASSPHRASE)
    assert backup.workspaces == ("default", "team-b")
    import_backup(target, backup)
    assert [c.name for c in target.in_workspace("team-b").list()] == ["B"]
    report = import_backup(target, backup, workspace="merged")
    assert {e.workspace for e in report.entries} == {"merged"}
    assert len(target.in_workspace("merged").list()) == 4
    assert target.in_workspace("merged").members() == []  # access is not moved with it


# -- what the file holds -----------------------------------------------------------------


def test_the_file_holds_no_secret_and_not_the_installation_key(
        source: ConnectionService, key: str) -> None:
    data = exported(source)
    text = data.decode()
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, "sk-old-0000000000000000abcd", key, key.upper()):
        assert secret not in text
    assert OPENAI_KEY[-4:] not in text and ANTHROPIC_KEY[-4:] not in text  # no hints
    stored = stores.secrets(source.store)
    assert not any(token.split(":")[-1] in text for token in stored)  # nor their ciphertext


def test_everything_but_the_secrets_is_readable_json(source: ConnectionService) -> None:
    document = json.loads(exported(source))
    assert (document["format"], document["version"]) == ("connections-backup", 1)
    assert set(document["kdf"]) == {"name", "n", "r", "p", "length", "salt"}
    prod = first_connection(document, "Prod")
    assert prod["config"] == {"baseUrl": "https://api.openai.com/v1"}
    assert set(prod["secrets"]) == {"apiKey"}


def test_each_export_has_its_own_salt(source: ConnectionService) -> None:
    salts = {json.loads(exported(source))["kdf"]["salt"] for _ in range(2)}
    assert len(salts) == 2


def test_a_backup_never_shows_its_secrets(source: ConnectionService) -> None:
    backup = read_backup(exported(source), PASSPHRASE)
    assert OPENAI_KEY not in repr(backup)
    assert OPENAI_KEY not in repr(backup.connections)


def test_a_signed_in_person_may_not_export(source: ConnectionService) -> None:
    ana = ConnectionService(source.store, source.keyring, actor="ana@example.com")
    with pytest.raises(PermissionDeniedError):
        exported(ana)


def test_a_short_passphrase_is_refused(source: ConnectionService) -> None:
    with pytest.raises(ValidationError, match="at least 8"):
        export_backup(source, ["default"], "short", scrypt_n=FAST_N)


# -- a wrong passphrase, a damaged file: an error, and nothing written --------------------


@pytest.fixture
def data(source: ConnectionService) -> bytes:
    return exported(source)


def test_a_wrong_passphrase_is_told_as_such(data: bytes) -> None:
    with pytest.raises(BackupError, match="Wrong passphrase") as caught:
        read_backup(data, "not the passphrase")
    assert "not the passphrase" not in str(caught.value)


@pytest.mark.parametrize("damage", [
    pytest.param(lambda d: d[: len(d) // 2], id="truncated"),
    pytest.param(lambda d: b"", id="empty"),
    pytest.param(lambda d: b"\xff\xfe" + d, id="not UTF-8"),
    pytest.param(lambda d: b"[" * 100_000, id="deeply nested"),
])
def test_a_file_that_is_not_json_is_refused(data: bytes, damage: Callable[[bytes], bytes]
                                            ) -> None:
    with pytest.raises(BackupError, match="not valid JSON"):
        read_backup(damage(data), PASSPHRASE)


def edited(data: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    document = json.loads(data)
    edit(document)
    return json.dumps(document).encode()


def test_an_unknown_version_is_refused_before_the_passphrase(data: bytes) -> None:
    newer = edited(data, lambda d: d.update(version=2))
    with pytest.raises(BackupError, match="format version 2; this installation reads version 1"):
        read_backup(newer, "any passphrase")


def test_an_edited_salt_is_refused(data: bytes) -> None:
    def new_salt(document: dict[str, Any]) -> None:
        document["kdf"]["salt"] = "00" * 16

    with pytest.raises(BackupError, match="Wrong passphrase"):
        read_backup(edited(data, new_salt), PASSPHRASE)


def flip_secret(document: dict[str, Any]) -> None:
    secrets = first_connection(document, "Prod")["secrets"]
    token = secrets["apiKey"]
    secrets["apiKey"] = token[:-1] + ("0" if token[-1] != "0" else "1")


def swap_secrets(document: dict[str, Any]) -> None:
    prod = first_connection(document, "Prod")["secrets"]
    claude = first_connection(document, "Claude")["secrets"]
    prod["apiKey"], claude["apiKey"] = claude["apiKey"], prod["apiKey"]


def point_elsewhere(document: dict[str, Any]) -> None:
    first_connection(document, "Prod")["config"]["baseUrl"] = "https://attacker.example/v1"


@pytest.mark.parametrize("edit", [
    flip_secret, swap_secrets, point_elsewhere,
    lambda d: d.pop("check"),
    lambda d: d["kdf"].update(n=2**40),
    lambda d: d["workspaces"]["default"]["members"].append(
        {"email": "eve@example.com", "role": "admin"}),
    lambda d: first_connection(d, "Prod").update(name="Renamed"),
], ids=["tampered ciphertext", "swapped secrets", "base URL edited", "no check",
        "huge scrypt cost", "member added", "name edited"])
def test_a_damaged_or_edited_file_is_refused(data: bytes,
                                             edit: Callable[[dict[str, Any]], None]) -> None:
    with pytest.raises(BackupError, match="damaged or was edited|Wrong passphrase"):
        read_backup(edited(data, edit), PASSPHRASE)


@pytest.mark.parametrize("edit", [flip_secret, swap_secrets, point_elsewhere],
                         ids=["tampered ciphertext", "swapped secrets", "base URL edited"])
def test_a_secret_is_bound_to_its_place_even_under_a_new_seal(
        data: bytes, edit: Callable[[dict[str, Any]], None]) -> None:
    """The seal is not the only guard: each secret decrypts only where it was put."""
    with pytest.raises(BackupError, match="does not decrypt where it is"):
        read_backup(resealed(data, edit), PASSPHRASE)


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda c: c.update(name="Bad\nname"), "control characters"),
    (lambda c: c.update(name="x" * 101), "at most 100"),
    (lambda c: c.update(name=["a list"]), "A name is text"),
    (lambda c: c.update(type="mystery"), "provider type is unknown"),
    (lambda c: c["config"].update(baseUrl="file:///etc/passwd"), "baseUrl"),
    (lambda c: c["config"].update(extra="x"), "no field 'extra'"),
    (lambda c: c.update(status="great"), "status"),
    (lambda c: c.update(available_models=["m"] * 2001), "models"),
    (lambda c: c.update(created_at="yesterday"), "created_at"),
    (lambda c: c.update(id=""), "id"),
    (lambda c: c.update(id="abc\u202edef"), "id"),
], ids=["control character", "too long", "odd type", "unknown type", "bad URL",
        "unknown field", "bad status", "too many models", "bad time", "empty id",
        "bidi id"])
def test_a_hostile_entry_is_refused_naming_it(
        data: bytes, target: ConnectionService, edit: Callable[[dict[str, Any]], None],
        problem: str) -> None:
    hostile = resealed(data, lambda d: edit(first_connection(d, "GPU box")))
    with pytest.raises(BackupError, match=f"connection \\d of workspace 'default'.*{problem}"):
        read_backup(hostile, PASSPHRASE)


def test_a_file_too_large_is_refused_unread() -> None:
    with pytest.raises(BackupError, match="larger than a backup may be"):
        read_backup(b" " * (64 * 2**20 + 1), PASSPHRASE)


def test_load_backup_reads_what_export_wrote(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "backup.json"
    write_backup(path, data)
    assert read_backup(load_backup(path), PASSPHRASE).workspaces == ("default",)


def test_load_backup_refuses_a_huge_file_unread(tmp_path: Path) -> None:
    """The size was checked only after the whole file was read."""
    huge = tmp_path / "huge.json"
    with huge.open("wb") as file:
        file.truncate(2**30)  # sparse: a gigabyte that takes no disk
    tracemalloc.start()
    try:
        with pytest.raises(BackupError, match="larger than a backup may be"):
            load_backup(huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


@pytest.mark.parametrize(("kind", "make"), [
    ("a folder", lambda path: path.mkdir()),
    ("a named pipe", os.mkfifo),
])
def test_load_backup_refuses_what_is_not_a_file(tmp_path: Path, kind: str,
                                                make: Callable[[Path], None]) -> None:
    path = tmp_path / "backup.json"
    make(path)
    with pytest.raises(BackupError, match=f"is {kind}, not a file.*Nothing was imported"):
        load_backup(path)


def test_load_backup_refuses_a_device_without_reading_it() -> None:
    with pytest.raises(BackupError, match="/dev/zero is a device, not a file"):
        load_backup(Path("/dev/zero"))


def test_load_backup_of_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="Can't read .*missing.json: No such file"):
        load_backup(tmp_path / "missing.json")


def test_members_without_an_admin_are_refused(data: bytes) -> None:
    def demote(document: dict[str, Any]) -> None:
        document["workspaces"]["default"]["members"][0]["role"] = "viewer"

    with pytest.raises(BackupError, match="at least one admin"):
        read_backup(resealed(data, demote), PASSPHRASE)


def test_a_failed_read_writes_nothing(data: bytes, target: ConnectionService) -> None:
    target.create("ollama", "Here", {"baseUrl": "http://10.0.0.9:11434"})
    before = stores.contents(target.store)
    for attempt in (lambda: read_backup(data, "wrong passphrase"),
                    lambda: read_backup(data[:-40], PASSPHRASE)):
        with pytest.raises(BackupError):
            import_backup(target, attempt())
    assert stores.contents(target.store) == before


# -- conflicts, defaults, dry runs ---------------------------------------------------------


@pytest.fixture
def backup(data: bytes) -> Backup:
    return read_backup(data, PASSPHRASE)


def test_importing_twice_skips_everything(backup: Backup, target: ConnectionService) -> None:
    import_backup(target, backup)
    before = stores.contents(target.store)
    report = import_backup(target, backup)
    assert report.counts["skipped"] == 4 and not report.changed
    assert stores.contents(target.store) == before


def test_skip_keeps_the_connection_here(backup: Backup, target: ConnectionService) -> None:
    import_backup(target, backup)
    prod = next(c for c in target.list() if c.name == "Prod")
    target.update(prod.id, prod.version, name="Prod here")
    report = import_backup(target, backup, on_conflict="skip")
    assert ImportEntry("default", "Prod here", prod.id, "skipped") in report.entries
    assert target.get(prod.id).name == "Prod here"


def test_replace_overwrites_it_and_keeps_its_id(backup: Backup,
                                                target: ConnectionService) -> None:
    import_backup(target, backup)
    prod = next(c for c in target.list() if c.name == "Prod")
    target.update(prod.id, prod.version, name="Prod here",
                  config={"apiKey": "sk-changed-here-000000000000"})
    report = import_backup(target, backup, on_conflict="replace")
    assert ImportEntry("default", "Prod", prod.id, "replaced") in report.entries
    assert target.get(prod.id).name == "Prod"
    assert target.get(prod.id).version > prod.version + 1  # a stale editor gets a conflict
    assert target.resolve_config("openai", prod.id)["apiKey"] == OPENAI_KEY


def test_copy_adds_a_new_connection_with_a_unique_name(backup: Backup,
                                                       target: ConnectionService) -> None:
    import_backup(target, backup)
    report = import_backup(target, backup, on_conflict="copy")
    again = import_backup(target, backup, on_conflict="copy")
    names = {c.name for c in target.list() if c.type == "openai"}
    assert names == {"Prod", "Prod (imported)", "Prod (imported 2)"}
    copied = next(e for e in report.entries if e.name == "Prod (imported)")
    assert copied.action == "copied" and copied.id not in {c.id for c in backup.connections}
    assert target.resolve_config("openai", copied.id)["apiKey"] == OPENAI_KEY
    assert len({e.id for e in [*report.entries, *again.entries]}) == 8


def test_a_copy_never_takes_the_default(backup: Backup, target: ConnectionService) -> None:
    import_backup(target, backup)
    default = target.get_default("openai")
    import_backup(target, backup, on_conflict="copy")
    assert target.get_default("openai") == target.get(default.id) if default else False
    assert sum(c.is_default for c in target.list("openai")) == 1


def test_an_imported_default_never_makes_two(backup: Backup, target: ConnectionService) -> None:
    mine = target.create("openai", "Mine", {"apiKey": "sk-mine-000000000000000000"})
    target.create("anthropic", "Mine too", {"apiKey": "sk-ant-mine-00000000000000"})
    import_backup(target, backup)
    assert target.get_default("openai") == target.get(mine.id)
    for type in ("openai", "anthropic", "ollama"):
        assert sum(c.is_default for c in target.list(type)) == 1
    assert target.get_default("ollama") is not None  # none here: the backup's becomes it


def test_replacing_the_default_keeps_it_the_default(backup: Backup,
                                                    target: ConnectionService) -> None:
    import_backup(target, backup)
    prod = target.get_default("openai")
    assert prod is not None
    import_backup(target, backup, on_conflict="replace")
    assert target.get_default("openai") == target.get(prod.id)
    assert sum(c.is_default for c in target.list("openai")) == 1


def test_replacing_the_default_with_a_deleted_one_promotes_another(
        source: ConnectionService, target: ConnectionService) -> None:
    import_backup(target, read_backup(exported(source), PASSPHRASE))
    spare = target.create("openai", "Spare", {"apiKey": "sk-spare-00000000000000000"})
    prod = source.get_default("openai")
    assert prod is not None
    source.delete(prod.id)
    import_backup(target, read_backup(exported(source), PASSPHRASE), on_conflict="replace")
    assert target.get(prod.id).is_deleted
    assert target.get_default("openai") == target.get(spare.id)


@pytest.mark.parametrize("on_conflict", ["skip", "replace", "copy"])
def test_a_dry_run_reports_what_the_import_does_and_writes_nothing(
        backup: Backup, target: ConnectionService, on_conflict: Any) -> None:
    target.create("ollama", "Here", {"baseUrl": "http://10.0.0.9:11434"})
    import_backup(target, backup)
    before = stores.contents(target.store)  # the audit trail too
    dry = import_backup(target, backup, on_conflict=on_conflict, dry_run=True)
    assert stores.contents(target.store) == before
    real = import_backup(target, backup, on_conflict=on_conflict)
    assert dry.entries == real.entries and dry.members == real.members


@pytest.mark.tinydb
def test_a_dry_run_into_an_empty_folder_creates_no_file(backup: Backup,
                                                        target: ConnectionService) -> None:
    report = import_backup(target, backup, dry_run=True)
    assert report.counts["created"] == 4 and len(report.members) == 1
    assert not target.store.path.exists()


# -- what a person confirms -----------------------------------------------------------------


def test_a_report_names_the_admins_an_import_adds(backup: Backup,
                                                  target: ConnectionService) -> None:
    report = import_backup(target, backup, dry_run=True)
    assert report.admins_added == [BackupMember("default", "ana@example.com", "admin")]
    assert report.to_confirm == report.admins_added


def test_a_report_names_a_default_that_a_replace_points_elsewhere(
        backup: Backup, target: ConnectionService) -> None:
    import_backup(target, backup)
    prod = target.get_default("openai")
    assert prod is not None
    target.update(prod.id, prod.version, name="Prod here",
                  config={"baseUrl": "https://gateway.example.com/v1", "apiKey": OPENAI_KEY})

    report = import_backup(target, backup, on_conflict="replace", dry_run=True)

    assert report.moved_defaults == [DefaultMove(
        "default", prod.id, "Prod here", "openai", "https://gateway.example.com/v1",
        "https://api.openai.com/v1")]
    assert report.to_confirm == report.moved_defaults  # ana is a member already


def test_a_replace_with_the_same_base_urls_moves_no_default(backup: Backup,
                                                           target: ConnectionService) -> None:
    import_backup(target, backup)
    report = import_backup(target, backup, on_conflict="replace")
    assert report.count("replaced") == 4 and report.to_confirm == []


def test_an_import_refuses_what_was_not_confirmed(backup: Backup,
                                                  target: ConnectionService) -> None:
    """A change that appears between the dry run a person confirmed and the import is
    not made: here ana, whom nobody confirmed as an admin."""
    target.create("ollama", "Here", {"baseUrl": "http://10.0.0.9:11434"})
    before = stores.contents(target.store)
    with pytest.raises(ConflictError, match="make ana@example.com an admin of 'default'"):
        import_backup(target, backup, confirmed=[])
    assert stores.contents(target.store) == before


def test_an_import_makes_what_was_confirmed(backup: Backup, target: ConnectionService) -> None:
    confirmed = import_backup(target, backup, dry_run=True).to_confirm
    report = import_backup(target, backup, confirmed=confirmed)
    assert report.admins_added == confirmed
    assert [(m.email, m.role) for m in target.members()] == [("ana@example.com", "admin")]


def test_a_failing_import_writes_nothing(backup: Backup, target: ConnectionService,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """All or nothing: an error on the last workspace undoes the first ones."""
    target.create("ollama", "Here", {"baseUrl": "http://10.0.0.9:11434"})
    before = stores.contents(target.store)
    calls = []
    original = ConnectionService.import_records

    def fail_second(self: ConnectionService, *args: Any, **kwargs: Any) -> None:
        calls.append(self.workspace_id)
        if len(calls) == 2:
            raise ValidationError({"name": "refused"})
        original(self, *args, **kwargs)

    monkeypatch.setattr(ConnectionService, "import_records", fail_second)
    two = Backup(backup.created_at, ("default", "team-b"), backup.connections + tuple(
        type(c)("team-b", c.id, c.type, c.name, c.config, c.fields)
        for c in backup.connections), backup.members)
    with pytest.raises(ValidationError):
        import_backup(target, two)
    assert calls == ["default", "team-b"]
    assert stores.contents(target.store) == before


def test_progress_counts_every_connection(source: ConnectionService,
                                          target: ConnectionService) -> None:
    seen: list[tuple[int, int]] = []
    data = export_backup(source, ["default"], PASSPHRASE, scrypt_n=FAST_N,
                         progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    seen.clear()
    import_backup(target, read_backup(data, PASSPHRASE),
                  progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_an_unknown_conflict_mode_is_refused(backup: Backup, target: ConnectionService) -> None:
    with pytest.raises(ValidationError, match="skip, replace or copy"):
        import_backup(target, backup, on_conflict="merge")  # type: ignore[arg-type]


# -- writing the file ---------------------------------------------------------------------


def test_the_file_is_written_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "backup.json"
    old = os.umask(0)
    try:
        write_backup(path, b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == b"{}"


def test_writing_replaces_an_older_backup_whole(tmp_path: Path) -> None:
    path = tmp_path / "backup.json"
    path.write_bytes(b"old" * 1000)
    path.chmod(0o644)
    write_backup(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["backup.json"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(BackupError, match="Can't write the backup .*nothing was written"):
            write_backup(folder / "backup.json", b"data")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_a_full_disk_is_a_clear_error_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "backup.json"
    path.write_bytes(b"the older backup")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(BackupError, match="No space left on device.*nothing was written"):
        write_backup(path, b"data")
    assert path.read_bytes() == b"the older backup"
    assert [p.name for p in tmp_path.iterdir()] == ["backup.json"]


def test_a_failed_rename_leaves_no_temporary_file(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    (folder / "backup.json").mkdir(parents=True)  # a folder where the file should go
    with pytest.raises(BackupError, match="Can't write the backup"):
        write_backup(folder / "backup.json", b"data")
    assert [p.name for p in folder.iterdir()] == ["backup.json"]


# -- who may import, and the service's own checks ------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True])
def test_only_trusted_code_or_an_instance_admin_may_import(
        backup: Backup, target: ConnectionService, dry_run: bool) -> None:
    target.set_member("ana@example.com", "admin")
    ana = ConnectionService(target.store, target.keyring, actor="ana@example.com")
    with pytest.raises(PermissionDeniedError, match="instance admin"):
        import_backup(ana, backup, dry_run=dry_run)
    with pytest.raises(PermissionDeniedError, match="instance admin"):
        ana.import_records([], [])  # the service's own rule, not only import_backup's
    boss = ConnectionService(target.store, target.keyring, actor="boss@example.com",
                             admins=["boss@example.com"])
    assert import_backup(boss, backup).counts["created"] == 4


def test_import_records_checks_each_record_as_create_does(target: ConnectionService) -> None:
    target.create("ollama", "Here", {"baseUrl": "http://10.0.0.9:11434"})
    before = stores.contents(target.store)
    record = {"id": "x1", "type": "openai", "name": "\u202eevil", "status": "connected",
              "config": {"apiKey": "sk-1234567890abcdef"}}
    with pytest.raises(ValidationError, match="bidirectional"):
        target.import_records([record])
    assert stores.contents(target.store) == before
