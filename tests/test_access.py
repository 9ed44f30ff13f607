"""Who may do what: every role against every operation, on a real store.

The matrix below is the rule as the issue states it, written out by hand (not
derived from the code under test): each allowed call succeeds, each refused
one raises PermissionDeniedError and leaves every record unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connections_core import (
    ROLES,
    ConnectionsError,
    ConnectionService,
    KeyRing,
    NotFoundError,
    PermissionDeniedError,
    Store,
    ValidationError,
)
from tests import stores
from tests.fakes import FakeServer
from tests.support import OPENAI_KEY, FakeClock

WORKSPACE = "team"
ADMIN, EDITOR, VIEWER = "ada@example.com", "ed@example.com", "vi@example.com"
ROOT, STRANGER = "root@example.com", "eve@example.com"
KEN = "ken@example.com"
KELVIN = "\u212aen@example.com"  # a Kelvin sign, which Unicode lower-cases to "k"


@dataclass
class Team:
    """A workspace with two OpenAI connections, one deleted, and an Ollama one."""

    store: Store
    keyring: KeyRing
    clock: FakeClock
    fake: FakeServer
    openai_id: str
    second_id: str
    deleted_id: str
    ollama_id: str

    def service(self, actor: str | None, workspace: str = WORKSPACE) -> ConnectionService:
        return ConnectionService(self.store, self.keyring, workspace, actor=actor,
                                 admins=[ROOT], clock=self.clock, timeout=2.0)

    def records(self) -> dict[str, Any]:
        """Everything but the audit trail: connections, members and the key check."""
        return stores.records(self.store)


@pytest.fixture
def team(store: Store, keyring: KeyRing, clock: FakeClock, fake_server: FakeServer) -> Team:
    trusted = ConnectionService(store, keyring, WORKSPACE, clock=clock, timeout=2.0)
    fake_server.api_key = OPENAI_KEY
    first = trusted.create("openai", "Work", {"apiKey": OPENAI_KEY,
                                              "baseUrl": fake_server.openai_url})
    second = trusted.create("openai", "Spare", {"apiKey": OPENAI_KEY,
                                                "baseUrl": fake_server.openai_url})
    gone = trusted.create("anthropic", "Old", {"apiKey": "sk-ant-old-0123456789"})
    trusted.delete(gone.id)
    local = trusted.create("ollama", "Local", {"baseUrl": fake_server.url})
    trusted.set_member(ADMIN, "admin")
    trusted.set_member(EDITOR, "editor")
    trusted.set_member(VIEWER, "viewer")
    return Team(store, keyring, clock, fake_server, first.id, second.id, gone.id, local.id)


Call = Callable[[ConnectionService, Team], Any]
CALLS: dict[str, Call] = {
    "list": lambda s, t: s.list(),
    "list_deleted": lambda s, t: s.list_deleted(),
    "get": lambda s, t: s.get(t.openai_id),
    "get_default": lambda s, t: s.get_default("openai"),
    "members": lambda s, t: s.members(),
    "audit": lambda s, t: s.audit(),
    "workspaces": lambda s, t: s.workspaces(),
    "test": lambda s, t: s.test(t.ollama_id),
    "test_all": lambda s, t: s.test_all(),
    "iter_test_all": lambda s, t: list(s.iter_test_all()),
    "start_test": lambda s, t: s.start_test(t.ollama_id).result(),
    "start_test_all": lambda s, t: list(s.start_test_all().results()),
    "refresh_ollama_models": lambda s, t: s.refresh_ollama_models(t.ollama_id),
    "ollama_models": lambda s, t: s.ollama_models(t.ollama_id),
    "ollama_version": lambda s, t: s.ollama_version(t.ollama_id),
    "running_models": lambda s, t: s.running_models(t.ollama_id),
    "model_details": lambda s, t: s.model_details(t.ollama_id, "llama3.2:1b"),
    "create": lambda s, t: s.create("ollama", "New", {"baseUrl": t.fake.url}),
    "update": lambda s, t: s.update(t.openai_id, 1, name="Renamed"),
    "delete": lambda s, t: s.delete(t.openai_id),
    "restore": lambda s, t: s.restore(t.deleted_id),
    "set_default": lambda s, t: s.set_default(t.second_id),
    "test_draft": lambda s, t: s.test_draft("ollama", {"baseUrl": t.fake.url}),
    "start_test_draft": lambda s, t: s.start_test_draft("ollama", {"baseUrl": t.fake.url}
                                                        ).result(),
    "pull_model": lambda s, t: list(s.pull_model(t.ollama_id, "llama3.2:1b")),
    "delete_model": lambda s, t: s.delete_model(t.ollama_id, "qwen2.5:0.5b"),
    "set_member": lambda s, t: s.set_member("new@example.com", "viewer"),
    "remove_member": lambda s, t: s.remove_member(VIEWER),
    "rotate_keys": lambda s, t: s.rotate_keys(),
    "resolve_config": lambda s, t: s.resolve_config("openai"),
}
ANYONE = {"workspaces"}  # answers about the actor: empty for a stranger
READ = ANYONE | {"list", "list_deleted", "get", "get_default", "members", "audit", "test",
                 "test_all", "iter_test_all", "start_test", "start_test_all",
                 "refresh_ollama_models", "ollama_models", "ollama_version", "running_models",
                 "model_details"}
EDIT = READ | {"create", "update", "delete", "restore", "set_default", "test_draft",
               "start_test_draft", "pull_model", "delete_model"}
ADMINISTER = EDIT | {"set_member", "remove_member"}
ALLOWED: dict[str, set[str]] = {
    "stranger": ANYONE,
    "viewer": READ,
    "editor": EDIT,
    "admin": ADMINISTER,
    "instance admin": ADMINISTER | {"rotate_keys"},
    "trusted": set(CALLS),
}
ACTORS = {"stranger": STRANGER, "viewer": VIEWER, "editor": EDITOR, "admin": ADMIN,
          "instance admin": ROOT, "trusted": None}
CHANGES = {"create", "update", "delete", "restore", "set_default", "set_member",
           "remove_member", "rotate_keys", "test", "test_all", "iter_test_all", "start_test",
           "start_test_all", "refresh_ollama_models"}


@pytest.mark.parametrize("who", list(ACTORS))
@pytest.mark.parametrize("operation", list(CALLS))
def test_role_by_operation(team: Team, who: str, operation: str) -> None:
    service = team.service(ACTORS[who])
    before = team.records()
    if operation in ALLOWED[who]:
        CALLS[operation](service, team)
        if operation not in CHANGES:
            assert team.records() == before
    else:
        with pytest.raises(PermissionDeniedError) as refused:
            CALLS[operation](service, team)
        assert refused.value.operation in (operation, "iter_test_all", "test_all")
        assert team.records() == before


def test_a_refusal_is_recorded_as_access_denied(team: Team) -> None:
    with pytest.raises(PermissionDeniedError):
        team.service(VIEWER).delete(team.openai_id)
    entry = team.service(None).audit(limit=1)[0]
    assert (entry.actor, entry.action, dict(entry.details)) == (
        VIEWER, "access.denied", {"operation": "delete"})


def test_a_stranger_gets_the_same_words_for_a_missing_workspace(team: Team) -> None:
    messages = []
    for workspace in (WORKSPACE, "no-such-workspace"):
        with pytest.raises(PermissionDeniedError) as refused:
            team.service(STRANGER, workspace).list()
        messages.append(str(refused.value).replace(workspace, "<w>"))
    assert messages[0] == messages[1]


def test_a_workspace_without_members_is_open_only_to_instance_admins(team: Team) -> None:
    with pytest.raises(PermissionDeniedError):
        team.service(ADMIN, "empty").list()
    assert team.service(ROOT, "empty").list() == []
    assert team.service(None, "empty").list() == []


def test_roles_and_addresses_compare_case_insensitively(team: Team) -> None:
    service = team.service("Ed@Example.COM")
    assert service.role == "editor"
    assert service.can("create") and not service.can("set_member")
    root = ConnectionService(team.store, team.keyring, WORKSPACE, actor="ROOT@example.com",
                             admins=["Root@Example.com"])
    assert root.role == "admin" and root.is_instance_admin


def test_only_ascii_letters_fold_case(team: Team) -> None:
    """``"\\u212aen@example.com".lower() == "ken@example.com"``: someone whose provider
    verified the first address was taken for the second, and for an instance admin when
    that one was in CONNECTIONS_ADMINS."""
    team.service(ADMIN).set_member(KEN, "editor")
    kelvin = ConnectionService(team.store, team.keyring, WORKSPACE, actor=KELVIN, admins=[KEN])
    assert kelvin.actor == KELVIN
    assert not kelvin.is_instance_admin
    assert kelvin.role is None


def test_a_non_ascii_address_is_a_member_and_an_admin_as_written(team: Team) -> None:
    admin = team.service(ADMIN)
    admin.set_member(KEN, "editor")
    assert admin.set_member(f"  {KELVIN} ", "viewer").email == KELVIN
    assert team.service("KEN@Example.com").role == "editor"
    assert team.service(KELVIN).role == "viewer"
    assert ConnectionService(team.store, team.keyring, WORKSPACE, actor=KELVIN,
                             admins=[KELVIN]).is_instance_admin
    assert not ConnectionService(team.store, team.keyring, WORKSPACE, actor=KEN,
                                 admins=[KELVIN]).is_instance_admin


def test_the_audit_filter_tells_the_two_addresses_apart(team: Team) -> None:
    team.service(ADMIN).set_member(KEN, "editor")
    team.service(KEN).create("ollama", "Ken's", {"baseUrl": team.fake.url})
    assert team.service(ADMIN).audit(actor=KELVIN) == []
    assert [entry.target_name for entry in team.service(ADMIN).audit(
        actor="Ken@Example.com", action="connection.created")] == ["Ken's"]


def test_role_is_none_for_trusted_code_and_strangers(team: Team) -> None:
    assert team.service(None).role is None
    assert team.service(STRANGER).role is None
    assert team.service(None).can("rotate_keys")
    assert not team.service(ROOT).can("resolve_config")


def test_a_role_change_takes_effect_at_once(team: Team) -> None:
    viewer = team.service(VIEWER)
    assert not viewer.can("create")
    team.service(ADMIN).set_member(VIEWER, "editor")
    assert viewer.role == "editor"
    viewer.create("ollama", "Mine", {"baseUrl": team.fake.url})


def test_workspaces_lists_only_the_actors(team: Team) -> None:
    team.service(None, "other").create("ollama", "Theirs", {"baseUrl": team.fake.url})
    assert team.service(VIEWER).workspaces() == [WORKSPACE]
    assert team.service(ROOT).workspaces() == ["default", "other", WORKSPACE]
    assert team.service(None).workspaces() == ["default", "other", WORKSPACE]
    assert team.service(VIEWER, "other").accessible_workspaces() == [WORKSPACE]


def test_workspaces_answers_whoever_asks_from_wherever(team: Team) -> None:
    """workspaces() raised PermissionDeniedError for someone with no access to the
    service's workspace, where the contract says it returns the workspaces the actor
    may open: an empty list for a stranger."""
    assert team.service(STRANGER).workspaces() == []
    assert team.service(VIEWER, "other").workspaces() == [WORKSPACE]
    assert [e for e in team.service(None).audit() if e.action == "access.denied"] == []


# -- members -------------------------------------------------------------------------------

def test_members_are_listed_admins_first(team: Team) -> None:
    members = team.service(VIEWER).members()
    assert [(m.email, m.role) for m in members] == [
        (ADMIN, "admin"), (EDITOR, "editor"), (VIEWER, "viewer")]
    assert members[0].added_by == "local"


def test_set_member_records_who_added_them(team: Team) -> None:
    member = team.service(ADMIN).set_member("  New@Example.com ", "editor")
    assert (member.email, member.role, member.added_by) == ("new@example.com", "editor", ADMIN)
    assert member.added_at.tzinfo is not None


@pytest.mark.parametrize(("email", "role", "fields"), [
    ("not-an-address", "viewer", {"email"}),
    ("", "viewer", {"email"}),
    ("a@b.c", "owner", {"role"}),
    (None, None, {"email", "role"}),
    ("a@@b.c", 3, {"email", "role"}),
])
def test_invalid_member_input_names_the_fields(team: Team, email: Any, role: Any,
                                               fields: set[str]) -> None:
    before = team.records()
    with pytest.raises(ValidationError) as refused:
        team.service(ADMIN).set_member(email, role)
    assert set(refused.value.field_errors) == fields
    assert team.records() == before


def test_the_last_admin_cannot_be_demoted_or_removed(team: Team) -> None:
    admin = team.service(ADMIN)
    with pytest.raises(ValidationError, match="at least one admin"):
        admin.set_member(ADMIN, "editor")
    with pytest.raises(ValidationError, match="last admin"):
        admin.remove_member(ADMIN)
    admin.set_member(EDITOR, "admin")
    admin.set_member(ADMIN, "viewer")
    assert team.service(ADMIN).role == "viewer"


def test_the_first_member_of_a_workspace_must_be_an_admin(team: Team) -> None:
    root = team.service(ROOT, "fresh")
    with pytest.raises(ValidationError, match="at least one admin"):
        root.set_member(VIEWER, "viewer")
    root.set_member(ADMIN, "admin")
    root.set_member(VIEWER, "viewer")
    assert team.service(VIEWER, "fresh").role == "viewer"


def test_removing_a_non_member_is_not_found(team: Team) -> None:
    with pytest.raises(NotFoundError, match="not a member"):
        team.service(ADMIN).remove_member("nobody@example.com")


def test_the_only_member_may_leave(team: Team) -> None:
    root = team.service(ROOT, "solo")
    root.set_member(ADMIN, "admin")
    root.remove_member(ADMIN)
    assert root.members() == []


def test_bad_actor_or_admin_addresses_are_refused(team: Team, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="actor"):
        team.service("not an address")
    with pytest.raises(ValidationError, match="CONNECTIONS_ADMINS"):
        ConnectionService.from_env(environ={"CONNECTIONS_DATA_DIR": str(tmp_path),
                                            "CONNECTIONS_ADMINS": "ok@example.com, nope"})


def test_from_env_reads_the_instance_admins(tmp_path: Path, key: str) -> None:
    service = ConnectionService.from_env(environ={
        "CONNECTIONS_DATA_DIR": str(tmp_path), "ENCRYPTION_KEY": key,
        "CONNECTIONS_ADMINS": " Root@Example.com ,second@example.com,"}, actor="root@example.com")
    assert service.admins == {ROOT, "second@example.com"}
    assert service.is_instance_admin and service.role == "admin"


def test_every_refusal_is_a_connections_error() -> None:
    assert issubclass(PermissionDeniedError, ConnectionsError)
    assert ROLES == ("viewer", "editor", "admin")
