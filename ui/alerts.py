"""Settings' Alerts section: the workspace's webhook (told when a connection goes from
Connected to Error or back), how its last delivery went, and, for admins, whether
this server runs the scheduled checks and serves ``/metrics``.

The webhook's URL is a secret (Slack and Teams carry a token in its path): once
saved it is shown only as its origin (``https://hooks.slack.com/…``), and its field
is emptied, so the URL is in no widget's value and nowhere on the page after.  An
empty field is never sent: *Remove* is what clears the webhook.  The rules (who may
set it, what a valid URL is) are the core's: a screen only hides what it would refuse.
"""

from __future__ import annotations

import os

import streamlit as st

from connections_core import (
    DEMO_ALERTS_REFUSAL,
    AlertDelivery,
    AlertWebhook,
    ConnectionsError,
    ConnectionService,
    ValidationError,
    counted,
    is_demo,
    scheduler_enabled,
)
from ui.confirm import confirm_dialog
from ui.errors import show_error
from ui.format import browser_zone, clock_time, md, relative_time
from ui.members import needs_role
from ui.notices import notify
from ui.roles import sees_server_details

URL = "settings_alerts_url"
REPLACING = "settings_alerts_replacing"  # an admin opened the field to replace the webhook
REMOVING = "settings_alerts_removing"  # the Remove dialog is open
PROBLEM = "settings_alerts_problem"  # why the last test alert could not be sent at all

ABOUT = ("A webhook (a Slack or Teams incoming webhook, or anything that takes a JSON POST) "
         "gets one message when a connection goes from Connected to Error, or back.")
EXAMPLE = "https://hooks.slack.com/services/…"
#: The variable that turns ``/metrics`` on (``server.routes.TOKEN_VARIABLE``).
METRICS_TOKEN = "CONNECTIONS_METRICS_TOKEN"  # noqa: S105  (a name, not a token)


def alerts_section(service: ConnectionService) -> None:
    """Where alerts go and how the last one went; admins set, test and remove the webhook,
    the others see the same with those buttons off, saying why."""
    st.subheader("Alerts")
    st.caption(ABOUT)
    if is_demo(service):
        st.markdown(DEMO_ALERTS_REFUSAL)
        return
    webhook = service.alert_webhook()
    if webhook.is_set:
        st.markdown(f"Alerts go to **{md(webhook.masked)}**")  # no period after its "…"
    else:
        st.markdown("No alert webhook is set: nobody is told when a connection stops working.")
    if service.can("set_alert_webhook") and (not webhook.is_set or st.session_state.get(REPLACING)):
        _webhook_field(service, replacing=webhook.is_set)
    else:
        _webhook_buttons(service, webhook)
    if webhook.is_set:
        last_delivery(webhook.last_delivery)
    if sees_server_details(service):
        st.caption(monitoring())


def _webhook_field(service: ConnectionService, *, replacing: bool) -> None:
    """The URL (typed like a password, so it isn't shown back) and Save; the core's
    objection shows under the field, and a saved URL leaves the field empty."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        url = st.text_input("Webhook URL", key=URL, type="password", placeholder=EXAMPLE,
                            help="Shown once saved only as its origin: the rest is a secret.")
        save = st.button("Save webhook", key="settings_alerts_save",
                         icon=":material/notifications_active:")
        if replacing:
            st.button("Cancel", key="settings_alerts_cancel", on_click=_stop_replacing)
    problem = st.container()
    if not save:
        return
    if not url.strip():  # an empty field is not a removal: Remove is
        show_error(f"Paste the webhook's URL first, like {EXAMPLE}", where=problem)
        return
    try:
        webhook = service.set_alert_webhook(url)
    except ValidationError as error:
        show_error(" ".join(error.field_errors.values()) or error, where=problem)
        return
    _stop_replacing()
    notify(f"Alerts now go to **{md(webhook.masked)}**", icon=":material/notifications:")
    st.rerun()


def _stop_replacing() -> None:
    st.session_state.pop(URL, None)  # the URL typed is in no widget once done with
    st.session_state[REPLACING] = False


def _webhook_buttons(service: ConnectionService, webhook: AlertWebhook) -> None:
    """Replace (or Set), Remove and Send test alert: off, with why, for those whose role
    can't use them."""
    why_not = needs_role(service, "set_alert_webhook")
    no_test = needs_role(service, "send_test_alert") or (
        None if webhook.is_set else "Set a webhook first.")
    with st.container(horizontal=True):
        st.button("Replace" if webhook.is_set else "Set a webhook",
                  key="settings_alerts_replace", icon=":material/edit:",
                  disabled=why_not is not None, help=why_not,
                  on_click=lambda: st.session_state.update({REPLACING: True}))
        if webhook.is_set:
            st.button("Remove", key="settings_alerts_remove_webhook", icon=":material/delete:",
                      disabled=why_not is not None, help=why_not,
                      on_click=lambda: st.session_state.update({REMOVING: True}))
        test = st.button("Send test alert", key="settings_alerts_test", icon=":material/send:",
                         disabled=no_test is not None, help=no_test)
    if (problem := st.session_state.pop(PROBLEM, None)) is not None:
        show_error(problem)
    if test:
        _send_test_alert(service)
    if st.session_state.get(REMOVING) and webhook.is_set:
        confirm_dialog("Remove the alert webhook?",
                       f"Alerts will no longer go to **{md(webhook.masked)}**. Its URL can't be "
                       "shown again: to send alerts there later, paste it again.",
                       "Remove", lambda: _remove(service), key="settings_alerts_remove",
                       on_close=lambda: st.session_state.update({REMOVING: False}))


