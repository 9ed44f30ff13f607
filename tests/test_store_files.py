"""The files beside the data file: temporary files, the lock, symbolic links."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from connections_core import ConnectionService, StoreCorruptError, StoreError, TinyDBStore
from tests.tinydb_files import insert


def test_a_symlink_planted_at_any_temporary_name_is_never_followed(tmp_path: Path,
                                                                   data_path: Path) -> None:
    store = TinyDBStore(data_path)
    insert(store, id="a")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    # The old store wrote to .connections.json.<pid>.<thread>.tmp: plant a link there.
    for name in (f".connections.json.{os.getpid()}.{n}.tmp" for n in range(200)):
        (data_path.parent / name).symlink_to(victim)
    insert(store, id="b")
    assert victim.read_text() == "precious"
    assert not data_path.is_symlink()
    assert data_path.stat().st_mode & 0o777 == 0o600


def test_leftover_temporary_files_are_removed_at_the_next_write(data_path: Path) -> None:
    store = TinyDBStore(data_path)
    insert(store, id="a")
    leftover = data_path.parent / ".connections.json.0123456789abcdef.tmp"
    leftover.write_text('{"half": ')  # what a writer killed mid-write leaves
    insert(store, id="b")
    assert not leftover.exists()


def test_the_lock_file_is_private(data_path: Path) -> None:
    old = os.umask(0o022)
    try:
        insert(TinyDBStore(data_path), id="a")
    finally:
        os.umask(old)
    lock = data_path.with_name("connections.json.lock")
    assert lock.stat().st_mode & 0o777 == 0o600


def test_the_data_file_stays_private_under_a_loose_umask(data_path: Path) -> None:
    old = os.umask(0)
    try:
        insert(TinyDBStore(data_path), id="a")
    finally:
        os.umask(old)
    assert data_path.stat().st_mode & 0o777 == 0o600


def test_a_data_file_that_is_a_symlink_is_refused(tmp_path: Path, data_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    insert(TinyDBStore(elsewhere), id="a")
    data_path.parent.mkdir(parents=True)
    data_path.symlink_to(elsewhere)
    before = elsewhere.read_bytes()
    store = TinyDBStore(data_path.parent / "." / "connections.json")
    with pytest.raises(StoreError, match="symbolic link"):
        store.snapshot("connections")
    with pytest.raises(StoreError, match="symbolic link"):
        insert(store, id="b")
    assert elsewhere.read_bytes() == before


def test_an_empty_data_file_is_corrupt_not_empty(data_path: Path) -> None:
    data_path.parent.mkdir(parents=True)
    data_path.write_bytes(b"")
    store = TinyDBStore(data_path)
    with pytest.raises(StoreCorruptError, match="is empty"):
        store.snapshot("connections")
    with pytest.raises(StoreCorruptError):
        insert(store, id="a")
    assert data_path.read_bytes() == b""


@pytest.mark.parametrize("content", [b'{"connections": {"1": "a string"}}',
                                     b'{"connections": {"x": {"id": "a"}}}',
                                     b'{"connections": {"1": [1, 2]}}'])
def test_a_table_of_things_that_are_not_documents_is_corrupt(data_path: Path,
                                                             content: bytes) -> None:
    data_path.parent.mkdir(parents=True)
    data_path.write_bytes(content)
    with pytest.raises(StoreCorruptError, match="connections.json"):
        TinyDBStore(data_path).snapshot("connections")
    assert data_path.read_bytes() == content


def test_from_env_warns_about_a_key_file_others_can_read(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    environ = {"CONNECTIONS_DATA_DIR": str(tmp_path / "data")}
    service = ConnectionService.from_env(environ=environ)
    assert service.file_warnings() == []
    assert service.key_file is not None
    service.key_file.chmod(0o644)
    (tmp_path / "data").chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="connections_core.service"):
        again = ConnectionService.from_env(environ=environ)
    warnings = again.file_warnings()
    assert len(warnings) == 2
    assert "chmod 600" in warnings[0] and "chmod 700" in warnings[1]
    assert [r.getMessage() for r in caplog.records if "chmod" in r.getMessage()] == warnings
    for warning in warnings:
        assert service.key_file.read_text().strip() not in warning
