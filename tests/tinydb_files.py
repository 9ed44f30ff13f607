"""Helpers for the tests of the TinyDB data file itself (``tests/test_store*.py``,
``tests/test_audit.py``): a record written straight into a table, and writer
processes that share the file with the test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from connections_core import TinyDBStore

ROOT = Path(__file__).resolve().parent.parent


def insert(store: TinyDBStore, **doc: object) -> None:
    """Add ``doc`` to the file's connections table as it is, in a transaction."""
    with store.transaction():
        store.table("connections").insert(doc)


WORKER = """
import sys
from connections_core import ConnectionService, KeyRing, TinyDBStore
path, key, tag, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
service = ConnectionService(TinyDBStore(path), KeyRing(key))
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    created = service.create("openai", f"{tag}-{i}", {"apiKey": "sk-process-key-0001"})
    print(created.id, flush=True)
"""


def start_worker(data_path: Path, key: str, tag: str, count: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(data_path), key, tag, str(count)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process
