"""Text for people: relative times, and user data made safe for Markdown."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Enough to stop emphasis, links, HTML, LaTeX, tables and Streamlit's
# ``:red[...]`` and ``:material/icon:`` directives.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#$~|:])")
_UNITS = (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400), ("hour", 3600),
          ("minute", 60))


def relative_time(when: datetime | None, now: datetime | None = None) -> str:
    """``"just now"``, ``"5 minutes ago"``, ``"3 days ago"``; ``"never"`` for None."""
    if when is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    for unit, size in _UNITS:
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def md(text: object) -> str:
    """``text`` with Markdown (and Streamlit's ``:directive[]``) characters escaped,
    so a connection's name or a server's message shows exactly as written."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")
