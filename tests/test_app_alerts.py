"""Settings' Alerts section: an admin sets, replaces, tests and removes the workspace's
webhook, seen only as its origin; everyone sees how the last delivery went.

The receiver is a real HTTP server on 127.0.0.1 (tests/fakes.py), which also plays the
provider whose key is revoked.  Deliveries run on the process's sender thread: a test
waits for it to be idle (bounded), never sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connections_core import ConnectionService, alerts
from tests.app_support import (
    SETTINGS,
    add,
    assert_clean,
    errors,
    open_app,
    plain,
    rendered,
    service,
    texts,
)
from tests.fakes import API_KEY, FakeServer

#: The part of a Slack-like webhook URL that is its secret.
TOKEN = "XyZ9hookSecretQw3rty7Uio0pAsd"
HOOK = f"/services/T0AAA/B0BBB/{TOKEN}"
ADA, VIC = "ada@example.com", "vic@example.com"
URL_FIELD = "settings_alerts_url"
WAIT = 10.0  # seconds a test waits for the sender at most
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "connections-dashboard", "client_secret": "client-secret-4242",
        "server_metadata_url": "https://login.example.com/.well-known/openid-configuration"}


@pytest.fixture
def receiver(fake_server: FakeServer) -> FakeServer:
    """The webhook's receiver at :data:`HOOK`, answering 200 (and a provider)."""
    fake_server.respond(HOOK, 200, "ok", method="POST")
    return fake_server


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[alerts.Sender]:
    """The process's sender, retrying at once and giving each attempt 2 s."""
    sender = alerts.sender()
    monkeypatch.setattr(sender, "backoff", (0.0, 0.0, 0.0))
    monkeypatch.setattr(sender, "timeout", 2.0)
    yield sender
    assert sender.wait_idle(WAIT), "a delivery was still under way after the test"


def hook(server: FakeServer) -> str:
    return f"{server.url}{HOOK}"


def open_as(email: str) -> AppTest:
    """Settings with sign-in on and ``email`` signed in."""
    user = {"is_logged_in": True, "email": email, "email_verified": True,
            "exp": time.time() + 3600}
    return open_app(SETTINGS, secrets={"auth": AUTH}, user=user)


def save(at: AppTest, url: str) -> AppTest:
    at.text_input(key=URL_FIELD).set_value(url)
    return at.button(key="settings_alerts_save").click().run()


def assert_no_token(at: AppTest) -> None:
    """The token is in no element's value or proto, and in no widget's state."""
    assert TOKEN not in rendered(at)
    assert URL_FIELD not in at.session_state or TOKEN not in at.session_state[URL_FIELD]


# -- an admin ------------------------------------------------------------------------------

def test_an_admin_sets_the_webhook_and_sees_only_its_origin(data_dir: Path,
                                                            receiver: FakeServer) -> None:
    at = save(open_app(SETTINGS), hook(receiver))

    assert service().alert_webhook().is_set
    assert f"Alerts go to **{receiver.url}/…**" in texts(at)
    assert [plain(t.value) for t in at.toast] == [f"Alerts now go to **{receiver.url}/…**"]
    assert not [w for w in at.text_input if w.key == URL_FIELD]  # set: Replace opens it
    assert_no_token(at)

    at.button(key="settings_alerts_replace").click().run()
    assert at.text_input(key=URL_FIELD).value == ""
    assert_no_token(at)
    assert_clean(at)


def test_an_invalid_url_is_refused_on_its_field_and_nothing_is_saved(data_dir: Path) -> None:
    at = save(open_app(SETTINGS), "http://169.254.169.254/latest/meta-data")

    [error] = errors(at)
    assert error.startswith("The webhook URL ") and "metadata" in error
    assert not service().alert_webhook().is_set
    assert "No alert webhook is set" in texts(at)


def test_an_empty_field_is_not_taken_for_removing_the_webhook(data_dir: Path,
                                                              receiver: FakeServer) -> None:
    service().set_alert_webhook(hook(receiver))
    at = open_app(SETTINGS)
    at.button(key="settings_alerts_replace").click().run()
    at = save(at, "  ")

    assert errors(at) == ["Paste the webhook's URL first, like "
                          "https://hooks.slack.com/services/…"]
    assert service().alert_webhook().is_set


def test_a_test_alert_is_posted_once_and_its_outcome_shown(data_dir: Path,
                                                           receiver: FakeServer) -> None:
    service().set_alert_webhook(hook(receiver))
    at = open_app(SETTINGS)

    at.button(key="settings_alerts_test").click().run()

    [sent] = receiver.requests_to(HOOK, "POST")
    assert sent.json()["kind"] == "test"
    [success] = [plain(s.value) for s in at.success if "Test alert" in s.value]
    assert success.startswith("Test alert delivered just now (")
    assert success.endswith(f"{receiver.url} answered HTTP 200.")
    assert_no_token(at)
    assert_clean(at)


