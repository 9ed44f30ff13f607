"""Application tokens (connections_core.app_access), on both stores: made, listed and
revoked by a workspace's admins, stored as a hash only; and the gate that answers
applications with them (its refusals, its rate, its audit entries).
The HTTP API over a started app is tests/test_app_access_api.py."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from connections_core import (
    ConnectionService,
    CredentialsGate,
    KeyRing,
    NotFoundError,
    PermissionDeniedError,
    Store,
    ValidationError,
)
from connections_core.app_access import (
    RATE_LIMIT,
    TOKEN_PREFIX,
    RateLimitedError,
    TokenRefusedError,
    token_hash,
)
from tests import stores
from tests.support import OPENAI_KEY, FakeClock

ADMIN = "ana@example.com"
EDITOR = "ed@example.com"


def gate(service: ConnectionService, clock: FakeClock | None = None, **options: object
         ) -> CredentialsGate:
    return CredentialsGate(service.store, service.keyring, clock=clock or service_clock(service),
                           **options)  # type: ignore[arg-type]


def service_clock(service: ConnectionService) -> FakeClock:
    return service._scope.clock  # type: ignore[return-value]


@pytest.fixture
def openai_default(service: ConnectionService) -> str:
    made = service.create("openai", "Prod", {"apiKey": OPENAI_KEY}, initial_status="connected")
    service.set_default(made.id)
    return made.id


def test_a_token_is_shown_once_and_stored_as_a_hash_only(
        service: ConnectionService, store: Store) -> None:
    token, secret = service.create_app_token("billing", types=["openai"])

    assert secret.startswith(TOKEN_PREFIX) and len(secret) >= len(TOKEN_PREFIX) + 43
    assert (token.name, token.types, token.created_by) == ("billing", ("openai",), "local")
    assert token.expires_at - token.created_at == timedelta(days=90)
    assert token.last_used_at is None and token.revoked_at is None
    assert secret not in repr(token)
    everything = json.dumps(stores.contents(store), default=str)
    assert secret not in everything and secret[len(TOKEN_PREFIX):] not in everything
    assert token_hash(secret) in everything
    assert service.app_tokens() == [token]
    (entry, *_) = service.audit(action="app_token.created")
    assert entry.target_name == "billing" and secret not in json.dumps(dict(entry.details))


@pytest.mark.parametrize(("options", "field"), [
    ({"name": ""}, "name"),
    ({"types": ["openai", "gpt"]}, "types"),
    ({"types": []}, "types"),
    ({"expires_in": timedelta(days=366)}, "expires_in"),
    ({"expires_in": timedelta(0)}, "expires_in"),
])
def test_a_token_that_cant_be_made_says_why(service: ConnectionService,
                                            options: dict[str, object], field: str) -> None:
    arguments = {"name": "app", **options}
    with pytest.raises(ValidationError) as caught:
        service.create_app_token(**arguments)  # type: ignore[arg-type]
    assert field in caught.value.field_errors
    assert service.app_tokens() == []


def test_a_name_is_taken_until_its_token_is_revoked(service: ConnectionService) -> None:
    first, _ = service.create_app_token("worker")
    with pytest.raises(ValidationError, match="exists already"):
        service.create_app_token("worker")
    service.revoke_app_token(first.id)
    second, _ = service.create_app_token("worker")
    assert [t.name for t in service.app_tokens()] == ["worker", "worker"]
    assert {t.id for t in service.app_tokens()} == {first.id, second.id}


def test_only_a_workspace_s_admins_manage_its_tokens(store: Store, keyring: KeyRing,
                                                     clock: FakeClock) -> None:
    trusted = ConnectionService(store, keyring, "team-a", clock=clock)
    trusted.set_member(ADMIN, "admin")
    trusted.set_member(EDITOR, "editor")
    admin = ConnectionService(store, keyring, "team-a", actor=ADMIN, clock=clock)
    editor = ConnectionService(store, keyring, "team-a", actor=EDITOR, clock=clock)

    token, _ = admin.create_app_token("ci")
    assert token.created_by == ADMIN
    for refused in (lambda: editor.create_app_token("mine"), editor.app_tokens,
                    lambda: editor.revoke_app_token(token.id)):
        with pytest.raises(PermissionDeniedError, match="needs the admin role"):
            refused()
    other = ConnectionService(store, keyring, "team-b", clock=clock)
    with pytest.raises(NotFoundError):
        other.revoke_app_token(token.id)  # another workspace's id is no id at all
    assert other.app_tokens() == []


def test_the_gate_answers_what_resolve_config_gives_and_records_it(
        service: ConnectionService, openai_default: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _, secret = service.create_app_token("billing", types=["openai"])

    found = gate(service).resolve(secret, "openai")

    assert (found.type, found.connection_id, found.name) == ("openai", openai_default, "Prod")
    assert found.config == service.resolve_config("openai")
    assert OPENAI_KEY not in repr(found)
    (entry,) = service.audit(action="credentials.resolved")
    assert (entry.actor, entry.target_id, dict(entry.details)) == (
        "app token 'billing'", openai_default, {"token": "billing", "type": "openai"})
    assert service.app_tokens()[0].last_used_at is not None
    trail = json.dumps([dict(e.details) for e in service.audit()])
    for secret_text in (secret, OPENAI_KEY):
        assert secret_text not in trail and secret_text not in caplog.text


def test_the_gate_refuses_a_token_it_can_t_use_all_in_the_same_words(
        service: ConnectionService, openai_default: str) -> None:
    _, expiring_secret = service.create_app_token(
        "short", expires_in=timedelta(minutes=1))
    revoked, revoked_secret = service.create_app_token("gone")
    service.revoke_app_token(revoked.id)
    the_gate = gate(service)
    service_clock(service).now += timedelta(minutes=2)

    refusals = set()
    for presented in (None, "", "cnx_unknown", "Bearer cnx_x", "cnx_" + "é" * 40,
                      expiring_secret, revoked_secret, expiring_secret[:-1]):
        with pytest.raises(TokenRefusedError) as caught:
            the_gate.resolve(presented, "openai")
        refusals.add(str(caught.value))
    assert len(refusals) == 1
    assert service.audit(action="credentials.resolved") == []


def test_the_gate_keeps_to_the_token_s_types_and_workspace(
        store: Store, keyring: KeyRing, clock: FakeClock) -> None:
    team_a = ConnectionService(store, keyring, "team-a", clock=clock)
    team_b = ConnectionService(store, keyring, "team-b", clock=clock)
    for service, key in ((team_a, OPENAI_KEY), (team_b, "sk-team-b-0123456789abcdef")):
        made = service.create("openai", "Prod", {"apiKey": key}, initial_status="connected")
        service.set_default(made.id)
    _, only_openai = team_a.create_app_token("a", types=["openai"])
    _, every_type = team_a.create_app_token("all")
    the_gate = CredentialsGate(store, keyring, clock=clock)

    assert the_gate.resolve(only_openai, "openai").config["apiKey"] == OPENAI_KEY
    with pytest.raises(PermissionDeniedError, match="reads only openai"):
        the_gate.resolve(only_openai, "anthropic")
    with pytest.raises(NotFoundError, match="no default Anthropic connection"):
        the_gate.resolve(every_type, "anthropic")
    with pytest.raises(NotFoundError, match="no provider type"):
        the_gate.resolve(every_type, "gpt")
    # A token of team-a never reads team-b's key, whatever it asks.
    assert the_gate.resolve(every_type, "openai").config["apiKey"] == OPENAI_KEY


def test_the_gate_answers_a_token_at_most_its_rate(service: ConnectionService,
                                                   openai_default: str) -> None:
    _, secret = service.create_app_token("busy")
    _, other = service.create_app_token("calm")
    now = [0.0]
    the_gate = gate(service, monotonic=lambda: now[0], rate_limit=5)
    for _ in range(5):
        the_gate.resolve(secret, "openai")
    with pytest.raises(RateLimitedError) as caught:
        the_gate.resolve(secret, "openai")
    assert caught.value.retry_after == 60
    assert the_gate.resolve(other, "openai").name == "Prod"  # each token has its own
    now[0] = 60.5
    assert the_gate.resolve(secret, "openai").name == "Prod"
    assert len(service.audit(action="credentials.resolved")) == 7
    assert RATE_LIMIT == 60


def test_a_revoked_token_stops_at_once_for_another_service_on_the_store(
        store: Store, keyring: KeyRing, clock: FakeClock) -> None:
    """Nothing about a token is cached: another replica's gate reads the revocation."""
    admin = ConnectionService(store, keyring, clock=clock)
    made = admin.create("openai", "Prod", {"apiKey": OPENAI_KEY}, initial_status="connected")
    admin.set_default(made.id)
    token, secret = admin.create_app_token("app")
    replica = CredentialsGate(store, keyring, clock=clock)
    assert replica.resolve(secret, "openai").name == "Prod"
    admin.revoke_app_token(token.id)
    with pytest.raises(TokenRefusedError):
        replica.resolve(secret, "openai")
