"""Sign-outs: signing out, or being removed from a workspace, ends every identity
issued before it, for everyone reading the store; on both stores."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from connections_core import (
    ConnectionService,
    KeyRing,
    PermissionDeniedError,
    Store,
    ValidationError,
)
from tests.support import FakeClock

WORKSPACE = "team"
ADA, VI = "ada@example.com", "vi@example.com"  # its admin, its viewer
ROOT, EVE = "root@example.com", "eve@example.com"  # the instance admin, a stranger
#: iat claims that say no time (OpenID Connect requires one).
UNREADABLE = [None, "soon", True, float("nan"), 10**400, [1]]

Team = Callable[[str | None], ConnectionService]


@pytest.fixture
def team(store: Store, keyring: KeyRing, clock: FakeClock) -> Team:
    """A service of the workspace for whoever is named (None: trusted code)."""
    def service(actor: str | None) -> ConnectionService:
        return ConnectionService(store, keyring, WORKSPACE, actor=actor, admins=[ROOT],
                                 clock=clock)

    service(None).set_member(ADA, "admin")
    service(None).set_member(VI, "viewer")
    return service


def test_a_sign_out_ends_every_identity_issued_at_or_before_it(team: Team) -> None:
    """Signing out ended one tab: another tab, or a copied cookie, stayed signed in
    until the token's exp, since Streamlit keeps no session on the server."""
    vi = team(VI)
    at = vi.sign_out()
    assert vi.signed_out_at() == at
    assert team(VI).session_ended(at.timestamp() - 60)
    assert team(VI).session_ended(int(at.timestamp()))  # the same second: can't tell
    assert not team(VI).session_ended(at.timestamp() + 1)
    assert not team(ADA).session_ended(at.timestamp() - 60)  # nobody else's


def test_an_iat_may_be_the_text_of_a_number(team: Team) -> None:
    at = team(VI).sign_out()
    assert team(VI).session_ended(str(int(at.timestamp()) - 60))
    assert not team(VI).session_ended(str(int(at.timestamp()) + 60))


def test_without_a_sign_out_nothing_ends(team: Team) -> None:
    assert team(VI).signed_out_at() is None
    assert not any(team(VI).session_ended(iat) for iat in [0, *UNREADABLE])


def test_a_token_without_a_readable_iat_ends_at_the_first_sign_out(team: Team) -> None:
    """Its age can't be told: once its owner has signed out, it may be from before."""
    team(VI).sign_out()
    assert all(team(VI).session_ended(iat) for iat in UNREADABLE)


def test_removing_a_member_ends_their_sessions(team: Team, clock: FakeClock) -> None:
    issued = clock.now.timestamp()
    team(ADA).remove_member(VI)
    assert team(VI).session_ended(issued)
    assert team(VI).signed_out_at() is not None


def test_a_person_signs_out_only_themselves(team: Team) -> None:
    with pytest.raises(PermissionDeniedError, match="You may only sign yourself out"):
        team(ADA).sign_out(VI)  # a workspace admin is not enough: it ends every workspace
    with pytest.raises(PermissionDeniedError, match="see when you yourself signed out"):
        team(ADA).signed_out_at(VI)
    assert team(ROOT).signed_out_at(VI) is None  # the refusals recorded nothing
    assert team(EVE).sign_out() is not None  # no access here, but themselves
    assert team(EVE).can("sign_out") and not team(EVE).can("set_member")


def test_an_instance_admin_may_sign_anyone_out(team: Team) -> None:
    team(ROOT).sign_out("Vi@Example.com")
    assert team(VI).signed_out_at() is not None
    assert team(ROOT).signed_out_at(VI) == team(VI).signed_out_at()


def test_trusted_code_names_whom_it_signs_out(team: Team) -> None:
    with pytest.raises(ValidationError, match="Name whose sign-out this is"):
        team(None).sign_out()
    with pytest.raises(ValidationError, match="not an e-mail address"):
        team(None).sign_out("vi")
    team(None).sign_out(VI)
    assert team(VI).signed_out_at() is not None
    assert not team(None).session_ended(None)  # nobody is signed in


def test_a_sign_out_is_in_the_audit_trail(team: Team) -> None:
    team(VI).sign_out()
    entry = team(ADA).audit(limit=1)[0]
    assert (entry.actor, entry.action, entry.target_name, dict(entry.details)) == (
        VI, "session.signed_out", VI, {"email": VI})


def test_a_sign_out_never_moves_back(team: Team, clock: FakeClock) -> None:
    """A replica whose clock is behind keeps the later sign-out another one recorded."""
    first = team(VI).sign_out()
    clock.now -= timedelta(hours=1)
    assert team(VI).sign_out() == first
    assert team(VI).signed_out_at() == first
