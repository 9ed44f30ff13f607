"""Mounting a small file system for a test: a real full disk, read-only disk, or
one with coarse timestamps.  Needs root; skipped elsewhere, but required in CI."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def cannot(purpose: str, problem: str) -> None:
    """Skip the test, or fail it in CI, where it must run."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the {purpose} tests: {problem}")
    pytest.skip(problem)


@contextlib.contextmanager
def mounted(source: list[str], mount_point: Path, purpose: str) -> Iterator[Path]:
    """Run ``mount <source> <mount_point>``; unmount when the block ends."""
    if os.geteuid() != 0:
        cannot(purpose, "mounting a test file system needs root")
    result = subprocess.run(["mount", *source, str(mount_point)], capture_output=True,
                            text=True, timeout=60)
    if result.returncode != 0:
        cannot(purpose, f"can't mount here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, timeout=60)
