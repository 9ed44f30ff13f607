"""Who may do what: the roles of a workspace and the operations each allows.

Trusted code (``actor=None``: application code, scripts, the dashboard with
sign-in off) may do everything.  A signed-in person may do what their role in
the workspace allows; instance administrators are admins everywhere and the
only people who may rotate the key.  Nobody signed in gets decrypted
credentials: the dashboard never needs a key in the clear.  A workspace's admins
may give an application a token that reads its workspace's default credentials
over the API (:mod:`connections_core.app_access`), every use recorded.

Who is who: an e-mail address, compared with its ASCII letters in lower case and
every other character exactly as given (:func:`normalized_email`), wherever
addresses meet (the signed-in person, members, ``CONNECTIONS_ADMINS``, the audit
trail's filter).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ValidationError
from .models import ROLES, Role

__all__ = ["ROLES", "allows", "checked_email", "checked_role", "email_verified", "needed_role",
           "normalized_email"]

#: The least role each operation needs (operations are the service's method names).
_NEEDED: dict[str, Role] = {
    **dict.fromkeys(("list", "list_deleted", "get", "get_default", "needs_key_again",
                     "members", "audit", "test", "test_all", "iter_test_all",
                     "start_test", "start_test_all", "refresh_ollama_models", "ollama_models",
                     "ollama_version", "running_models", "model_details", "history", "health",
                     "alert_webhook"), "viewer"),
    **dict.fromkeys(("create", "update", "delete", "restore", "set_default", "test_draft",
                     "start_test_draft", "pull_model", "delete_model", "set_schedule"),
                    "editor"),
    **dict.fromkeys(("set_member", "remove_member", "set_alert_webhook", "send_test_alert",
                     "create_app_token", "app_tokens", "revoke_app_token"), "admin"),
}
#: ``open_demo`` is :func:`connections_core.demo.open_demo`: with sign-in on, the demo
#: (where its opener is an admin) is an instance admin's to show.
INSTANCE_ADMIN_ONLY = frozenset({"rotate_keys", "purge_deleted", "residual_secrets",
                                 "import_records", "open_demo", "list_every_workspace"})
#: What anyone signed in may do about themselves, whatever their role (even none); about
#: someone else, only an instance admin.
OWN = frozenset({"sign_out", "signed_out_at"})
TRUSTED_ONLY = frozenset({"resolve_config"})

EMAIL_MAX = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def needed_role(operation: str) -> Role | None:
    """The least workspace role ``operation`` needs (None: no role is enough)."""
    return _NEEDED.get(operation)


def allows(role: Role | None, operation: str, *, instance_admin: bool = False,
           own: bool = False) -> bool:
    """Whether a signed-in person with ``role`` may perform ``operation`` (``own``: on
    themselves, for the operations in :data:`OWN`)."""
    if operation in TRUSTED_ONLY:
        return False
    if operation in OWN:
        return own or instance_admin
    if operation in INSTANCE_ADMIN_ONLY or instance_admin:
        return instance_admin
    needed = _NEEDED.get(operation)
    return role is not None and needed is not None and ROLES.index(role) >= ROLES.index(needed)


def normalized_email(value: str) -> str:
    """An address as addresses are compared: stripped, its ASCII letters in lower case,
    every other character as given.

    Unicode's case mapping is not used: it folds different characters into one
    (``"\\u212aen@example.com".lower() == "ken@example.com"``, a Kelvin sign), so a
    person whose provider verified one address would be taken for whoever holds the
    other.
    """
    return value.strip().translate(_ASCII_LOWER)


def checked_email(value: Any, field: str = "email") -> str:
    """An e-mail address, as :func:`normalized_email` makes it.

    :raises ValidationError: naming ``field``.
    """
    text = normalized_email(value) if isinstance(value, str) else ""
    if not text:
        problem = "Enter an e-mail address, like ada@example.com."
    elif len(text) > EMAIL_MAX or not text.isprintable() or not _EMAIL.match(text):
        problem = "This is not an e-mail address; enter one like ada@example.com."
    else:
        return text
    raise ValidationError({field: problem})


def email_verified(claims: Mapping[str, Any]) -> bool:
    """Whether an ID token's claims let its ``email`` be used: ``email_verified`` is
    exactly ``true``, or absent (not every provider sends it).

    Anything else counts as not verified: ``false``, and also ``0``, ``"0"``,
    ``"no"``, ``null``, ``"false "`` and ``"true"`` as text, which no provider
    following OpenID Connect sends for a verified address.
    """
    return claims.get("email_verified", True) is True


def checked_role(value: Any) -> Role:
    """:raises ValidationError: ``value`` is not one of :data:`ROLES`."""
    for role in ROLES:
        if value == role:
            return role
    raise ValidationError({"role": f"Choose a role: {', '.join(ROLES)}."})


def checked_emails(values: Iterable[Any], field: str) -> frozenset[str]:
    """Several addresses (e.g. the instance admins), each checked."""
    return frozenset(checked_email(value, field) for value in values)
