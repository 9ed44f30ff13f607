"""Settings' Application access section: an admin makes a token, sees its secret once
(with its curl line), lists and revokes tokens; the others don't see the section;
Activity names each use."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from connections_core import CredentialsGate
from tests.app_support import SETTINGS, assert_clean, open_app, rendered, service, texts
from tests.support import OPENAI_KEY

ACTIVITY = "app_pages/activity.py"
ADA, VIC = "ada@example.com", "vic@example.com"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "connections-dashboard", "client_secret": "client-secret-4242",
        "server_metadata_url": "https://login.example.com/.well-known/openid-configuration"}


def open_as(email: str, page: str = SETTINGS) -> AppTest:
    user = {"is_logged_in": True, "email": email, "email_verified": True,
            "exp": time.time() + 3600}
    return open_app(page, secrets={"auth": AUTH}, user=user)


def test_an_admin_makes_sees_once_and_revokes_a_token(data_dir: object) -> None:
    trusted = service()
    made = trusted.create("openai", "Prod", {"apiKey": OPENAI_KEY}, initial_status="connected")
    trusted.set_default(made.id)
    at = open_app(SETTINGS)
    assert "Application access" in texts(at) and "No application tokens yet." in texts(at)

    at.text_input(key="settings_tokens_name").set_value("billing-worker")
    at.multiselect(key="settings_tokens_types").select("ollama").select("openai")
    at.button(key="FormSubmitter:settings_tokens_form-Create token").click().run()
    assert_clean(at)
    (token,) = trusted.app_tokens()
    (shown, curl) = [c.value for c in at.code]
    assert shown.startswith("cnx_") and "Authorization: Bearer $CONNECTIONS_TOKEN" in curl
    assert curl.endswith(f"/api/v1/credentials/{token.types[0]}")  # one the token may read
    assert CredentialsGate(trusted.store, trusted.keyring).resolve(shown, "openai").name == "Prod"
    at.button(key="settings_tokens_done").click().run()
    assert "billing-worker" in texts(at) and "last used just now" in texts(at)
    assert shown not in rendered(at)  # shown once: gone from the page after Done
    assert "settings_tokens_made" not in at.session_state  # nor kept in the session

    at.button(key=f"settings_tokens_revoke_{token.id}").click().run()
    at.button(key="settings_tokens_revoke_confirm").click().run()
    assert_clean(at)
    assert trusted.app_tokens()[0].revoked_at is not None
    assert "revoked" in texts(at)

    activity = open_app(ACTIVITY)
    (table,) = activity.dataframe
    shown_actions = set(table.value["What"])
    assert {"An application read credentials", "Made an application token",
            "Revoked an application token"} <= shown_actions


def test_only_admins_see_the_section(data_dir: object) -> None:
    trusted = service()
    trusted.set_member(ADA, "admin")
    trusted.set_member(VIC, "editor")
    assert "Application access" not in texts(open_as(VIC))
    assert "Application access" in texts(open_as(ADA))