def _send_test_alert(service: ConnectionService) -> None:
    """POST a test alert now and rerun: how it went is then the last delivery."""
    try:
        with st.spinner("Sending a test alert…"):
            outcome = service.send_test_alert()
    except ConnectionsError as error:  # no webhook any more, or one the key can't open
        st.session_state[PROBLEM] = str(error)
    else:
        if outcome.ok:
            notify("Test alert delivered.", icon=":material/send:")
    st.rerun()


def _remove(service: ConnectionService) -> None:
    service.set_alert_webhook(None)
    st.session_state.pop(URL, None)
    notify("Alerts are no longer sent.", icon=":material/notifications_off:")


def last_delivery(delivery: AlertDelivery | None) -> None:
    """How the last delivery (an alert or a test) ended, and when; an alert given up
    is a warning, since a channel that stopped receiving alerts is told nothing."""
    if delivery is None:
        st.caption("Nothing has been sent to it yet.")
        return
    zone = browser_zone()
    when = f"{relative_time(delivery.at)} ({clock_time(delivery.at, zone)})"
    message = md(delivery.message)
    if delivery.test and delivery.ok:
        st.success(f"Test alert delivered {when}: {message}", icon=":material/check_circle:")
    elif delivery.test:
        st.warning(f"The test alert sent {when} was not delivered: {message}",
                   icon=":material/warning:")
    elif delivery.ok:
        st.caption(f":material/check_circle: The last alert was delivered {when}: {message}")
    else:
        st.warning(f"Alerts are not getting through: the last one was given up {when} after "
                   f"{counted(delivery.attempts, 'attempt')}: {message}",
                   icon=":material/notifications_off:")


def monitoring() -> str:
    """One line for admins: whether this server runs the scheduled checks
    (``CONNECTIONS_SCHEDULER``, as ``server/lifespan.py`` reads it) and whether it serves
    ``/metrics`` (``CONNECTIONS_METRICS_TOKEN`` set: never shown).  Reads no store."""
    try:
        checks = ("this server runs the scheduled checks" if scheduler_enabled() else
                  "this server runs no scheduled checks (`CONNECTIONS_SCHEDULER=0`): a "
                  "`python -m connections_core watch` worker should")
    except ValidationError:
        checks = ("this server runs no scheduled checks: `CONNECTIONS_SCHEDULER` is "
                  "neither 1 nor 0 (its log says so)")
    metrics = ("`/metrics` is on (for a Prometheus that sends `CONNECTIONS_METRICS_TOKEN`)"
               if os.environ.get(METRICS_TOKEN, "").strip() else
               f"`/metrics` is off (set `{METRICS_TOKEN}` to turn it on)")
    return (f"**Monitoring:** {checks}; {metrics}; `/healthz` says whether the store "
            "answers. See *Scheduled checks* and *Metrics and health* in the README.")
