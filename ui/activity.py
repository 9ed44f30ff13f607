"""The Activity screen's parts: the audit trail as rows people read, its filters and
its table, and the same rows as a CSV that a spreadsheet can't run.

A CSV opened in Excel, LibreOffice or Google Sheets runs a cell that starts
like a formula (``=HYPERLINK(...)``, ``+cmd|...``, or the same behind a
zero-width space or with a fullwidth ``＝``), and a connection's name is
whatever its creator typed; :func:`spreadsheet_safe` makes such a cell text.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

import pandas as pd
import streamlit as st

from connections_core import AuditEntry, counted, duration
from ui.format import zone_name
from ui.providers import provider_name
from ui.widgets import page_of

PAGE_SIZE = 50
COLUMNS = ("When", "Who", "What", "Which connection", "Details")

#: action name -> what a person reads, in the order the filter offers them
ACTIONS: Mapping[str, str] = {
    "connection.created": "Added a connection",
    "connection.updated": "Edited a connection",
    "connection.deleted": "Deleted a connection",
    "connection.restored": "Restored a connection",
    "connection.default_set": "Made a connection the default",
    "connection.schedule_set": "Set a connection's check schedule",
    "connection.test_started": "Started a check",
    "connection.tested": "Tested a connection",
    "connections.test_all_started": "Started Test all",
    "connections.tested_all": "Tested all connections",
    "ollama.model_pull_started": "Started pulling an Ollama model",
    "ollama.model_pulled": "Pulled an Ollama model",
    "ollama.model_pull_failed": "Could not pull an Ollama model",
    "ollama.model_pull_cancelled": "Cancelled an Ollama model pull",
    "ollama.model_delete_started": "Started deleting an Ollama model",
    "ollama.model_deleted": "Deleted an Ollama model",
    "ollama.model_delete_failed": "Could not delete an Ollama model",
    "alerts.webhook_set": "Set the alert webhook",
    "alerts.webhook_cleared": "Removed the alert webhook",
    "alerts.test_sent": "Sent a test alert",
    "alerts.delivery_failed": "Could not deliver an alert",
    "app_token.created": "Made an application token",
    "app_token.revoked": "Revoked an application token",
    "credentials.resolved": "An application read credentials",
    "member.set": "Gave a member a role",
    "member.removed": "Removed a member",
    "session.signed_out": "Signed out everywhere",
    "connection.imported": "Imported a connection",
    "member.imported": "Imported a member",
    "connection.purged": "Removed a deleted connection for good",
    "connections.exported": "Exported the connections (keys decrypted)",
    "keys.rotated": "Re-encrypted the stored keys",
    "access.denied": "Was refused",
}

#: An action recorded before something reaches a server -> the actions recording how it
#: ended.  The table shows a start only when no end follows it (the CSV shows both).
OUTCOMES: Mapping[str, tuple[str, ...]] = {
    "connection.test_started": ("connection.tested",),
    "connections.test_all_started": ("connections.tested_all",),
    "ollama.model_pull_started": ("ollama.model_pulled", "ollama.model_pull_failed",
                                  "ollama.model_pull_cancelled"),
    "ollama.model_delete_started": ("ollama.model_deleted", "ollama.model_delete_failed"),
}
_STARTED_BY = {end: start for start, ends in OUTCOMES.items() for end in ends}


def settled(entries: Iterable[AuditEntry]) -> list[AuditEntry]:
    """``entries`` (newest first) without the starts that an end answers: one row for
    one check or pull, and a start shown alone only when its end is missing."""
    ends: Counter[tuple[str, str, str | None]] = Counter()
    kept = []
    for entry in entries:
        start = _STARTED_BY.get(entry.action)
        if start is not None:
            ends[start, entry.actor, entry.target_id] += 1
        elif entry.action in OUTCOMES and ends[entry.action, entry.actor, entry.target_id]:
            ends[entry.action, entry.actor, entry.target_id] -= 1
            continue
        kept.append(entry)
    return kept


#: What makes a spreadsheet read a cell as a formula (OWASP's "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """``cell`` as a spreadsheet shows it without evaluating it: one that starts like a
    formula gets a leading ``'``, which spreadsheets read as "this is text".

    What counts is the first character past any invisible formatting ones (zero-width
    space and joiners, word joiner, byte-order mark: Unicode's "Cf"), compared once
    NFKC-normalised, so a fullwidth ``＝`` or a small ``﹦`` counts as ``=``.
    """
    first = next((ch for ch in cell if unicodedata.category(ch) != "Cf"), "")
    starts_a_formula = unicodedata.normalize("NFKC", first).startswith(FORMULA_STARTS)
    return f"'{cell}" if starts_a_formula else cell


def action_label(action: str) -> str:
    """``"Added a connection"`` for ``connection.created``; an unknown action as it is."""
    return ACTIONS.get(action, action)


def describe(details: Mapping[str, Any]) -> str:
    """An entry's details on one line: ``fields: name, baseUrl``, ``kind: ok · 12 ms``,
    ``every 5 minutes``, ``not delivered · reason: … · HTTP 500 · 4 attempts``."""
    parts = []
    for name, value in details.items():
        said = _in_words(name, value)
        if said is None:
            said = (f"{name}: {', '.join(map(str, value))}"
                    if isinstance(value, list | tuple | set | frozenset) else f"{name}: {value}")
        if said:
            parts.append(said)
    return " · ".join(parts)


def _in_words(name: str, value: Any) -> str | None:
    """A detail a person reads without its name ("" to leave it out); None for the rest."""
    if isinstance(value, bool):
        return {("ok", True): "delivered", ("ok", False): "not delivered",
                ("replaced", True): "replaced the previous one",
                ("replaced", False): ""}.get((name, value))
    if name == "type" and isinstance(value, str):  # a connection's provider
        return provider_name(value)
    if name == "latency_ms" and isinstance(value, int | float):
        return duration(value)
    if name == "minutes" and isinstance(value, int):  # a schedule
        return {0: "not scheduled", 1: "every minute"}.get(value, f"every {value} minutes")
    if name == "attempts" and isinstance(value, int):
        return counted(value, "attempt")
    if name == "status_code":
        return f"HTTP {value}" if isinstance(value, int) else ""
    return None


def rows(entries: Iterable[AuditEntry]) -> list[dict[str, Any]]:
    """The table's rows, one per entry, in the order given."""
    return [{"When": entry.at, "Who": entry.actor, "What": action_label(entry.action),
             "Which connection": entry.target_name or entry.target_id or "",
             "Details": describe(entry.details)} for entry in entries]


def audit_csv(entries: Iterable[AuditEntry]) -> bytes:
    """The rows as CSV (UTF-8 with a byte-order mark, so Excel reads accents right), each
    cell made :func:`spreadsheet_safe`; times are ISO 8601 in UTC."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows(entries):
        row["When"] = row["When"].astimezone(UTC).isoformat()
        writer.writerow(spreadsheet_safe(str(row[column])) for column in COLUMNS)
    return out.getvalue().encode("utf-8-sig")


def since_midnight(day: date | None, zone: tzinfo) -> datetime | None:
    """The start of ``day`` in ``zone`` (the reader's), in UTC, as the core's ``since``
    filter takes it."""
    return None if day is None else datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


# -- sections of the screen ----------------------------------------------------------------

def activity_filters(seen: Sequence[AuditEntry],
                     zone: tzinfo) -> tuple[str | None, str | None, date | None]:
    """Person, action and first day (from its midnight in ``zone``), each None when not
    chosen; the people and any action the screen doesn't know are taken from the
    entries ``seen``."""
    people = sorted({entry.actor for entry in seen})
    actions = [*ACTIONS, *sorted({entry.action for entry in seen} - set(ACTIONS))]
    with st.container(horizontal=True, vertical_alignment="bottom"):
        person = st.selectbox("Person", people, index=None, key="activity_filter_person",
                              placeholder="Anyone")
        action = st.selectbox("Action", actions, index=None, key="activity_filter_action",
                              format_func=action_label, placeholder="Anything")
        day = st.date_input("Since", value=None, key="activity_filter_since",
                            format="YYYY-MM-DD",
                            help=f"From midnight ({zone_name(zone)}) of this day on.")
    return person, action, day


def activity_table(entries: Sequence[AuditEntry], zone: tzinfo) -> None:
    """The entries, :data:`PAGE_SIZE` to a page, with where this page is in the whole;
    their times on the clock of ``zone`` (the reader's), named in the column's header."""
    table = st.container()
    first, shown = page_of(entries, PAGE_SIZE, key="activity_page")
    when = f"When ({zone_name(zone)})"
    with table:
        st.caption(f"Showing {first + 1}–{first + len(shown)} of "
                   f"{counted(len(entries), 'entry', 'entries')}, newest first.")
        frame = pd.DataFrame(rows(shown), columns=list(COLUMNS))
        frame["When"] = pd.to_datetime(frame["When"], utc=True).dt.tz_convert(zone)
        st.dataframe(frame.rename(columns={"When": when}), hide_index=True,
                     key="activity_table", column_config={when: st.column_config.DatetimeColumn(
                         format="YYYY-MM-DD HH:mm:ss", help=f"Times in {zone_name(zone)}")})
