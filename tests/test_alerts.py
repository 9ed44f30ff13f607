"""Alerts: a workspace's webhook gets one POST per status change, and nothing secret
leaks on the way.

The receiver is a real HTTP server on 127.0.0.1 (tests/fakes.py), which also plays the
provider whose key is revoked and restored.  Deliveries run on the process's sender
thread: each test waits for it to be idle (bounded), never sleeps.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connections_core import (
    ConnectionService,
    DecryptionError,
    KeyRing,
    PermissionDeniedError,
    Store,
    TinyDBStore,
    ValidationError,
    alerts,
    generate_key,
)
from connections_core.backup import export_backup
from connections_core.doctor import run_checks
from tests.fakes import FakeServer
from tests.support import OPENAI_KEY, FakeClock

WORKSPACE = "team-a"
#: The part of a Slack webhook URL that is its secret.
TOKEN = "XyZ9hookSecretQw3rty7Uio0pAsd"
HOOK = f"/services/T0AAA/B0BBB/{TOKEN}"
ADMIN, EDITOR, VIEWER = "ada@example.com", "ed@example.com", "vi@example.com"
WAIT = 10.0  # seconds a test waits for the sender at most


@pytest.fixture(params=["tinydb", "postgresql"])
def either_store(request: pytest.FixtureRequest, data_path: Path) -> Store:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_store")  # type: ignore[no-any-return]
    return TinyDBStore(data_path)


@pytest.fixture
def service(store: Store, keyring: KeyRing, clock: FakeClock) -> ConnectionService:
    return service_on(store, keyring, clock=clock)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[alerts.Sender]:
    """The process's sender, retrying at once and giving each attempt 2 s."""
    sender = alerts.sender()
    monkeypatch.setattr(sender, "backoff", (0.0, 0.0, 0.0))
    monkeypatch.setattr(sender, "timeout", 2.0)
    yield sender
    assert sender.wait_idle(WAIT), "a delivery was still under way after the test"


@pytest.fixture
def receiver(fake_server: FakeServer) -> FakeServer:
    """The provider (its OpenAI API) and, at :data:`HOOK`, the webhook's receiver."""
    fake_server.api_key = OPENAI_KEY
    fake_server.respond(HOOK, 200, "ok", method="POST")
    return fake_server


def hook_url(server: FakeServer, path: str = HOOK) -> str:
    return f"{server.url}{path}"


def service_on(store: Store, keyring: KeyRing, actor: str | None = None,
               workspace: str = WORKSPACE, clock: FakeClock | None = None
               ) -> ConnectionService:
    return ConnectionService(store, keyring, workspace, actor=actor, clock=clock or FakeClock(),
                             timeout=2.0)


def posts(server: FakeServer, path: str = HOOK) -> list[dict[str, object]]:
    """The JSON bodies the receiver got at ``path``, oldest first."""
    return [request.json() for request in server.requests_to(path, "POST")]


def checked(service: ConnectionService, id: str) -> None:
    """Check the connection, and wait until every alert it set off was delivered."""
    service.test(id)
    assert alerts.sender().wait_idle(WAIT)


def revoke(server: FakeServer) -> None:
    server.api_key = "sk-revoked-0000000000000000"


def restore(server: FakeServer) -> None:
    server.api_key = OPENAI_KEY


# -- one POST per change --------------------------------------------------------------------

