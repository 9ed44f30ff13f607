"""Plain helpers shared by the test modules: provider keys, a clock, a free port.

No fixtures here (``tests/conftest.py`` and the modules it registers hold
those): a test module imports what it uses by name.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

OPENAI_KEY = "sk-test-0123456789abcdefWXYZ"
ANTHROPIC_KEY = "sk-ant-test-9876543210zyxwQRST"


class FakeClock:
    """A clock that moves only when told to, one second per reading by default."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
