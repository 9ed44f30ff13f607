"""Checks as people read them: a connection's uptime, its schedule, what a failed check's
kind means, and the workspace's health in one line.

A check record keeps its kind, never the message a server sent (see
:mod:`connections_core.history`), so a failure in the history is told by a
sentence per kind (:data:`KIND_SENTENCES`), in the words of the messages the
checks give.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from connections_core import SCHEDULE_MINUTES, Connection, Health, counted

#: a check's kind -> what it found, in a sentence that follows the kind's name
KIND_SENTENCES: Mapping[str, str] = MappingProxyType({
    "ok": "the provider answered and listed its models",
    "auth": "the provider refused the key",
    "forbidden": "the provider accepted the key but refused access",
    "not_found": "the base URL answered 404 Not Found",
    "rate_limited": "the provider was rate-limiting the key, or its quota was used up",
    "server_error": "the provider had a server error, or was overloaded",
    "timeout": "the server did not answer in time",
    "unreachable": "the server could not be reached",
    "tls": "the TLS handshake failed (an untrusted or invalid certificate?)",
    "invalid_response": "the server's answer was not what its API sends",
})

#: where a check was run from -> how a person says it
SOURCE_LABELS: Mapping[str, str] = MappingProxyType({
    "manual": "Test", "test_all": "Test all", "schedule": "scheduled", "cli": "command line",
})

#: minutes -> the schedule's name in the schedule's select
SCHEDULE_LABELS: Mapping[int, str] = MappingProxyType({
    minutes: "Off" if minutes == 0 else "Every minute" if minutes == 1
    else "Every hour" if minutes == 60 else f"Every {minutes} minutes"
    for minutes in SCHEDULE_MINUTES
})


def kind_sentence(kind: str) -> str:
    """``"auth: the provider refused the key"``; a kind this screen doesn't know, as it is."""
    return f"{kind}: {KIND_SENTENCES.get(kind, 'the check failed')}"


def percent(share: float) -> str:
    """``"99.2%"``: rounded down, so a single failure never shows as ``"100%"``; a whole
    number without decimals (``"100%"``, ``"0%"``)."""
    tenths = math.floor(share * 1000 + 1e-9)
    return f"{tenths // 10}%" if tenths % 10 == 0 else f"{tenths / 10:.1f}%"


def uptime_text(health: Health, span: str = "24 h") -> str:
    """``"99.2% · 140 checks"``; ``"No checks in 24 h"`` when there were none."""
    if health.uptime is None:
        return f"No checks in {span}"
    return f"{percent(health.uptime)} · {counted(health.checks, 'check')}"


def schedule_text(minutes: int) -> str:
    """``"Checked every 5 min"``, ``"Checked every minute"``, ``"Checked every hour"``;
    ``"Not scheduled"`` for 0."""
    if minutes == 0:
        return "Not scheduled"
    if minutes in (1, 60):
        return f"Checked every {'minute' if minutes == 1 else 'hour'}"
    return f"Checked every {minutes} min"


def workspace_health(connections: Sequence[Connection]) -> str:
    """``"12 healthy · 2 failing · 5 not scheduled"``: connected, in error, and checked
    only when someone presses Test."""
    healthy = sum(c.status == "connected" for c in connections)
    failing = sum(c.status == "error" for c in connections)
    unscheduled = sum(c.schedule_minutes == 0 for c in connections)
    return " · ".join([counted(healthy, "healthy", "healthy"),
                       counted(failing, "failing", "failing"),
                       counted(unscheduled, "not scheduled", "not scheduled")])
