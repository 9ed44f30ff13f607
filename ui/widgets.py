"""Small widgets shared by the screens: the status badge and a check's result."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TypeVar

import streamlit as st

from connections_core import STATUS_LABELS, TestResult, duration
from ui.format import md

T = TypeVar("T")

#: status -> (label, colour), in the order the filters offer them.  The labels are the
#: core's, the one vocabulary for a check's outcome (the command line uses them too).
STATUS_STYLES: Mapping[str, tuple[str, str]] = MappingProxyType({
    status: (STATUS_LABELS[status], colour)
    for status, colour in (("connected", "green"), ("error", "red"), ("unconfigured", "gray"))
})


def status_label(status: str) -> str:
    return _style(status)[0]


def result_status(result: TestResult) -> str:
    """The status a check's result gives a connection: ``connected`` or ``error``."""
    return "connected" if result.success else "error"


def status_badge(status: str) -> None:
    """The status as a word on its colour.

    No icon: Streamlit draws a Markdown icon (a badge's too) as text in an icon font
    that screen readers read out by name ("check_circle icon Connected"), and offers no
    way to hide it; the word says it all.
    """
    label, colour = _style(status)
    st.badge(label, color=colour)  # type: ignore[arg-type]


def badge(label: str, colour: str = "gray") -> str:
    """A badge as Markdown, for a table's cell: ``:green-badge[Connected]``."""
    return f":{colour}-badge[{md(label)}]"


def status_markdown(status: str) -> str:
    """The status badge (:func:`status_badge`) as Markdown, for a table's cell."""
    return badge(*_style(status))


def _style(status: str) -> tuple[str, str]:
    return STATUS_STYLES.get(status, (status.title(), "gray"))


def show_result(result: TestResult) -> None:
    """A check's outcome: what the provider said, and how long it took."""
    text = f"{md(result.message)} ({duration(result.latency_ms)})"
    if result.success:
        st.success(text, icon=":material/check_circle:")
    else:
        st.error(text, icon=":material/error:")


def page_of(items: Sequence[T], size: int, *, key: str) -> tuple[int, Sequence[T]]:
    """The page of ``items`` a person chose, ``size`` to a page: the index of its first
    item, and its items.  The page picker is drawn here, only when there is more than
    one page (draw the page's container before, so the picker sits below it)."""
    pages = max(1, math.ceil(len(items) / size))
    page = st.pagination(pages, key=key) if pages > 1 else 1
    first = (page - 1) * size
    return first, items[first:first + size]
