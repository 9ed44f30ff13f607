"""The doctor's checks, and the service calls behind purge and the rotation check,
in-process (tests/test_cli.py runs them as the command line)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from filelock import FileLock

from connections_core import ConnectionService, KeyRing, PermissionDeniedError, generate_key
from connections_core.doctor import run_checks
from tests.support import OPENAI_KEY, FakeClock


def statuses(data_dir: Path, env: dict[str, str], **options: float) -> dict[str, str]:
    no_secrets = [data_dir / "absent-secrets.toml"]
    return {check.name: check.status
            for check in run_checks(data_dir, env, secrets_files=no_secrets, **options)}


def test_a_lock_held_elsewhere_fails_the_lock_check(service: ConnectionService,
                                                    data_path: Path, key: str) -> None:
    service.create("ollama", "Box", {"baseUrl": "http://127.0.0.1:11434"})
    held = FileLock(str(data_path.with_name(data_path.name + ".lock")), is_singleton=False)
    with held:
        found = statuses(data_path.parent, {"ENCRYPTION_KEY": key}, lock_wait=0.2)
    assert found["lock"] == "failed"
    assert statuses(data_path.parent, {"ENCRYPTION_KEY": key})["lock"] == "passed"


def test_a_readable_key_file_fails_and_a_generated_key_warns(tmp_path: Path) -> None:
    data = tmp_path / "data"
    service = ConnectionService.from_env(environ={"CONNECTIONS_DATA_DIR": str(data)})
    service.create("ollama", "Box", {"baseUrl": "http://127.0.0.1:11434"})
    assert statuses(data, {})["key"] == "warning"
    (data / "encryption.key").chmod(0o644)
    assert statuses(data, {})["key_file_mode"] == "failed"


def test_a_missing_folder_is_the_only_finding(tmp_path: Path) -> None:
    assert statuses(tmp_path / "nowhere", {}) == {"data_folder": "failed"}
    assert not (tmp_path / "nowhere").exists()


def test_purge_removes_only_old_deletions_of_its_workspace(service: ConnectionService,
                                                           clock: FakeClock) -> None:
    old = service.create("openai", "Old", {"apiKey": OPENAI_KEY})
    service.delete(old.id)
    other = service.in_workspace("team-b")
    theirs = other.create("openai", "Theirs", {"apiKey": OPENAI_KEY})
    other.delete(theirs.id)
    clock.now += timedelta(days=40)
    recent = service.create("openai", "Recent", {"apiKey": OPENAI_KEY})
    service.delete(recent.id)

    removed = service.purge_deleted(clock.now - timedelta(days=30))

    assert [c.name for c in removed] == ["Old"]
    assert [c.name for c in service.list_deleted()] == ["Recent"]
    assert [c.name for c in other.list_deleted()] == ["Theirs"]
    [entry] = service.audit(action="connection.purged")
    assert entry.actor == "local" and entry.target_id == old.id


def test_purge_and_the_rotation_check_are_refused_to_a_workspace_admin(
        service: ConnectionService, clock: FakeClock) -> None:
    service.set_member("ana@example.com", "admin")
    gone = service.create("openai", "Gone", {"apiKey": OPENAI_KEY})
    service.delete(gone.id)
    ana = ConnectionService(service.store, service.keyring, actor="ana@example.com",
                            clock=clock)
    with pytest.raises(PermissionDeniedError, match="instance admin"):
        ana.purge_deleted(clock.now + timedelta(days=1))
    with pytest.raises(PermissionDeniedError, match="instance admin"):
        ana.residual_secrets()
    assert [c.name for c in service.list_deleted()] == ["Gone"]


def test_the_rotation_check_names_previous_and_undecryptable_secrets(
        service: ConnectionService, key: str, clock: FakeClock) -> None:
    service.create("openai", "Under old", {"apiKey": OPENAI_KEY})
    new = generate_key()
    rotating = ConnectionService(service.store, KeyRing(new, key), clock=clock)
    assert [(r.name, r.reason) for r in rotating.residual_secrets()] == [
        ("Under old", "previous_key")]
    assert service.residual_secrets() == []
    with service.store.transaction():
        table = service.store.table("connections")
        table.update(lambda doc: doc["config"].update(apiKey="sk-plain-text"))
    [found] = service.residual_secrets()
    assert (found.workspace_id, found.name, found.field, found.reason) == (
        "default", "Under old", "apiKey", "no_key")
