"""Members: who belongs to a workspace, with which role, and who signed out."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from . import access, sessions
from .errors import NotFoundError, ValidationError
from .inputs import has_admin, member_input
from .models import Member
from .records import parse_time
from .scope import Room

log = logging.getLogger(__name__)

Record = dict[str, Any]


class Members(Room):
    """The members of the scope's workspace, and people's sign-outs."""

    def workspaces(self) -> list[str]:
        """The workspaces the actor may open (all of them for trusted code and
        instance admins), sorted: empty for someone who belongs to none.

        Never refused: it answers about the actor, whichever workspace this service
        is bound to, so a screen can offer it to someone who followed a link to a
        workspace they may not open.
        """
        members = self.records.members(every_workspace=True)
        if self.scope.actor is None or self.scope.is_instance_admin:
            rows = self.records.rows(every_workspace=True)
            found = {row.get("workspace_id") for row in [*rows, *members]}
            return sorted({"default", *(w for w in found if isinstance(w, str))})
        return sorted({m["workspace_id"] for m in members if m.get("email") == self.scope.actor
                       and isinstance(m.get("workspace_id"), str)})

    def members(self) -> list[Member]:
        """The workspace's members: admins first, then by e-mail address."""
        self.scope.authorize("members")
        found = [_to_member(doc) for doc in self.records.members()]
        return sorted(found, key=lambda m: (-access.ROLES.index(m.role), m.email))

    def set_member(self, email: str, role: str) -> Member:
        """Add a person to the workspace with ``role``, or change their role.

        :raises ValidationError: the address or role is invalid, or the change
            would leave the workspace's members without an admin.
        """
        self.scope.authorize("set_member")
        clean, new_role = member_input(email, role)
        with self.records.transaction() as tx:
            docs = tx.members(self.scope.workspace_id)
            current = self.scope.member_doc(docs, clean)
            if current is not None and current["role"] == new_role:
                return _to_member(current)
            if new_role != "admin" and not has_admin(docs, without=clean):
                raise ValidationError({"role": "A workspace with members keeps at least one "
                                               "admin: add an admin first, or make someone "
                                               "else admin."})
            if current is None:
                doc: Record = {"workspace_id": self.scope.workspace_id, "email": clean,
                               "role": new_role, "added_by": self.scope.actor_name,
                               "added_at": self.records.now()}
            else:
                doc = {**current, "role": new_role}
            tx.put_member(doc)
            self.records.audit(tx, "member.set", None, clean, email=clean, role=new_role)
        return _to_member(doc)

    def remove_member(self, email: str) -> None:
        """Take a person's access to the workspace away, and end their open sessions
        (a sign-out, as :meth:`sign_out` records, in the same write).

        :raises NotFoundError: they are not a member.
        :raises ValidationError: they are its last admin while others remain.
        """
        self.scope.authorize("remove_member")
        clean = access.checked_email(email)
        with self.records.transaction() as tx:
            docs = tx.members(self.scope.workspace_id)
            current = self.scope.member_doc(docs, clean)
            if current is None:
                raise NotFoundError(f"{clean} is not a member of workspace "
                                    f"'{self.scope.workspace_id}'.", clean)
            others = [doc for doc in docs if doc.get("email") != clean]
            if others and not has_admin(others):
                raise ValidationError({"email": "This is the workspace's last admin: make "
                                                "someone else admin first."})
            tx.remove_member(self.scope.workspace_id, clean)
            # Their open sessions end too (in every workspace: a sign-out is per person),
            # so a dashboard they still have open stops at once, not at the token's exp.
            sessions.record_sign_out(tx, clean, self.scope.clock())
            self.records.audit(tx, "member.removed", None, clean, email=clean)

    def sign_out(self, email: str | None = None) -> datetime:
        """Record that a person signed out, now: every identity issued to them until
        then is ended (:meth:`session_ended`), in every tab, browser and replica.

        Recorded in the audit trail of this workspace (``session.signed_out``).

        :param email: whose sign-out; the actor's when None.  A signed-in person may
            record only their own, whatever their role; instance admins and trusted
            code anyone's.
        :returns: the time recorded (a later one already recorded is kept).
        :raises ValidationError: ``email`` is not an address, or is None for trusted
            code (nobody is signed in).
        """
        clean = self.scope.person(email)
        self.scope.authorize("sign_out", own=clean == self.scope.actor)
        with self.records.transaction() as tx:
            at = sessions.record_sign_out(tx, clean, self.scope.clock())
            self.records.audit(tx, "session.signed_out", None, clean, email=clean)
        log.info("Recorded a sign-out of %s", clean)
        return at

    def signed_out_at(self, email: str | None = None) -> datetime | None:
        """When a person last signed out (or was removed from a workspace), or None.

        :param email: whose; the actor's when None.  The same people may ask as may
            call :meth:`sign_out`.
        :raises ValidationError: as :meth:`sign_out`.
        """
        clean = self.scope.person(email)
        self.scope.authorize("signed_out_at", own=clean == self.scope.actor)
        return sessions.signed_out_at(self.records.sign_out(clean))

    def session_ended(self, issued_at: object) -> bool:
        """Whether the actor's identity, issued at ``issued_at`` (the ID token's
        ``iat``: seconds since the epoch), was ended by a sign-out since: one recorded
        at or after that time.  With a sign-out recorded, an identity with no readable
        ``iat`` is ended too.  Always False for trusted code (nobody is signed in).

        The sign-in gate asks it on every run, so a tab whose person signed out in
        another one, or was removed, stops at its next run.
        """
        if self.scope.actor is None:
            return False
        signed_out = sessions.signed_out_at(self.records.sign_out(self.scope.actor))
        if signed_out is not None and sessions.issued_at(issued_at) is None:
            # Signing in again can't help: the person sees the sign-in page each time.
            log.warning("An identity of %s was refused: its ID token has no readable iat "
                        "(issue time), so it can't be told from one issued before they last "
                        "signed out. Have the identity provider include iat, as OpenID "
                        "Connect requires.", self.scope.actor)
        return sessions.ended(issued_at, signed_out)


def _to_member(doc: Mapping[str, Any]) -> Member:
    return Member(email=doc["email"], role=access.checked_role(doc["role"]),
                  added_by=str(doc.get("added_by", "")),
                  added_at=parse_time(doc.get("added_at")) or datetime.min.replace(
                      tzinfo=UTC))
