"""Sign-outs: when each person last signed out, and whether an identity outlived it.

Streamlit keeps no session on the server: its signed identity cookie (the ID
token's claims) is good until the token's ``exp`` in every tab that has it, and
in any browser it was copied to.  So signing out is recorded in the store, once
per person for the whole instance (every replica reads the same record), and an
identity issued at or before that time is ended: refused wherever it is shown.
Removing someone from a workspace records it too.

Whose clock: an identity's issue time is the ID token's ``iat``, from the
provider's clock, in whole seconds; a sign-out's time is this server's.  An
identity issued at or before the sign-out is ended, so a token from the same
second is ended too (it can't be told apart from one issued just before).
Clocks that disagree by ``d`` seconds move the line by ``d``: a provider ahead
lets a token issued up to ``d`` seconds before a sign-out through, one behind
refuses a new sign-in for ``d`` seconds after it.  Keep both on NTP.

A token with no readable ``iat`` can't be placed: it is ended once its owner
has a sign-out recorded (OpenID Connect requires ``iat``; before any sign-out,
its absence changes nothing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .records import parse_time
from .storage import Transaction

__all__ = ["ended", "issued_at", "record_sign_out", "signed_out_at"]


def record_sign_out(tx: Transaction, email: str, now: datetime) -> datetime:
    """Record in the transaction under way that ``email`` signed out at ``now``.

    A later time already recorded is kept (another replica's clock may be
    ahead): a sign-out never moves back.

    :returns: the time recorded.
    """
    current = parse_time((tx.sign_out(email) or {}).get("at"))
    at = now if current is None else max(current, now)
    tx.put_sign_out({"email": email, "at": at.astimezone(UTC).isoformat()})
    return at


def signed_out_at(record: Mapping[str, Any] | None) -> datetime | None:
    """When a person last signed out, from their stored sign-out ``record``, or None
    (never, or a record that holds no readable time: someone edited the store)."""
    return parse_time((record or {}).get("at"))


def ended(issued: object, signed_out: datetime | None) -> bool:
    """Whether an identity issued at ``issued`` (an ID token's ``iat``) was ended by a
    sign-out at ``signed_out``: issued at or before it, or at no readable time."""
    if signed_out is None:
        return False
    seconds = issued_at(issued)
    return seconds is None or seconds <= signed_out.timestamp()


def issued_at(value: object) -> float | None:
    """An ``iat`` claim as seconds since the epoch (a number, or its text), or None
    when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except (ValueError, OverflowError):
        return None
    return seconds if math.isfinite(seconds) else None
