"""Files someone else planted in the data folder are refused, not used (issue 23).

Someone who can write the data folder before the first start could put their own
key there: every API key added afterwards would be encrypted under a key they
know.  Files owned by another user are made as root with ``chown`` to ``nobody``;
those tests are skipped where that can't be done (not root).
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pytest

from connections_core import (
    ConnectionService,
    EncryptionKeyError,
    StoreError,
    TinyDBStore,
    generate_key,
)
from connections_core.cli import run
from connections_core.crypto import create_key_file
from connections_core.doctor import run_checks

OPENAI = {"apiKey": "sk-planted-test-0123456789"}


def _other_user() -> int:
    """A uid that is not this process's (``nobody``), or skip: only root can chown."""
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("making a file owned by another user needs root")
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


@pytest.fixture
def nobody() -> int:
    return _other_user()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    return folder


def _env(data_dir: Path) -> dict[str, str]:
    return {"CONNECTIONS_DATA_DIR": str(data_dir)}


def _contents(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file in ``folder``: its bytes, owner and mode (to prove nothing was written)."""
    found = {}
    for path in sorted(folder.iterdir()):
        info = path.lstat()
        found[path.name] = (path.read_bytes() if path.is_file() else b"", info.st_uid,
                            stat.S_IMODE(info.st_mode))
    return found


def _plant_key(data_dir: Path, owner: int | None = None, mode: int = 0o600) -> str:
    planted = generate_key()
    path = data_dir / "encryption.key"
    path.write_text(planted + "\n")
    path.chmod(mode)
    if owner is not None:
        os.chown(path, owner, -1)
    return planted


def test_a_key_file_planted_by_another_user_is_refused_and_nothing_is_written(
        data_dir: Path, nobody: int) -> None:
    """A 0600 key file owned by `nobody` used to be read with no warning at all."""
    planted = _plant_key(data_dir, nobody)
    before = _contents(data_dir)
    with pytest.raises(EncryptionKeyError) as refused:
        ConnectionService.from_env(environ=_env(data_dir))
    message = str(refused.value)
    key_file = data_dir / "encryption.key"
    assert f"The key file {key_file} belongs to nobody (uid {nobody})" in message
    assert "mode 600" in message and "not to root" in message
    assert f"`chown root {key_file}`" in message and "It was not used" in message
    assert planted not in message
    assert _contents(data_dir) == before, "nothing is written: no data file, no new key"


def test_a_key_file_others_may_write_is_refused(data_dir: Path) -> None:
    _plant_key(data_dir, mode=0o666)
    before = _contents(data_dir)
    with pytest.raises(EncryptionKeyError, match=r"can be written by other users \(mode 666"):
        ConnectionService.from_env(environ=_env(data_dir))
    with pytest.raises(EncryptionKeyError, match=f"chmod 600 {data_dir / 'encryption.key'}"):
        ConnectionService.from_env(environ=_env(data_dir))
    assert _contents(data_dir) == before


def test_a_key_file_only_its_group_may_write_is_refused_too(data_dir: Path) -> None:
    _plant_key(data_dir, mode=0o620)
    with pytest.raises(EncryptionKeyError, match=r"mode 620"):
        ConnectionService.from_env(environ=_env(data_dir))


def test_a_key_file_that_is_a_symbolic_link_is_refused(data_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "their.key"
    elsewhere.write_text(generate_key())
    elsewhere.chmod(0o600)
    (data_dir / "encryption.key").symlink_to(elsewhere)
    with pytest.raises(EncryptionKeyError, match="is a symbolic link"):
        ConnectionService.from_env(environ=_env(data_dir))
    assert sorted(p.name for p in data_dir.iterdir()) == ["encryption.key"]


def test_a_key_file_others_may_only_read_is_used_with_a_warning(data_dir: Path) -> None:
    planted = _plant_key(data_dir, mode=0o644)
    service = ConnectionService.from_env(environ=_env(data_dir))
    assert service.key_source == "file"
    [warning] = service.file_warnings()
    assert "can be read by other users (mode 644)" in warning and planted not in warning


def test_a_data_folder_others_may_write_is_refused_and_no_key_is_generated(
        data_dir: Path) -> None:
    data_dir.chmod(0o777)
    with pytest.raises(StoreError) as refused:
        ConnectionService.from_env(environ=_env(data_dir))
    message = str(refused.value)
    assert f"The data folder {data_dir} can be written by other users (mode 777" in message
    assert f"`chmod 700 {data_dir}`" in message
    assert list(data_dir.iterdir()) == [], "no key file, no data file, no lock"


def test_a_data_folder_owned_by_another_user_is_refused(data_dir: Path, nobody: int) -> None:
    os.chown(data_dir, nobody, -1)
    with pytest.raises(StoreError, match=f"The data folder {data_dir} belongs to nobody"):
        ConnectionService.from_env(environ={**_env(data_dir), "ENCRYPTION_KEY": generate_key()})
    assert list(data_dir.iterdir()) == []


def test_a_data_file_owned_by_another_user_is_refused_and_left_alone(
        data_dir: Path, nobody: int) -> None:
    key = generate_key()
    service = ConnectionService.from_env(environ={**_env(data_dir), "ENCRYPTION_KEY": key})
    service.create("openai", "Main", OPENAI)
    data_file = data_dir / "connections.json"
    os.chown(data_file, nobody, -1)
    before = _contents(data_dir)
    with pytest.raises(StoreError, match=f"The data file {data_file} belongs to nobody"):
        TinyDBStore(data_file)
    with pytest.raises(StoreError, match="someone else may have put it there"):
        ConnectionService.from_env(environ={**_env(data_dir), "ENCRYPTION_KEY": key})
    assert _contents(data_dir) == before


def test_an_audit_trail_others_may_write_is_refused(data_dir: Path) -> None:
    key = generate_key()
    service = ConnectionService.from_env(environ={**_env(data_dir), "ENCRYPTION_KEY": key})
    service.create("openai", "Main", OPENAI)
    [trail] = data_dir.glob("connections.audit.*.jsonl")
    trail.chmod(0o666)
    with pytest.raises(StoreError, match=f"The audit trail {trail} can be written"):
        ConnectionService.from_env(environ={**_env(data_dir), "ENCRYPTION_KEY": key})


def test_a_key_file_planted_between_the_check_and_the_creation_is_refused(
        data_dir: Path, nobody: int) -> None:
    """The key is linked into place, which fails on a name that exists: what is found
    there instead is read only if it is this user's."""
    planted = _plant_key(data_dir, nobody)
    with pytest.raises(EncryptionKeyError, match="belongs to nobody"):
        create_key_file(data_dir / "encryption.key")
    assert (data_dir / "encryption.key").read_text().strip() == planted
    assert sorted(p.name for p in data_dir.iterdir()) == ["encryption.key"], \
        "no temporary file left"


def test_no_key_is_generated_into_a_folder_others_may_write(data_dir: Path) -> None:
    data_dir.chmod(0o770)
    with pytest.raises(EncryptionKeyError, match=r"data folder .* \(mode 770"):
        create_key_file(data_dir / "encryption.key")
    assert list(data_dir.iterdir()) == []


def test_the_healthy_first_start_is_unchanged(data_dir: Path) -> None:
    service = ConnectionService.from_env(environ=_env(data_dir))
    assert service.key_source == "generated" and service.file_warnings() == []
    service.create("openai", "Main", OPENAI)
    again = ConnectionService.from_env(environ=_env(data_dir))
    assert again.key_source == "file"
    assert again.resolve_config("openai")["apiKey"] == OPENAI["apiKey"]
    key_file = data_dir / "encryption.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.stat().st_uid == os.geteuid()


def test_doctor_reports_a_planted_key_file_and_a_readable_one(data_dir: Path,
                                                              nobody: int) -> None:
    ConnectionService.from_env(environ=_env(data_dir)).create("openai", "Main", OPENAI)
    key_file = data_dir / "encryption.key"
    key_file.chmod(0o644)
    checks = {c.name: c for c in run_checks(data_dir, {}, secrets_files=[])}
    assert checks["key_file_owner"].status == "passed"
    assert checks["key_file_mode"].status == "failed"
    assert f"chmod 600 {key_file}" in str(checks["key_file_mode"].fix)
    assert checks["key"].status == "warning", "a readable key file is still used"

    os.chown(key_file, nobody, -1)
    checks = {c.name: c for c in run_checks(data_dir, {}, secrets_files=[])}
    owner = checks["key_file_owner"]
    assert owner.status == "failed" and "belongs to nobody" in owner.message
    assert owner.fix is not None and f"chown root {key_file}" in owner.fix
    assert checks["key"].status == "failed" and "not used" in checks["key"].message
    assert checks["data_folder_owner"].status == "passed"


def test_the_command_line_says_why_in_one_line(data_dir: Path, nobody: int,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _plant_key(data_dir, nobody)
    code = run(["list", "--data-dir", str(data_dir)])
    captured = capsys.readouterr()
    assert code != 0
    assert "belongs to nobody" in captured.err and "Traceback" not in captured.err
    assert sorted(p.name for p in data_dir.iterdir()) == ["encryption.key"]
