"""Text for people: relative times, and user data made safe for Markdown."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# CommonMark lets a backslash escape any ASCII punctuation character, and an escaped one is
# always literal.  Escaping all of them stops emphasis, links, images, raw HTML, entities
# (``&lt;``), headings, tables, quotes and list markers at the start of a line (``> ``,
# ``- ``, ``+ ``, ``1. ``), LaTeX, and Streamlit's ``:red[...]`` and ``:material/icon:``,
# without a list of what each one needs.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
#: An invisible character that is neither a space nor punctuation.
WORD_JOINER = "\u2060"
# Some things are found in the text after its escapes are undone, so no backslash stops
# them; a word joiner breaks each.
_FOUND_AFTER_ESCAPES = re.compile("|".join([
    # before a bare link, which GitHub-style Markdown makes a link (an e-mail address
    # becomes a mailto: link, which sends nothing: it stays, and copies as it is)
    r"(?=https?:|www\.)",
    r"(?<=:)(?=streamlit:|material_)",  # inside Streamlit's logo and icon shortcodes
    r"(?<=(?<!\S)[-<>~])(?=(?:->|-|>|=)(?!\S))",  # inside `` -> ``, which becomes an arrow
]), re.IGNORECASE)
_LINE_BREAK = re.compile(r"\r\n?|\n")
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
    """``text`` as Markdown that shows it exactly as written, on one line: a connection's
    name, a URL, a workspace id or a server's message can't become a link (but for an
    e-mail address's ``mailto:``), an image, a heading or a list, nor make the browser
    fetch anything.

    Every string that a person or a server controls goes through this before it reaches
    anything Streamlit renders as Markdown: titles, captions, messages, toasts,
    spinners, status and progress labels, metrics, and widgets' labels and help.  Bare
    links get an invisible word joiner (:data:`WORD_JOINER`) where they would be found.
    """
    text = _FOUND_AFTER_ESCAPES.sub(WORD_JOINER, str(text))
    return _LINE_BREAK.sub(" ", _PUNCTUATION.sub(r"\\\1", text))