def test_a_test_alert_that_fails_says_why(data_dir: Path, receiver: FakeServer) -> None:
    receiver.respond(HOOK, 404, "no_service", method="POST")
    service().set_alert_webhook(hook(receiver))
    at = open_app(SETTINGS)

    at.button(key="settings_alerts_test").click().run()

    [warning] = [plain(w.value) for w in at.warning if "was not delivered" in w.value]
    assert warning.startswith("The test alert sent just now (")
    assert warning.endswith(f"{receiver.url} answered HTTP 404.")


def test_an_admin_removes_the_webhook_after_confirming(data_dir: Path,
                                                       receiver: FakeServer) -> None:
    service().set_alert_webhook(hook(receiver))
    at = open_app(SETTINGS)

    at.button(key="settings_alerts_remove_webhook").click().run()
    assert service().alert_webhook().is_set  # only asked so far
    at.button(key="settings_alerts_remove_confirm").click().run()

    assert not service().alert_webhook().is_set
    assert "No alert webhook is set" in texts(at)
    assert at.text_input(key=URL_FIELD).value == ""


def test_a_delivery_given_up_is_a_warning_with_its_reason_and_time(
        data_dir: Path, receiver: FakeServer, fast_retries: alerts.Sender) -> None:
    receiver.respond(HOOK, 500, "down", method="POST")
    work = add("openai", "Work", apiKey=API_KEY, baseUrl=receiver.openai_url)
    checks = ConnectionService.from_env()
    checks.test(work.id)  # Not checked -> Connected: nothing to tell
    checks.set_alert_webhook(hook(receiver))
    receiver.api_key = "sk-revoked-0000000000000000"
    checks.test(work.id)  # Connected -> Error: one alert, which the receiver refuses
    assert fast_retries.wait_idle(WAIT)

    at = open_app(SETTINGS)

    assert len(receiver.requests_to(HOOK, "POST")) == 4  # the first try and three retries
    [warning] = [plain(w.value) for w in at.warning if "given up" in w.value]
    assert warning.startswith("Alerts are not getting through: the last one was given up "
                              "just now (")
    assert f"after 4 attempts: {receiver.url} answered HTTP 500." in warning
    at.switch_page("app_pages/activity.py").run()
    [failed] = [row for _, row in at.dataframe[0].value.iterrows()
                if row["What"] == "Could not deliver an alert"]
    assert failed["Which connection"] == "Work"
    assert failed["Details"] == (f"not delivered · reason: {receiver.url} answered HTTP 500. · "
                                 "HTTP 500 · 4 attempts")
    assert_clean(at)


# -- the others ----------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_others_see_the_webhook_and_its_last_delivery_read_only(
        data_dir: Path, receiver: FakeServer, role: str) -> None:
    service().set_member(ADA, "admin")
    service().set_member(VIC, role)
    ada = ConnectionService.from_env(actor=ADA)
    ada.set_alert_webhook(hook(receiver))
    ada.send_test_alert()

    at = open_as(VIC)

    assert f"Alerts go to **{receiver.url}/…**" in texts(at)
    assert any("Test alert delivered" in s.value for s in at.success)
    assert not [w for w in at.text_input if w.key == URL_FIELD]
    told = (f"You are {'a' if role == 'viewer' else 'an'} {role} in default: ask an admin "
            "to do this, or to make you an admin.")
    for key in ("settings_alerts_replace", "settings_alerts_test"):
        button = at.button(key=key)
        assert button.disabled and plain(button.help) == told
    assert "Monitoring" not in texts(at)  # the server's details are the admins'
    assert_no_token(at)
    assert_clean(at)


# -- the server's monitor ------------------------------------------------------------------

def test_admins_see_whether_this_server_checks_and_serves_metrics(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics_token = "metrics-token-never-shown-8080"
    monkeypatch.delenv("CONNECTIONS_SCHEDULER", raising=False)
    monkeypatch.delenv("CONNECTIONS_METRICS_TOKEN", raising=False)
    [before] = [c for c in texts(open_app(SETTINGS)).splitlines() if "Monitoring" in c]

    monkeypatch.setenv("CONNECTIONS_SCHEDULER", "0")
    monkeypatch.setenv("CONNECTIONS_METRICS_TOKEN", metrics_token)
    at = open_app(SETTINGS)
    [after] = [c for c in texts(at).splitlines() if "Monitoring" in c]

    assert "this server runs the scheduled checks" in before
    assert "`/metrics` is off" in before
    assert "this server runs no scheduled checks (`CONNECTIONS_SCHEDULER=0`)" in after
    assert "`/metrics` is on" in after
    assert metrics_token not in rendered(at)
