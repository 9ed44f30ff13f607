"""Running things at once, for tests: threads beside other processes, and a command
on a real terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


def at_once(work: Callable[[int], object], threads: int,
            workers: Sequence[subprocess.Popen[str]], bound: float = 120) -> list[BaseException]:
    """Tell each worker process to go (a line on its stdin), run ``work(n)`` in
    ``threads`` threads meanwhile, and wait for all of them, each within ``bound``
    seconds.  Every worker must exit with 0.

    :returns: what the threads raised (empty when all went well).
    """
    failures: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work(n)
        except BaseException as error:  # reported to the caller
            failures.append(error)

    started = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(timeout=bound)
    for worker in workers:
        assert worker.wait(timeout=bound) == 0
        for pipe in (worker.stdin, worker.stdout):
            if pipe is not None:
                pipe.close()
    return failures


def on_a_terminal(command: Sequence[str], cwd: Path, env: Mapping[str, str],
                  bound: float = 60, typed: str = "") -> tuple[int, str]:
    """Run ``command`` with a pseudo-terminal as its stdin, stdout and stderr, where
    ``typed`` waits to be read as if a person had typed it: ``(exit code, everything
    it showed)``."""
    master, terminal = pty.openpty()
    process = subprocess.Popen(list(command), cwd=cwd, env=dict(env),
                               stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    if typed:
        os.write(master, typed.encode())
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return process.wait(timeout=bound), b"".join(chunks).decode("utf-8", "replace")