def test_one_post_per_status_change_and_none_otherwise(
        either_store: Store, keyring: KeyRing, receiver: FakeServer,
        fast_retries: alerts.Sender) -> None:
    service = service_on(either_store, keyring)
    prod = service.create("openai", "OpenAI prod", {"apiKey": OPENAI_KEY,
                                                   "baseUrl": receiver.openai_url})
    service.set_alert_webhook(hook_url(receiver))
    checked(service, prod.id)  # the first check: from Not checked, nothing to tell
    checked(service, prod.id)  # still connected
    assert posts(receiver) == []
    revoke(receiver)
    checked(service, prod.id)  # connected -> error
    checked(service, prod.id)  # still error
    restore(receiver)
    checked(service, prod.id)  # error -> connected
    stored = service.get(prod.id)
    checked(service, prod.id)

    down, up = posts(receiver)
    assert set(down) == {"text", "workspace", "connection_id", "name", "type", "status", "kind",
                         "message", "at"}
    assert (down["workspace"], down["connection_id"], down["name"], down["type"]) == (
        WORKSPACE, prod.id, "OpenAI prod", "openai")
    assert (down["status"], down["kind"], up["status"], up["kind"]) == (
        "error", "auth", "connected", "ok")
    assert str(down["text"]).startswith("🔴 OpenAI prod (openai) in team-a: Error — ")
    assert str(up["text"]).startswith("🟢 OpenAI prod (openai) in team-a: Connected")
    assert stored.last_result is not None and up["message"] == stored.last_result.message
    assert up["at"] == stored.last_checked_at.isoformat()  # type: ignore[union-attr]
    last = service.alert_webhook().last_delivery
    assert last is not None and last.ok and last.attempts == 1 and not last.test


def test_two_checks_committing_the_same_change_send_one_post(
        service: ConnectionService, receiver: FakeServer, fast_retries: alerts.Sender) -> None:
    prod = service.create("openai", "Prod", {"apiKey": OPENAI_KEY,
                                            "baseUrl": receiver.openai_url})
    checked(service, prod.id)
    service.set_alert_webhook(hook_url(receiver))
    revoke(receiver)
    running = [service.start_test(prod.id) for _ in range(4)]
    assert all(not future.result(WAIT).success for future in running)
    assert fast_retries.wait_idle(WAIT)
    assert [post["status"] for post in posts(receiver)] == ["error"]


def test_a_change_in_one_workspace_goes_to_its_own_webhook_only(
        store: Store, keyring: KeyRing, receiver: FakeServer,
        fast_retries: alerts.Sender) -> None:
    other_hook = "/services/T0BBB/B0CCC/otherWorkspaceToken123"
    receiver.respond(other_hook, 200, "ok", method="POST")
    team_a, team_b = service_on(store, keyring), service_on(store, keyring, workspace="team-b")
    quiet = service_on(store, keyring, workspace="team-c")  # no webhook
    team_a.set_alert_webhook(hook_url(receiver))
    team_b.set_alert_webhook(hook_url(receiver, other_hook))
    ids = [s.create("openai", f"{s.workspace_id} key", {"apiKey": OPENAI_KEY,
                                                        "baseUrl": receiver.openai_url}).id
           for s in (team_a, team_b, quiet)]
    for service, id in zip((team_a, team_b, quiet), ids, strict=True):
        checked(service, id)
    revoke(receiver)
    checked(team_b, ids[1])
    checked(quiet, ids[2])
    assert posts(receiver) == []
    (only,) = posts(receiver, other_hook)
    assert only["workspace"] == "team-b" and only["connection_id"] == ids[1]
    assert "team-a" not in json.dumps(only) and "team-c" not in json.dumps(only)


def test_a_connection_name_can_not_mention_a_whole_slack_channel() -> None:
    """Slack reads ``<!channel>`` in a webhook's text as a mention of everyone."""
    sent = alerts.status_payload("team-a", {
        "id": "c1", "name": "<!channel> & co", "type": "openai", "status": "error",
        "last_checked_at": "2026-01-01T00:00:00+00:00",
        "last_result": {"message": "Refused <@U123>.", "kind": "auth"}})
    assert sent["text"] == ("🔴 &lt;!channel&gt; &amp; co (openai) in team-a: Error — "
                            "Refused &lt;@U123&gt;.")
    assert sent["name"] == "<!channel> & co"  # the JSON fields stay as they are


# -- nothing secret on the way --------------------------------------------------------------

