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


#: Bedrock's credentials in tests: an access key id and secret shaped as AWS's are.
AWS_ACCESS_KEY_ID = "AKIATESTACCESSKEY123"
AWS_SECRET_KEY = "tEsTsEcReT/0123456789abcdefghijKLMNOPqrst"


def sample_config(type: str, url: str, key: str = OPENAI_KEY) -> dict[str, str]:
    """A valid config of a ``type`` connection that sends its checks to ``url``: its
    key (``key``, or Bedrock's test credentials) and the destination fields set."""
    from connections_core import PROVIDERS

    provider = PROVIDERS[type]
    config = {name: url for name in provider.destination if name != "region"}
    if type == "bedrock":
        config.update(region="us-east-1", accessKeyId=AWS_ACCESS_KEY_ID,
                      secretAccessKey=AWS_SECRET_KEY)
    elif provider.secret_fields:
        config["apiKey"] = key
    return config


def contrast(one: str, other: str) -> float:
    """WCAG 2's contrast ratio of two ``#rrggbb`` colours."""
    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
