"""Text for people: times (relative, and on the clock of the reader's time zone), and
user data made safe for Markdown."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

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
_BACKTICKS = re.compile("`+")
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


def browser_zone() -> tzinfo:
    """The time zone of the person's browser, as it says (``Europe/Berlin``); UTC when
    it says none or one this server doesn't know."""
    name = st.context.timezone
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # not a zone, or not one on this server
        return UTC


def zone_name(zone: tzinfo) -> str:
    """``"UTC"``, or the zone's name: ``"Europe/Berlin"``."""
    return getattr(zone, "key", None) or "UTC"


def clock_time(when: datetime, zone: tzinfo, *, date: bool = True) -> str:
    """``when`` on the clock of ``zone``, with the zone: ``"2026-12-06 05:21:05 CET"``
    (without the date: ``"05:21:05 CET"``)."""
    return when.astimezone(zone).strftime(f"{'%Y-%m-%d ' if date else ''}%H:%M:%S %Z")


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


def code(text: object) -> str:
    """``text`` as an inline code span, on one line: shown exactly as written, in a
    fixed-width font, and never a link (nothing in a code span is).  For what is an
    address to read, not a page to visit: a base URL.

    The span is fenced with more backticks than ``text`` has in a row, so no backtick
    in it can end the span.
    """
    text = _LINE_BREAK.sub(" ", str(text))
    if not text:
        return ""
    # Streamlit turns ``:material/`` into an icon's marker before it parses anything,
    # code spans included; a word joiner keeps the text as written.
    text = text.replace(":material/", f":{WORD_JOINER}material/")
    fence = "`" * (max(map(len, _BACKTICKS.findall(text)), default=0) + 1)
    # CommonMark drops one space at each end when both ends have one, and a backtick
    # at either end would join the fence: a space on each side keeps both as written.
    if text[0] == "`" or text[-1] == "`" or (text[0] == text[-1] == " " and text.strip()):
        text = f" {text} "
    return f"{fence}{text}{fence}"
