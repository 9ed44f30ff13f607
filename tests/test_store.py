"""The store: atomic, locked, cached, and never overwriting a corrupt file."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from pathlib import Path

import pytest

from connections_core import ConnectionService, KeyRing, StoreCorruptError, StoreError, TinyDBStore
from tests.tinydb_files import insert, start_worker
from tests.together import at_once


def test_file_is_created_on_first_write_with_mode_0600(data_path: Path) -> None:
    store = TinyDBStore(data_path)
    assert not data_path.exists(), "opening a store writes nothing"
    insert(store, id="a")
    assert data_path.stat().st_mode & 0o777 == 0o600
    stored = json.loads(data_path.read_text())
    assert re.fullmatch("[0-9a-f]{32}", stored.pop("_revision"))
    assert stored == {"connections": {"1": {"id": "a"}}}


def test_no_temporary_files_are_left_behind(store: TinyDBStore, data_path: Path) -> None:
    for n in range(5):
        insert(store, id=str(n))
    assert sorted(p.name for p in data_path.parent.iterdir()) == [
        "connections.json", "connections.json.lock"]


def test_write_replaces_the_file_rather_than_rewriting_it(store: TinyDBStore,
                                                          data_path: Path) -> None:
    insert(store, id="a")
    before = data_path.stat().st_ino
    insert(store, id="b")
    assert data_path.stat().st_ino != before


def test_unchanged_file_is_not_parsed_again(store: TinyDBStore) -> None:
    insert(store, id="a")
    first = store.snapshot("connections")
    second = store.snapshot("connections")
    assert first[0] == second[0]
    assert first[1][0] is second[1][0], "an unchanged file is served from memory"


def test_change_by_another_store_is_seen(data_path: Path) -> None:
    reader, writer = TinyDBStore(data_path), TinyDBStore(data_path)
    insert(writer, id="a")
    assert [d["id"] for d in reader.snapshot("connections")[1]] == ["a"]
    insert(writer, id="b")
    assert [d["id"] for d in reader.snapshot("connections")[1]] == ["a", "b"]


def test_second_instance_does_not_reuse_a_document_id(data_path: Path) -> None:
    """TinyDB caches the next doc_id per table: a second writer could overwrite."""
    one, two = TinyDBStore(data_path), TinyDBStore(data_path)
    insert(one, id="a")
    insert(two, id="b")
    insert(one, id="c")
    assert sorted(d["id"] for d in TinyDBStore(data_path).snapshot("connections")[1]) == [
        "a", "b", "c"]


def test_failed_transaction_writes_nothing(store: TinyDBStore, data_path: Path) -> None:
    insert(store, id="a")
    before = data_path.read_bytes()
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.table("connections").insert({"id": "b"})
            raise RuntimeError("boom")
    assert data_path.read_bytes() == before
    assert [d["id"] for d in store.snapshot("connections")[1]] == ["a"]


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"connections": 3}', b"\xff\xfe"])
def test_corrupt_file_is_reported_and_never_overwritten(data_path: Path, content: bytes) -> None:
    data_path.parent.mkdir(parents=True)
    data_path.write_bytes(content)
    store = TinyDBStore(data_path)
    with pytest.raises(StoreCorruptError, match="connections.json") as caught:
        store.snapshot("connections")
    assert caught.value.path == str(data_path)
    with pytest.raises(StoreCorruptError, match="left untouched"):
        insert(store, id="a")
    assert data_path.read_bytes() == content


def test_service_on_corrupt_file_raises_store_corrupt(data_path: Path, keyring: KeyRing) -> None:
    data_path.parent.mkdir(parents=True)
    data_path.write_text('{"connections": {"1": {"id": ')
    with pytest.raises(StoreCorruptError, match="line 1"):
        ConnectionService(TinyDBStore(data_path), keyring)


def test_eight_threads_lose_no_write(data_path: Path, keyring: KeyRing) -> None:
    services = [ConnectionService(TinyDBStore(data_path), keyring) for _ in range(8)]
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(10):
                services[n].create(("openai", "anthropic", "ollama")[i % 3], f"t{n}-{i}",
                                   {"apiKey": "sk-thread-key-0001"} if i % 3 < 2 else {})
        except BaseException as error:  # reported below, with the thread's name
            failures.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    listed = ConnectionService(TinyDBStore(data_path), keyring).list()
    assert len(listed) == 80
    assert len({c.id for c in listed}) == 80
    for type in ("openai", "anthropic", "ollama"):
        assert sum(c.is_default for c in listed if c.type == type) == 1


def test_two_processes_and_eight_threads_lose_no_write(data_path: Path, key: str) -> None:
    keyring = KeyRing(key)
    ConnectionService(TinyDBStore(data_path), keyring).create(
        "openai", "first", {"apiKey": "sk-process-key-0001"})
    workers = [start_worker(data_path, key, f"p{n}", 20) for n in range(2)]
    services = [ConnectionService(TinyDBStore(data_path), keyring) for _ in range(8)]

    def work(n: int) -> None:
        for i in range(5):
            created = services[n].create("openai", f"t{n}-{i}", {"apiKey": "sk-thread-0001"})
            services[n].set_default(created.id)

    assert not at_once(work, 8, workers)
    listed = ConnectionService(TinyDBStore(data_path), keyring).list()
    assert len(listed) == 1 + 2 * 20 + 8 * 5
    assert sum(c.is_default for c in listed) == 1


def test_kill_9_during_writes_keeps_every_acknowledged_write(data_path: Path, key: str) -> None:
    worker = start_worker(data_path, key, "burst", 10_000)
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()
    acknowledged = [worker.stdout.readline().strip() for _ in range(40)]
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    worker.stdout.close()
    worker.stdin.close()

    stored = json.loads(data_path.read_text())  # loadable: never truncated
    ids = {doc["id"] for doc in stored["connections"].values()}
    assert set(acknowledged) <= ids
    service = ConnectionService(TinyDBStore(data_path), KeyRing(key))
    assert len(service.list()) == len(ids)


def test_insert_multiple_keeps_every_document(store: TinyDBStore) -> None:
    """Expiring TinyDB's next-id cache on every call once made insert_multiple
    give all its documents the same doc_id, keeping only the last."""
    with store.transaction():
        store.table("connections").insert_multiple({"id": str(n)} for n in range(5))
    assert len(store.snapshot("connections")[1]) == 5


def test_sign_outs_are_a_table_of_the_data_file(data_path: Path) -> None:
    ada = {"email": "ada@example.com", "at": "2026-01-01T00:00:00+00:00"}
    bob = {"email": "bob@example.com", "at": "2026-01-01T00:00:00+00:00"}
    later = {**ada, "at": "2026-01-02T00:00:00+00:00"}
    with TinyDBStore(data_path).transaction() as tx:
        tx.put_sign_out(ada)
        tx.put_sign_out(bob)
        tx.put_sign_out(later)
        assert tx.sign_out("ada@example.com") == later
    assert sorted(json.loads(data_path.read_text())["sign_outs"].values(),
                  key=lambda doc: doc["email"]) == [later, bob]
    assert TinyDBStore(data_path).sign_out("ada@example.com") == later
    assert TinyDBStore(data_path).sign_out("eve@example.com") is None


def test_a_data_folder_that_is_a_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(StoreError, match="CONNECTIONS_DATA_DIR"):
        TinyDBStore(tmp_path / "data" / "connections.json")


def test_a_data_file_that_cannot_be_read_is_a_store_error(data_path: Path) -> None:
    data_path.mkdir(parents=True)  # a folder where the file should be
    store = TinyDBStore(data_path)
    with pytest.raises(StoreError, match="Can't read the data file"):
        store.snapshot("connections")
    with pytest.raises(StoreError):
        insert(store, id="a")


def test_malformed_record_is_listed_as_damaged(data_path: Path, keyring: KeyRing) -> None:
    data_path.parent.mkdir(parents=True)
    data_path.write_text('{"connections": {"1": {"id": "x", "workspace_id": "default"}}}')
    service = ConnectionService(TinyDBStore(data_path), keyring)
    [damaged] = service.list()
    assert damaged.status == "error" and damaged.last_result is not None
    assert "damaged" in damaged.last_result.message
    with pytest.raises(StoreCorruptError, match="damaged"):
        service.resolve_config("openai", "x")


def test_a_file_locked_too_long_is_a_store_error(data_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from filelock import FileLock

    from connections_core import store as store_module

    monkeypatch.setattr(store_module, "LOCK_TIMEOUT", 0.05)
    store = TinyDBStore(data_path)
    holder = FileLock(str(data_path) + ".lock", thread_local=False)
    result: list[BaseException] = []

    def write() -> None:
        try:
            insert(store, id="a")
        except BaseException as error:  # inspected below
            result.append(error)

    with holder:
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=10)
    assert isinstance(result[0], StoreError) and "locked by another process" in str(result[0])
    assert not data_path.exists()