def test_no_key_or_webhook_token_reaches_a_log_the_audit_trail_or_the_data_file(
        service: ConnectionService, receiver: FakeServer, data_path: Path,
        fast_retries: alerts.Sender, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.echo_key_in_errors = True  # the provider's 401 quotes the key it was sent
    prod = service.create("openai", "Prod", {"apiKey": OPENAI_KEY,
                                            "baseUrl": receiver.openai_url})
    checked(service, prod.id)
    shown = service.set_alert_webhook(hook_url(receiver))
    revoke(receiver)
    checked(service, prod.id)
    receiver.respond(HOOK, 500, f"no such hook {TOKEN}", method="POST")
    restore(receiver)
    checked(service, prod.id)  # delivered to a failing receiver, then given up
    service.send_test_alert()

    assert len(posts(receiver)) == 6
    assert shown.masked == f"{receiver.url}/…" and TOKEN not in repr(service.alert_webhook())
    lines = [record.getMessage() for record in caplog.records]
    assert any("POST /…" in line for line in lines), "urllib3 logged the delivery"
    assert not [line for line in lines if TOKEN in line or OPENAI_KEY in line]
    audit = [repr(entry) for entry in service.audit(limit=100)]
    assert {"alerts.webhook_set", "alerts.delivery_failed", "alerts.test_sent"} <= {
        entry.action for entry in service.audit(limit=100)}
    assert not [entry for entry in audit if TOKEN in entry or OPENAI_KEY in entry]
    for request in receiver.requests_to(HOOK):
        assert OPENAI_KEY.encode() not in request.body and b"sk-" not in request.body
    for file in data_path.parent.iterdir():
        data = file.read_bytes()
        assert TOKEN.encode() not in data and OPENAI_KEY.encode() not in data, file.name


def test_the_webhook_is_sealed_in_the_workspace_settings_and_cleared(
        either_store: Store, keyring: KeyRing, receiver: FakeServer) -> None:
    service = service_on(either_store, keyring)
    assert not service.alert_webhook().is_set
    url = hook_url(receiver)
    assert service.set_alert_webhook(f"  {url} ").masked == f"{receiver.url}/…"
    (settings,) = either_store.workspace_settings(WORKSPACE)
    assert settings["alert_webhook"].startswith("v2:") and TOKEN not in json.dumps(settings)
    assert either_store.workspace_settings("team-b") == []
    other = service_on(either_store, keyring, workspace="team-b")
    with either_store.transaction() as tx:  # the token, copied to another workspace
        tx.put_workspace_settings({**settings, "workspace_id": "team-b"})
    with pytest.raises(DecryptionError, match="Set the webhook again") as refused:
        other.send_test_alert()
    assert TOKEN not in str(refused.value)
    service.set_alert_webhook(None)
    assert service.alert_webhook() == alerts.AlertWebhook(is_set=False)
    service.set_alert_webhook("")  # clearing again changes nothing
    actions = [entry.action for entry in service.audit()]
    assert actions[:2] == ["alerts.webhook_cleared", "alerts.webhook_set"]
    assert all(TOKEN not in repr(entry) for entry in service.audit())


# -- a failing or hostile receiver ----------------------------------------------------------

def test_a_failing_receiver_is_retried_then_given_up_and_the_workspace_says_so(
        either_store: Store, keyring: KeyRing, receiver: FakeServer,
        fast_retries: alerts.Sender) -> None:
    service = service_on(either_store, keyring)
    prod = service.create("openai", "Prod", {"apiKey": OPENAI_KEY,
                                            "baseUrl": receiver.openai_url})
    checked(service, prod.id)
    service.set_alert_webhook(hook_url(receiver))
    receiver.respond(HOOK, 500, "down", method="POST")
    revoke(receiver)
    checked(service, prod.id)

    assert len(posts(receiver)) == 1 + len(fast_retries.backoff)
    last = service.alert_webhook().last_delivery
    assert last is not None and not last.ok
    assert (last.attempts, last.status_code) == (4, 500)
    assert last.message == f"{receiver.url} answered HTTP 500."
    failed = service.audit(action="alerts.delivery_failed")
    assert len(failed) == 1 and failed[0].target_id == prod.id
    assert dict(failed[0].details)["attempts"] == 4


def test_each_retry_waits_its_back_off(
        service: ConnectionService, receiver: FakeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sender = alerts.sender()
    monkeypatch.setattr(sender, "backoff", (0.2, 0.4))
    prod = service.create("openai", "Prod", {"apiKey": OPENAI_KEY,
                                            "baseUrl": receiver.openai_url})
    checked(service, prod.id)
    service.set_alert_webhook(hook_url(receiver))
    receiver.respond(HOOK, 503, "busy", method="POST")
    revoke(receiver)
    started = time.monotonic()
    service.test(prod.id)
    assert sender.wait_idle(WAIT)
    assert time.monotonic() - started >= 0.6  # never sooner than the back-off says
    assert len(posts(receiver)) == 3


def test_a_hostile_receiver_can_not_redirect_stall_or_flood_a_delivery(
        store: Store, keyring: KeyRing, receiver: FakeServer) -> None:
    service = ConnectionService(store, keyring, WORKSPACE, timeout=0.5)
    service.set_alert_webhook(hook_url(receiver))
    receiver.respond(HOOK, 302, "", method="POST", headers={"Location": "/elsewhere"})
    redirected = service.send_test_alert()
    assert not redirected.ok and "redirect" in redirected.message
    assert receiver.requests_to("/elsewhere") == []
    receiver.respond(HOOK, 200, b"x" * (8 * 1024 * 1024), method="POST")
    assert service.send_test_alert().ok  # the body is never read
    receiver.respond(HOOK, 200, "late", method="POST", delay=3.0)
    stalled = service.send_test_alert()
    assert not stalled.ok and stalled.message == f"{receiver.url} did not answer within 0.5 s."
    assert service.alert_webhook().last_delivery == stalled


# -- the test alert, roles, URLs ------------------------------------------------------------

def test_the_test_alert_posts_once_and_is_kept_as_the_last_delivery(
        service: ConnectionService, receiver: FakeServer) -> None:
    with pytest.raises(ValidationError, match="No alert webhook is set"):
        service.send_test_alert()
    service.set_alert_webhook(hook_url(receiver))
    outcome = service.send_test_alert()
    (sent,) = posts(receiver)
    assert (sent["kind"], sent["workspace"], sent["connection_id"]) == ("test", WORKSPACE, None)
    assert str(sent["text"]).startswith("🔔 Test alert from connections for team-a")
    assert outcome.ok and outcome.test and outcome.status_code == 200
    assert service.alert_webhook().last_delivery == outcome
    entry = service.audit(action="alerts.test_sent")[0]
    assert dict(entry.details)["ok"] is True


def test_only_admins_set_the_webhook_or_send_a_test_alert(
        store: Store, keyring: KeyRing, receiver: FakeServer) -> None:
    trusted = service_on(store, keyring)  # sign-in off: trusted
    for email, role in ((ADMIN, "admin"), (EDITOR, "editor"), (VIEWER, "viewer")):
        trusted.set_member(email, role)
    trusted.set_alert_webhook(hook_url(receiver))
    for actor in (EDITOR, VIEWER):
        person = service_on(store, keyring, actor)
        assert person.alert_webhook().is_set
        with pytest.raises(PermissionDeniedError, match="needs the admin role"):
            person.set_alert_webhook(None)
        with pytest.raises(PermissionDeniedError):
            person.send_test_alert()
    assert posts(receiver) == [] and trusted.alert_webhook().is_set
    admin = service_on(store, keyring, ADMIN)
    assert admin.send_test_alert().ok
    admin.set_alert_webhook(None)
    assert not trusted.alert_webhook().is_set
    with pytest.raises(PermissionDeniedError):
        service_on(store, keyring, "eve@example.com").alert_webhook()


@pytest.mark.parametrize(("url", "said"), [
    ("hooks.slack.com/services/T0/B0/abc", "must be an http:// or https:// URL"),
    ("ftp://hooks.example.com/abc", "must be an http:// or https:// URL"),
    ("https://169.254.169.254/latest/meta-data", "link-local or cloud metadata"),
    ("http://[fe80::1]/hook", "link-local or cloud metadata"),
    ("https://0xa9fea9fe/hook", "link-local or cloud metadata"),
    ("https://bot:hunter2pass@hooks.example.com/abc", "must not contain a user name"),
    ("https://hooks.example.com/abc?sig=s3cr3tsig", "must not contain a query"),
    ("https://hooks.example.com/a b", "must not contain spaces"),
    (12345, "A webhook URL is text"),
    ("https://hooks.example.com/" + "a" * 2100, "at most 2048 characters"),
])
def test_a_webhook_url_follows_the_base_url_rules(service: ConnectionService, url: object,
                                                  said: str) -> None:
    with pytest.raises(ValidationError, match=said) as refused:
        service.set_alert_webhook(url)  # type: ignore[arg-type]
    assert list(refused.value.field_errors) == ["alert_webhook"]
    assert "hunter2pass" not in str(refused.value) and "s3cr3tsig" not in str(refused.value)
    assert not service.alert_webhook().is_set


# -- keys and backups -----------------------------------------------------------------------

def test_key_rotation_and_doctor_cover_the_webhook(
        data_path: Path, receiver: FakeServer) -> None:
    old, new = generate_key(), generate_key()
    service_on(TinyDBStore(data_path), KeyRing(old)).set_alert_webhook(hook_url(receiver))
    store = TinyDBStore(data_path)
    rotating = service_on(store, KeyRing(new, old))
    (residual,) = rotating.residual_secrets()
    assert (residual.workspace_id, residual.name, residual.reason) == (
        WORKSPACE, "Alert webhook", "previous_key")
    env = {"ENCRYPTION_KEY": new, "ENCRYPTION_KEY_PREVIOUS": old}
    doctor = {check.name: check for check in run_checks(
        data_path.parent, env, secrets_files=[data_path.parent / "absent.toml"])}
    assert doctor["residual_secrets"].failed and "1 stored secret" in doctor[
        "residual_secrets"].message
    assert rotating.rotate_keys() == 1
    assert rotating.residual_secrets() == []
    assert service_on(store, KeyRing(new)).send_test_alert().ok  # the new key alone opens it


def test_a_webhook_no_key_opens_stops_a_rotation_and_is_listed(
        data_path: Path, receiver: FakeServer) -> None:
    service_on(TinyDBStore(data_path), KeyRing(generate_key())).set_alert_webhook(
        hook_url(receiver))
    store = TinyDBStore(data_path)
    with store.transaction() as tx:  # the key check of another key, as a restore might leave
        tx.remove_key_check()
    other = service_on(store, KeyRing(generate_key()))
    assert [r.reason for r in other.residual_secrets()] == ["no_key"]
    with pytest.raises(DecryptionError, match="team-a.*Nothing was re-encrypted"):
        other.rotate_keys()


def test_a_backup_leaves_the_webhook_out(service: ConnectionService,
                                         receiver: FakeServer) -> None:
    """Decided: a backup carries connections and members, not where alerts go, so that a
    copy restored elsewhere (staging, a laptop) does not post into the team's channel."""
    service.create("ollama", "Box", {"baseUrl": receiver.url})
    service.set_alert_webhook(hook_url(receiver))
    data = export_backup(service, [WORKSPACE], "a long passphrase")
    assert TOKEN.encode() not in data and b"alert" not in data and b"/services/" not in data
