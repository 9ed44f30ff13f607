"""Alerts: a workspace's webhook, told when a check changes a connection's status.

A workspace's admins set one webhook URL (:meth:`Alerts.set_alert_webhook`): a
Slack or Teams incoming webhook, or anything that takes a JSON POST.  When a check
(a Test, Test all, the command line's ``test``, a scheduled check) moves a
connection from Connected to Error or back, one POST goes to it::

    {"text": "🔴 OpenAI prod (openai) in team-a: Error — OpenAI rejected the API key (401)…",
     "workspace": "team-a", "connection_id": "…", "name": "OpenAI prod", "type": "openai",
     "status": "error", "kind": "auth", "message": "OpenAI rejected the API key (401)…",
     "at": "2026-03-01T08:00:00+00:00"}

* **The URL is a secret** (Slack and Teams carry their token in its path): it is
  sealed with the store's key, bound to its workspace, and shown only as its origin
  (``https://hooks.slack.com/…``).  No message, repr, audit entry or log line holds
  it: urllib3's debug lines about a delivery have its path hidden.
* **Off the checking thread.**  The committing thread only queues the change; one
  sender thread per process (:func:`sender`) delivers, within
  :data:`DELIVERY_TIMEOUT` an attempt, through :mod:`connections_core.http`
  (no redirect followed, no metadata address, the answer's body left unread).
  A 2xx answer ends a delivery; anything else is tried again after
  :data:`BACKOFF`, then given up: the workspace's settings keep how the last
  delivery ended, and ``alerts.delivery_failed`` is recorded.
* **At most once per change**: a change is announced, in memory, by the process
  that committed it (two processes checking at once commit one change between
  them: the second sees the status already changed).  A process that ends waits
  up to :data:`EXIT_WAIT` seconds for its deliveries; what is left then is lost,
  never sent twice.  An unchanged status, and a first check (from Not checked),
  send nothing.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from . import crypto, http
from .addresses import url_problem
from .errors import ConnectionsError, DecryptionError, ProviderError, ValidationError
from .models import STATUS_LABELS, Residue, Status
from .records import Records, listen_for_status_changes, parse_time, text_or
from .scope import Room
from .storage import Record, Transaction
from .text import shown

__all__ = ["BACKOFF", "DELIVERY_TIMEOUT", "DEMO_ALERTS_REFUSAL", "EXIT_WAIT", "AlertDelivery",
           "AlertWebhook", "Alerts", "Sender", "resealed_webhook", "sender", "webhook_residue"]

log = logging.getLogger(__name__)

#: Seconds between a failed attempt and the next; after the last, the delivery is given up.
BACKOFF: tuple[float, ...] = (1.0, 4.0, 15.0)
DELIVERY_TIMEOUT = 10.0  # seconds one attempt may take, answer included
MAX_PENDING = 1000  # deliveries a process keeps waiting at most; more are dropped (and logged)
EXIT_WAIT = 20.0  # seconds an ending process (a `test` from cron) waits for its deliveries
URL_MAX = 2048
FIELD = "alert_webhook"  # the settings field, and the field a refused URL is named by
#: The demo's connections change status at the stand-ins' will: nothing of it leaves
#: this machine, so it has no webhook.
DEMO_ALERTS_REFUSAL = ("The demo sends no alerts: nothing in it leaves this machine. Set a webhook "
                "in your own workspace.")
_MESSAGE_IN_TEXT = 300  # characters of a check's sentence in the one-line text
_ICONS = {"connected": "🟢", "error": "🔴"}


@dataclass(frozen=True)
class AlertDelivery:
    """How one delivery to the webhook ended: delivered (``ok``: the receiver answered
    2xx), or given up after ``attempts`` tries, ``message`` saying why.  ``test``: it
    was a test alert."""

    at: datetime
    ok: bool
    message: str
    status_code: int | None = None
    attempts: int = 1
    test: bool = False


@dataclass(frozen=True)
class AlertWebhook:
    """A workspace's alert webhook as a screen shows it: whether one is set, where it
    points (``masked``: its scheme and host only, as ``https://hooks.slack.com/…``:
    the rest of the URL is a secret), and how its last delivery ended."""

    is_set: bool
    masked: str | None = None
    last_delivery: AlertDelivery | None = None


class Alerts(Room):
    """The scope's workspace's alert webhook."""

    def set_alert_webhook(self, url: str | None) -> AlertWebhook:
        """Send this workspace's alerts to ``url`` (``None`` or ``""``: send none).

        The URL follows a base URL's rules (http or https, a host, no user name,
        query or fragment, no link-local or cloud metadata address); it is stored
        encrypted and never shown again, only its origin.  Only admins may set it;
        ``alerts.webhook_set`` or ``alerts.webhook_cleared`` is recorded (never the URL).

        :raises ValidationError: the URL is not one alerts can be sent to, or this is
            the demo (nothing in it leaves this machine).
        """
        self.scope.authorize("set_alert_webhook")
        clean = None if url is None or (isinstance(url, str) and not url.strip()) \
            else checked_webhook(url)
        if clean is not None and self.scope.demo:
            raise ValidationError({FIELD: DEMO_ALERTS_REFUSAL})
        workspace = self.scope.workspace_id
        with self.records.transaction() as tx:
            settings = _settings_in(tx, workspace)
            if clean is None:
                if _sealed(settings) is None:
                    return webhook_view(settings)
                settings = {k: v for k, v in settings.items()
                            if k not in (FIELD, "alert_webhook_origin", "alert_delivery")}
                self.records.audit(tx, "alerts.webhook_cleared", None)
            else:
                replaced = _sealed(settings) is not None
                settings.update({
                    FIELD: self.records.keyring.encrypt(clean, webhook_context(workspace)),
                    "alert_webhook_origin": http.origin(clean), "alert_delivery": None,
                    "updated_at": self.records.now()})
                self.records.audit(tx, "alerts.webhook_set", None, replaced=replaced)
            tx.put_workspace_settings(settings)
        return webhook_view(settings)

    def alert_webhook(self) -> AlertWebhook:
        """Whether this workspace sends alerts, where to (its origin only) and how the
        last delivery ended.  Anyone who can see the workspace may ask."""
        self.scope.authorize("alert_webhook")
        return webhook_view(_stored(self.records))

    def send_test_alert(self) -> AlertDelivery:
        """POST a test alert to the webhook now, once (no retry), within
        :data:`DELIVERY_TIMEOUT` seconds, and say how it went; it is kept as the last
        delivery and recorded (``alerts.test_sent``).  Only admins may send one.

        :raises ValidationError: no webhook is set.
        :raises DecryptionError: the stored webhook can't be decrypted with the key.
        """
        self.scope.authorize("send_test_alert")
        url = current_webhook(self.records)
        if url is None:
            raise ValidationError({FIELD: "No alert webhook is set in this workspace: set one "
                                          "first (set_alert_webhook)."})
        answer = post(url, test_payload(self.scope.workspace_id, self.records.now()),
                      min(self.scope.timeout, DELIVERY_TIMEOUT))
        outcome = answer.outcome(self.scope.clock(), attempts=1, test=True)
        settle(self.records, outcome, "alerts.test_sent", None)
        return outcome


# -- the URL, and the secret it is -------------------------------------------------------------

def checked_webhook(url: Any) -> str:
    """``url`` stripped, if alerts may be sent to it.

    :raises ValidationError: naming the ``alert_webhook`` field, with what is wrong
        (never echoing the URL, which is a secret).
    """
    if not isinstance(url, str):
        problem = "A webhook URL is text, like https://hooks.slack.com/services/…"
    elif len(url.strip()) > URL_MAX:
        problem = f"A webhook URL is at most {URL_MAX} characters."
    else:
        found = url_problem(url.strip())
        if found is None:
            return url.strip()
        problem = f"The webhook URL {found}."
    raise ValidationError({FIELD: problem})


def webhook_context(workspace_id: str) -> dict[str, str | None]:
    """What a sealed webhook URL is bound to: its workspace, as a workspace's webhook
    (nothing a connection's key, or the key check, is bound to): a token copied to
    another workspace, or into a connection, does not decrypt there."""
    return {"workspace": workspace_id, "purpose": "alert_webhook"}


def current_webhook(records: Records) -> str | None:
    """The workspace's webhook URL, decrypted (None when none is set).

    :raises DecryptionError: the stored token can't be decrypted for this workspace.
    """
    token = _sealed(_stored(records))
    if token is None:
        return None
    try:
        if crypto.is_bound(token):
            return records.keyring.decrypt(token, webhook_context(records.workspace_id))
    except DecryptionError:
        pass
    raise DecryptionError(
        f"The alert webhook of workspace '{records.workspace_id}' can't be decrypted with the "
        f"current key, or was not saved for this workspace (was {crypto.KEY_VARIABLE} "
        f"changed? Set the old one as {crypto.PREVIOUS_KEY_VARIABLE}). Set the webhook again.")


def webhook_residue(keyring: crypto.KeyRing, settings: Mapping[str, Any]) -> Residue | None:
    """Why the current key alone can't open the sealed webhook in ``settings`` (None
    when it can, or none is set); see :class:`~connections_core.models.ResidualSecret`."""
    token = _sealed(settings)
    if token is None:
        return None
    workspace = text_or(settings.get("workspace_id"), "")
    which = keyring.decrypting_key(token, webhook_context(workspace)) \
        if crypto.is_bound(token) else None
    if which is None:
        return "no_key"
    return "previous_key" if which > 0 else None


def resealed_webhook(keyring: crypto.KeyRing, settings: Mapping[str, Any]) -> str | None:
    """The webhook in ``settings`` sealed again with the current key (None when none is
    set, or it can't be opened for use: an unbound token is never opened).

    :raises DecryptionError: no key decrypts it.
    """
    token = _sealed(settings)
    if token is None or not crypto.is_bound(token):
        return None
    context = webhook_context(text_or(settings.get("workspace_id"), ""))
    try:
        url = keyring.decrypt(token, context)
    except DecryptionError:
        raise DecryptionError(
            f"The alert webhook of workspace '{shown(settings.get('workspace_id'))}' can't be "
            f"decrypted with the current key or {crypto.PREVIOUS_KEY_VARIABLE}: set it again, "
            "or clear it (set_alert_webhook(None)).") from None
    return keyring.encrypt(url, context)


def webhook_view(settings: Mapping[str, Any]) -> AlertWebhook:
    """What a screen may show of a workspace's settings record."""
    if _sealed(settings) is None:
        return AlertWebhook(is_set=False)
    origin = text_or(settings.get("alert_webhook_origin"), "")
    return AlertWebhook(is_set=True, masked=f"{shown(origin, 200)}/…" if origin else "…",
                        last_delivery=_delivery_of(settings.get("alert_delivery")))


def _stored(records: Records) -> Record:
    found = records.store.workspace_settings(records.workspace_id)
    return dict(found[0]) if found else {"workspace_id": records.workspace_id}


def _settings_in(tx: Transaction, workspace_id: str) -> Record:
    found = tx.workspace_settings(workspace_id)
    return dict(found[0]) if found else {"workspace_id": workspace_id}


def _sealed(settings: Mapping[str, Any]) -> str | None:
    token = settings.get(FIELD)
    return token if isinstance(token, str) and token else None


def _delivery_of(value: Any) -> AlertDelivery | None:
    """A stored delivery outcome, or None when there is none (or it is damaged)."""
    if not isinstance(value, dict):
        return None
    at, status, attempts = parse_time(value.get("at")), value.get("status_code"), \
        value.get("attempts")
    if at is None or not isinstance(value.get("ok"), bool) \
            or not isinstance(value.get("message"), str) \
            or not (status is None or type(status) is int) or type(attempts) is not int:
        return None
    return AlertDelivery(at=at, ok=value["ok"], message=shown(value["message"], 500),
                         status_code=status, attempts=attempts, test=value.get("test") is True)


def _delivery_doc(delivery: AlertDelivery) -> Record:
    return {"at": delivery.at.isoformat(), "ok": delivery.ok, "message": delivery.message,
            "status_code": delivery.status_code, "attempts": delivery.attempts,
            "test": delivery.test}


def settle(records: Records, outcome: AlertDelivery, action: str | None,
           target: Mapping[str, Any] | None) -> None:
    """Keep ``outcome`` as the workspace's last delivery and record ``action`` (unless the
    webhook was cleared meanwhile); a store that can't be written is only logged."""
    try:
        with records.transaction() as tx:
            settings = _settings_in(tx, records.workspace_id)
            if _sealed(settings) is None:
                return
            settings["alert_delivery"] = _delivery_doc(outcome)
            tx.put_workspace_settings(settings)
            if action is not None:
                records.audit(tx, action, target, ok=outcome.ok, reason=outcome.message,
                              status_code=outcome.status_code, attempts=outcome.attempts)
    except ConnectionsError as error:
        log.warning("Could not record how an alert of workspace %s ended: %s",
                    records.workspace_id, error)


# -- what is sent ------------------------------------------------------------------------------

def status_payload(workspace_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON a status change sends, from the connection's record as committed: its
    own check's sentence (already free of keys), nothing of another workspace's."""
    last = record.get("last_result")
    last = last if isinstance(last, dict) else {}
    status: Status = "connected" if record.get("status") == "connected" else "error"
    name = shown(text_or(record.get("name"), "(no name)"), 100)
    type = shown(text_or(record.get("type"), "?"), 40)
    message = shown(text_or(last.get("message"), ""), 2000)
    line = f"{_ICONS[status]} {name} ({type}) in {workspace_id}: {STATUS_LABELS[status]}"
    if message:
        line += f" — {shown(message, _MESSAGE_IN_TEXT)}"
    return {"text": _slack_escaped(line), "workspace": workspace_id,
            "connection_id": _text(record.get("id")), "name": name, "type": type,
            "status": status, "kind": shown(text_or(last.get("kind"), ""), 40),
            "message": message, "at": _text(record.get("last_checked_at"))}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def test_payload(workspace_id: str, now: str) -> dict[str, Any]:
    """The JSON of a test alert: shaped as a status change's, without a connection."""
    message = "Alerts about this workspace's connections will arrive here."
    return {"text": _slack_escaped(f"🔔 Test alert from connections for {workspace_id}: "
                                   f"{message}"),
            "workspace": workspace_id, "connection_id": None, "name": None, "type": None,
            "status": None, "kind": "test", "message": message, "at": now}


test_payload.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _slack_escaped(text: str) -> str:
    """``text`` as Slack shows it literally: ``<`` and ``>`` make links and mentions
    there (a connection named ``<!channel>`` would ping everyone)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- sending -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """What one POST came to: ``ok`` (2xx), else why not."""

    ok: bool
    reason: str
    status_code: int | None = None

    def outcome(self, at: datetime, *, attempts: int, test: bool = False) -> AlertDelivery:
        return AlertDelivery(at=at, ok=self.ok, message=self.reason,
                             status_code=self.status_code, attempts=attempts, test=test)


def post(url: str, payload: Mapping[str, Any], timeout: float) -> Answer:
    """POST ``payload`` to ``url`` once, within ``timeout`` seconds; the answer's body is
    not read (a huge or endless one costs nothing)."""
    where = http.origin(url)
    try:
        with _path_hidden(url), http.open_exchange(
                "POST", url, json_body=dict(payload), timeout=timeout) as exchange:
            status = exchange.response.status_code
    except ProviderError as error:
        return Answer(False, _failure(where, error, timeout), error.status_code)
    if 200 <= status < 300:
        return Answer(True, f"{where} answered HTTP {status}.", status)
    return Answer(False, f"{where} answered HTTP {status}.", status)


def _failure(where: str, error: ProviderError, timeout: float) -> str:
    if error.status_code is not None and 300 <= error.status_code < 400:
        return (f"{where} answered with a redirect (HTTP {error.status_code}), which is not "
                "followed: set the webhook to its final address.")
    if error.kind == "timeout":
        return f"{where} did not answer within {timeout:g} s."
    if error.kind == "tls":
        return f"The TLS handshake with {where} failed (an untrusted or invalid certificate?)."
    return (f"Can't reach {where}: the connection was refused or dropped, the name did not "
            "resolve, or the address is a refused (link-local or metadata) one.")


# What a webhook's path is (its secret), while this thread delivers to it: urllib3's
# debug lines name the path of each request, and are rewritten without it.
_HIDDEN: ContextVar[tuple[str, ...]] = ContextVar("connections_alert_path", default=())
_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry",
                    "urllib3.response", "urllib3.poolmanager")


@contextmanager
def _path_hidden(url: str) -> Iterator[None]:
    path = urlsplit(url).path
    try:
        sent = requests.Request("POST", url).prepare().path_url
    except requests.RequestException:
        sent = path
    hidden = tuple(p for p in {path, sent} if len(p) > 1)
    token = _HIDDEN.set(hidden)
    try:
        yield
    finally:
        _HIDDEN.reset(token)


class _HidePath(logging.Filter):
    """Rewrites a log line naming the path of the webhook being delivered to."""

    def filter(self, record: logging.LogRecord) -> bool:
        hidden = _HIDDEN.get()
        if hidden:
            text = record.getMessage()
            if any(path in text for path in hidden):
                for path in hidden:
                    text = text.replace(path, "/…")
                record.msg, record.args = text, None
        return True


@dataclass
class _Delivery:
    records: Records
    payload: dict[str, Any]
    target: dict[str, Any]  # the connection's id and name, for the audit trail
    attempts: int = 0


class Sender:
    """The process's deliveries, on one thread of its own (started when there is work,
    ended when there is none), tried in order of when each is due.

    :param backoff: seconds before each retry; after the last, a delivery is given up.
    :param timeout: seconds one attempt may take.
    :param limit: deliveries kept waiting at most.
    """

    def __init__(self, backoff: tuple[float, ...] = BACKOFF,
                 timeout: float = DELIVERY_TIMEOUT, limit: int = MAX_PENDING) -> None:
        self.backoff = backoff
        self.timeout = timeout
        self.limit = limit
        self._reset()

    def _reset(self) -> None:
        self._changed = threading.Condition()
        self._due: list[tuple[float, int, _Delivery]] = []
        self._order = itertools.count()
        self._sending = 0
        self._running = False

    def submit(self, records: Records, changed: list[Record]) -> None:
        """Queue one delivery per changed record, if the workspace has a webhook (on the
        committing thread: one read of the workspace's settings, nothing sent)."""
        try:
            if _sealed(_stored(records)) is None:
                return
        except ConnectionsError as error:
            log.warning("No alert sent for workspace %s: its settings can't be read: %s",
                        records.workspace_id, error)
            return
        deliveries = [_Delivery(records, status_payload(records.workspace_id, record),
                                {"id": record.get("id"), "name": record.get("name")})
                      for record in changed]
        with self._changed:
            room = max(0, self.limit - len(self._due) - self._sending)
            if room < len(deliveries):
                log.warning("%d alerts of workspace %s dropped: %d are already waiting",
                            len(deliveries) - room, records.workspace_id, self.limit - room)
            for delivery in deliveries[:room]:
                self._queue(delivery, 0.0)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is waiting or being sent; False if ``timeout`` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._due and not self._sending, timeout)

    def _queue(self, delivery: _Delivery, delay: float) -> None:
        """(Holding the lock.)  Deliver ``delivery`` in ``delay`` seconds."""
        heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), delivery))
        self._changed.notify_all()
        if not self._running:
            self._running = True
            threading.Thread(target=self._serve, name="connections-alerts", daemon=True).start()

    def _serve(self) -> None:
        while (delivery := self._next()) is not None:
            try:
                self._attempt(delivery)
            except Exception:  # a bug in one delivery must not stop every later alert
                log.exception("Delivering an alert of workspace %s failed unexpectedly",
                              delivery.records.workspace_id)
            finally:
                with self._changed:
                    self._sending -= 1
                    self._changed.notify_all()

    def _next(self) -> _Delivery | None:
        """The next delivery once it is due; None (the thread ends) when none is left."""
        with self._changed:
            while self._due:
                due, _, delivery = self._due[0]
                left = due - time.monotonic()
                if left <= 0:
                    heapq.heappop(self._due)
                    self._sending += 1
                    return delivery
                self._changed.wait(left)
            self._running = False
            self._changed.notify_all()
            return None

    def _attempt(self, delivery: _Delivery) -> None:
        records = delivery.records
        delivery.attempts += 1
        try:
            url = current_webhook(records)
        except DecryptionError as error:  # trying again can't help
            self._end(delivery, Answer(False, str(error)))
            return
        except ConnectionsError as error:
            answer = Answer(False, f"The workspace's settings could not be read: {error}")
        else:
            if url is None:
                return  # the webhook was cleared meanwhile: nobody to tell
            answer = post(url, delivery.payload, self.timeout)
        if answer.ok or delivery.attempts > len(self.backoff):
            self._end(delivery, answer)
        else:
            with self._changed:
                self._queue(delivery, self.backoff[delivery.attempts - 1])

    def _end(self, delivery: _Delivery, answer: Answer) -> None:
        records = delivery.records
        outcome = answer.outcome(parse_time(records.now()) or datetime.now().astimezone(),
                                 attempts=delivery.attempts)
        if not outcome.ok:
            log.warning("An alert of workspace %s was given up after %d attempts: %s",
                        records.workspace_id, outcome.attempts, outcome.message)
        settle(records, outcome, None if outcome.ok else "alerts.delivery_failed",
               delivery.target)


# The process's sender: every service's checks, in every session of the dashboard, hand their
# changes to it, so there is one thread and one bound per process.
_SENDER = Sender()
_HIDE_PATH = _HidePath()


def sender() -> Sender:
    """The process's sender (tests set its ``backoff`` and wait for it)."""
    return _SENDER


def _at_exit() -> None:
    if not _SENDER.wait_idle(EXIT_WAIT):
        log.warning("Alerts still waiting when the process ended were not delivered.")


listen_for_status_changes(_SENDER.submit)
for _name in _URLLIB3_LOGGERS:
    logging.getLogger(_name).addFilter(_HIDE_PATH)
atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):  # a child has none of its parent's threads
    os.register_at_fork(after_in_child=_SENDER._reset)
