"""One connection as a card: what it is, how its last check went, and its actions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import streamlit as st

from connections_core import (
    PROVIDERS,
    Connection,
    ConnectionService,
    Health,
    NotFoundError,
    Provider,
    counted,
    duration,
)
from ui.charts import SPARKLINE, Row, buckets, sparkline
from ui.checks import is_checking, start_check
from ui.connection_dialogs import open_dialog
from ui.format import code, md, relative_time
from ui.health import schedule_text, uptime_text
from ui.members import needs_role
from ui.notices import notify
from ui.provider_icons import provider_icon
from ui.providers import in_group_order
from ui.widgets import status_badge

#: the most checks a card's sparkline reads: a day of checks every minute, and then some
CARD_CHECKS = 2000


def in_card_order(connections: Sequence[Connection]) -> list[Connection]:
    """Each provider's default first (providers by group, as everywhere), then the
    rest as given (the service lists them newest first)."""
    order = {type: index for index, type in enumerate(in_group_order())}
    defaults = sorted((c for c in connections if c.is_default),
                      key=lambda c: order.get(c.type, len(order)))
    return defaults + [c for c in connections if not c.is_default]


def connection_card(service: ConnectionService, connection: Connection) -> None:
    provider = PROVIDERS[connection.type]
    with st.container(border=True, key=f"conn_card_{connection.id}"):
        _header(provider, connection)
        st.caption(_where(provider, connection))
        _check_line(connection)
        _last_day(service, connection)
        _actions(service, connection)


def _header(provider: Provider, connection: Connection) -> None:
    """The provider's icon, the name, "Default" on its provider's default, and the status."""
    with st.container(horizontal=True, vertical_alignment="center"):
        provider_icon(provider)
        st.markdown(f"**{md(connection.name)}**", width="content")
        if connection.is_default:
            st.badge("Default", color="blue")
        status_badge(connection.status)


def _where(provider: Provider, connection: Connection) -> str:
    """The provider, where its checks and keys go, and each stored secret masked:
    ``OpenAI · `https://…` · API key ••••WXYZ``.

    The address (a base URL, Azure's endpoint, Bedrock's region's endpoint) is code,
    not a link: an API's root is an address to read, not a page.
    """
    masked = [f"{field.label} {md(connection.config[field.name])}" for field in provider.fields
              if field.secret and field.name in connection.config]
    address = [code(connection.where)] if connection.where else []
    return " · ".join([provider.display_name, *address, *masked])


def _check_line(connection: Connection) -> None:
    """How the last check went, or that one is running; the models it found, on demand."""
    if is_checking(connection.id):
        st.caption(":material/progress_activity: Checking now…")
        return
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.caption(_last_check(connection), width="content")
        if connection.status == "connected" and connection.available_models:
            _models(connection)
    last = connection.last_result
    if last is not None and not last.success:
        # What went wrong, and what to do, at the page's text size: not a caption.
        st.markdown(f":red[{md(last.message)}]")


def _last_day(service: ConnectionService, connection: Connection) -> None:
    """The last 24 hours at a glance: the share of checks that passed, the schedule,
    latency as a sparkline (red where a check failed), and History, which tells more."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        health, rows = _last_day_read(service, service.workspace_id, connection.id,
                                      connection.version, connection.last_checked_at, now)
    except NotFoundError:  # purged since the list was read: the next rerun drops the card
        return
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        day = f"Last 24 h: {uptime_text(health)}" if health.checks else uptime_text(health)
        st.caption(f"{day} · {schedule_text(connection.schedule_minutes)}", width="content")
        if rows:
            sparkline(rows, now, key=f"conn_spark_{connection.id}")
        st.button("History", key=f"conn_history_{connection.id}", type="tertiary",
                  icon=":material/monitoring:", on_click=open_dialog,
                  args=("history", connection))


@st.cache_data(show_spinner=False, max_entries=1000, ttl=120)
def _last_day_read(_service: ConnectionService, workspace_id: str, id: str, version: int,
                   checked_at: datetime | None, now: datetime) -> tuple[Health, list[Row]]:
    """A connection's health over the 24 h before ``now`` (a whole minute), and its
    sparkline's buckets: read once a minute per card, and again after each check.

    Each check is committed with the connection's ``last_checked_at``, so a new check
    is a new key.  (A check whose result was not saved, because the connection was
    edited meanwhile, shows from the next minute.)
    """
    since = now - SPARKLINE.length
    health = _service.health(id, since=since)
    records = _service.history(id, since=since, limit=CARD_CHECKS) if health.checks else []
    return health, buckets(records, SPARKLINE.bucket)


def _models(connection: Connection) -> None:
    """A popover listing the model ids the server offered (its own text: escaped), drawn
    only while open: a server may offer thousands."""
    models = st.popover(counted(len(connection.available_models), "model"), type="tertiary",
                        icon=":material/view_list:", key=f"conn_models_{connection.id}",
                        on_change="rerun", help="The model ids the server offered")
    if models.open:
        with models:
            st.markdown("\n".join(f"- {md(name)}" for name in connection.available_models))


def _last_check(connection: Connection) -> str:
    last = connection.last_result
    if last is None:
        return "Not checked yet."
    checked = f"Checked {relative_time(connection.last_checked_at)} · {duration(last.latency_ms)}"
    return f"{checked} · {md(last.message)}" if last.success else checked


def _actions(service: ConnectionService, connection: Connection) -> None:
    """Test, for everyone who can see the card; the rest off, saying why, for a viewer."""
    id = connection.id
    with st.container(horizontal=True):
        _test_button(service, connection)
        make_default = _set_as_default_button(service, connection)
        no_edit = needs_role(service, "update")
        st.button("Edit", key=f"conn_edit_{id}", icon=":material/edit:",
                  disabled=no_edit is not None, help=no_edit,
                  on_click=open_dialog, args=("edit", connection))
        no_delete = needs_role(service, "delete")
        st.button("Delete", key=f"conn_delete_{id}", icon=":material/delete:",
                  disabled=no_delete is not None, help=no_delete,
                  on_click=open_dialog, args=("delete", connection))
    if make_default:
        service.set_default(id)
        notify(f"**{md(connection.name)}** is now the default "
               f"{PROVIDERS[connection.type].display_name} connection.", icon=":material/star:")
        st.rerun()


def _test_button(service: ConnectionService, connection: Connection) -> None:
    """Test: the check runs off the script thread, so other clicks can't lose it."""
    checking = is_checking(connection.id)
    st.button("Test", key=f"conn_test_{connection.id}", icon=":material/network_check:",
              disabled=checking, help="Checking now…" if checking else None,
              on_click=start_check, args=(service, connection))


def _set_as_default_button(service: ConnectionService, connection: Connection) -> bool:
    """Set as default, on every card so the buttons keep their places: off on the
    default itself, and for someone whose role can't change it."""
    why_not = needs_role(service, "set_default")
    if connection.is_default:
        why_not = (f"Already the default {PROVIDERS[connection.type].display_name} "
                   "connection.")
    return st.button("Set as default", key=f"conn_default_{connection.id}",
                     icon=":material/star:", disabled=why_not is not None, help=why_not)
