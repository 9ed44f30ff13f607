"""No lost write where file timestamps are coarse.

On a file system that keeps modification times to the second (here a
loop-mounted ext4 image made with 128-byte inodes), two same-length writes
within a second leave the same ``(inode, size, mtime)``: inode numbers are
reused at once after an ``os.replace``.  A store that trusted them served a
stale cached copy, and a writer acting on it undid another's acknowledged
change.  These tests need root (to mount); they are skipped elsewhere, except
in CI, where they must run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from connections_core import ConnectionService, KeyRing, TinyDBStore, generate_key
from tests.mounts import cannot, mounted

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 20

WORKER = """
import sys
from connections_core import ConnectionService, KeyRing, TinyDBStore
service = ConnectionService(TinyDBStore(sys.argv[1]), KeyRing(sys.argv[2]))
for line in sys.stdin:
    id, name = line.split()
    connection = service.get(id)
    service.update(id, connection.version, name=name)
    print("ok", flush=True)
"""


@pytest.fixture(scope="module")
def coarse_folder() -> Iterator[Path]:
    """A folder on ext4 with 1-second timestamps, unmounted afterwards."""
    if not shutil.which("mkfs.ext4"):
        cannot("coarse-timestamp", "mkfs.ext4 is not installed (e2fsprogs)")
    work = Path(tempfile.mkdtemp(prefix="coarse-"))
    image, mount_point = work / "fs.img", work / "mnt"
    mount_point.mkdir()
    with image.open("wb") as file:
        file.truncate(32 * 1024 * 1024)
    try:
        subprocess.run(["mkfs.ext4", "-q", "-F", "-I", "128", str(image)], check=True,
                       capture_output=True, timeout=60)
        with mounted(["-o", "loop", str(image)], mount_point, "coarse-timestamp"):
            yield mount_point
    finally:
        shutil.rmtree(work)


@pytest.fixture
def data_file(coarse_folder: Path, request: pytest.FixtureRequest) -> Path:
    folder = coarse_folder / request.node.name
    folder.mkdir()
    return folder / "connections.json"


def test_the_folder_really_has_one_second_timestamps(data_file: Path) -> None:
    data_file.write_text("x")
    assert data_file.stat().st_mtime_ns % 1_000_000_000 == 0


class Worker:
    """Another process that renames connections when told, and says when it has."""

    def __init__(self, path: Path, key: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", WORKER, str(path), key],
                                        cwd=ROOT, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)

    def rename(self, id: str, name: str) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{id} {name}\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok"

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=30) == 0
        self.process.stdout.close()


def test_a_read_sees_every_write_of_another_process(data_file: Path) -> None:
    key = generate_key()
    service = ConnectionService(TinyDBStore(data_file), KeyRing(key))
    id = service.create("ollama", "b-00", {}).id
    worker = Worker(data_file, key)
    try:
        for round in range(1, ROUNDS + 1):
            service.get(id)  # read, and so cache, the file
            # Two writes of the same length: the second reuses the first file's inode.
            worker.rename(id, f"a-{round:02d}")
            worker.rename(id, f"b-{round:02d}")
            assert service.get(id).name == f"b-{round:02d}", f"stale read in round {round}"
    finally:
        worker.close()


def test_a_write_never_undoes_another_process_write(data_file: Path) -> None:
    key = generate_key()
    service = ConnectionService(TinyDBStore(data_file), KeyRing(key))
    mine = service.create("ollama", "m-00", {}).id
    theirs = service.create("ollama", "t-00", {}).id
    worker = Worker(data_file, key)
    try:
        for round in range(1, ROUNDS + 1):
            service.list()  # what a screen does: read, and so cache, the file
            worker.rename(theirs, f"t-{round:02d}")
            service.update(mine, service.get(mine).version, name=f"m-{round:02d}")
            names = {c.id: c.name for c in ConnectionService(
                TinyDBStore(data_file), KeyRing(key)).list()}
            assert names == {mine: f"m-{round:02d}", theirs: f"t-{round:02d}"}, round
    finally:
        worker.close()
