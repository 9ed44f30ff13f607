"""What the signed-in person's role lets them do, said where they are.

A viewer once saw only greyed-out buttons, whose tooltips a phone never shows
on a tap.  So a screen where their role can't change things says it once, at its
top (:func:`role_notice`), naming the admins to ask; each control it turns off
gives the same short reason as its tooltip (:func:`ui.members.needs_role`).
Settings shows the server's details (where the data and the key are kept, how
to rotate the key) to the workspace's admins only (:func:`sees_server_details`).

The rules are the core's (``service.can``, ``service.role``).  With sign-in off
nobody is signed in: the person at their own laptop is trusted, is told nothing
here, and sees everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import streamlit as st

from connections_core import ConnectionService, Member, counted
from ui.format import md

#: How many admins a notice names; the others are counted.
NAMED = 3

Screen = Literal["connections", "ollama"]
#: screen -> (the operation that changes things there, what one may see there, and what
#: to ask an admin for)
SCREENS: dict[Screen, tuple[str, str, str]] = {
    "connections": ("update", "connections", "change them"),
    "ollama": ("pull_model", "the models on its Ollama servers", "pull or delete them"),
}


def role_notice(service: ConnectionService, screen: Screen) -> None:
    """Under a screen's title, for someone signed in whose role can't change what it
    shows: their role, what it lets them do here, and which admins to ask."""
    change, seen, wanted = SCREENS[screen]
    role = service.role
    if service.actor is None or role is None or service.can(change):
        return
    can = "see and test" if screen == "connections" and service.can("test") else "see"
    admins = admins_to_ask(service.members(), service.admins)
    whom = f" ({either(f'**{md(email)}**' for email in admins)})" if admins else ""
    st.info(f"You are {with_article(role)} in **{md(service.workspace_id)}**: you can {can} "
            f"{seen}. Ask an admin{whom} to {wanted}.", icon=":material/visibility:")


def admins_to_ask(members: Sequence[Member], instance_admins: Iterable[str]) -> list[str]:
    """The workspace's admins, by address; when it has none, the instance admins
    (admins of every workspace)."""
    own = sorted(member.email for member in members if member.role == "admin")
    return own or sorted(instance_admins)


def either(names: Iterable[str]) -> str:
    """``"a"``, ``"a or b"``, ``"a, b or c"``; past :data:`NAMED`, ``"a, b, c or 2 others"``."""
    named = list(names)
    shown, rest = named[:NAMED], len(named) - NAMED
    if rest > 0:
        return f"{', '.join(shown)} or {counted(rest, 'other')}"
    return " or ".join(filter(None, [", ".join(shown[:-1]), shown[-1]])) if shown else ""


def with_article(role: str) -> str:
    """``"a viewer"``, ``"an editor"``, ``"an admin"``."""
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"


def sees_server_details(service: ConnectionService) -> bool:
    """Whether Settings shows the server's files and environment: to admins of the
    workspace (instance admins are admins everywhere), and with sign-in off."""
    return service.actor is None or service.role == "admin"
