"""First start where nothing can be written: a read-only or a full disk.

The data folder lives on a small tmpfs mounted for the test (root only; skipped
elsewhere, required in CI), so the disk really is full or read-only.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from connections_core import ConnectionService, EncryptionKeyError, StoreError
from tests.mounts import mounted


@contextlib.contextmanager
def tmpfs(size: str = "256k") -> Iterator[Path]:
    mount_point = Path(tempfile.mkdtemp(prefix="disk-"))
    try:
        with mounted(["-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs"], mount_point,
                     "full-disk") as disk:
            yield disk
    finally:
        mount_point.rmdir()


def fill(folder: Path) -> None:
    """Write until the file system is full."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


def test_first_start_on_a_read_only_disk_says_what_to_do() -> None:
    with tmpfs() as disk:
        (disk / "data").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True, timeout=30)
        with pytest.raises(EncryptionKeyError, match="can't be written.*writable") as refused:
            ConnectionService.from_env(environ={"CONNECTIONS_DATA_DIR": str(disk / "data")})
        assert "Read-only file system" in str(refused.value)
        with pytest.raises(StoreError, match="CONNECTIONS_DATA_DIR"):
            ConnectionService.from_env(environ={"CONNECTIONS_DATA_DIR": str(disk / "new")})


def test_first_start_on_a_full_disk_says_what_to_do() -> None:
    with tmpfs() as disk:
        (disk / "data").mkdir()
        fill(disk)
        with pytest.raises(EncryptionKeyError, match="Free disk space") as refused:
            ConnectionService.from_env(environ={"CONNECTIONS_DATA_DIR": str(disk / "data")})
        assert "No space left" in str(refused.value)
        assert [p.name for p in (disk / "data").iterdir()] == [], "no half-written key file"


def test_a_full_disk_with_a_key_set_fails_the_first_write_cleanly(key: str) -> None:
    with tmpfs() as disk:
        (disk / "data").mkdir()
        fill(disk)
        service = ConnectionService.from_env(environ={
            "CONNECTIONS_DATA_DIR": str(disk / "data"), "ENCRYPTION_KEY": key})
        with pytest.raises(StoreError, match="free disk space"):
            service.create("ollama", "Local", {"baseUrl": "http://127.0.0.1:9"})
        assert not (disk / "data" / "connections.json").exists()
        leftovers = [p.name for p in (disk / "data").iterdir() if p.name.endswith(".tmp")]
        assert leftovers == []
