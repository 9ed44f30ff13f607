"""What a valid input is: the checks every operation applies to what it is given.

Each function takes a value as a caller passed it (anything at all) and returns it
clean, or raises :class:`~connections_core.errors.ValidationError` naming the field
with a sentence a person can act on.  Nothing here reads or writes the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import access
from .errors import ValidationError
from .models import MASK, Role
from .providers import Provider
from .text import name_problem

__all__ = ["NAME_MAX", "checked_audit_days", "checked_config", "checked_history_days",
           "checked_name", "checked_timeout", "checked_version", "checked_workspace",
           "has_admin", "kept_secrets", "key_needed_again", "member_input", "moved_destination",
           "without_display_values"]

NAME_MAX = 100

Record = dict[str, Any]


def checked_workspace(workspace_id: Any) -> str:
    clean = workspace_id.strip() if isinstance(workspace_id, str) else ""
    if not 1 <= len(clean) <= NAME_MAX:
        raise ValidationError({"workspace_id": f"A workspace id is 1-{NAME_MAX} characters."})
    problem = name_problem(clean, "A workspace id")
    if problem:
        raise ValidationError({"workspace_id": problem})
    return clean


def checked_name(name: Any, errors: dict[str, str]) -> str:
    """A connection's name, stripped; a problem goes into ``errors`` (under ``name``),
    so that one ValidationError can name every bad field."""
    clean = name.strip() if isinstance(name, str) else ""
    if not isinstance(name, str):
        errors["name"] = "A name is text."
    elif not clean:
        errors["name"] = "Enter a name, so you can tell this connection from others."
    elif len(clean) > NAME_MAX:
        errors["name"] = f"A name is at most {NAME_MAX} characters."
    else:
        problem = name_problem(clean, "A name")
        if problem:
            errors["name"] = problem
    return clean


def checked_timeout(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 < value < float("inf"):
        raise ValidationError({field: "A timeout is a number of seconds, more than 0."})
    return float(value)


def checked_version(version: Any) -> int:
    # bool is an int in Python, and 1.0 == 1: neither is a version.
    if type(version) is not int:
        raise ValidationError({"version": "The version is the whole number the connection "
                                          "was read with (Connection.version)."})
    return version


def checked_config(config: Any) -> Mapping[str, Any]:
    if not isinstance(config, Mapping):
        raise ValidationError({"config": "The config is a mapping of field names to values, "
                                         "like {\"apiKey\": \"sk-...\"}."})
    return config


def checked_audit_days(value: Any, field: str) -> int:
    return _checked_days(value, field, "Keep audit entries for a whole number of days, 1 or "
                                       "more (e.g. 365).")


def checked_history_days(value: Any, field: str) -> int:
    return _checked_days(value, field, "Keep the check history for a whole number of days, "
                                       "1 or more (e.g. 30).")


def _checked_days(value: Any, field: str, problem: str) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = 0
    if isinstance(value, bool) or days < 1 or str(days) != str(value).strip():
        raise ValidationError({field: problem})
    return days


def member_input(email: Any, role: Any) -> tuple[str, Role]:
    """The checked e-mail address and role, or one error naming every bad field."""
    errors: dict[str, str] = {}
    clean, checked_role = "", access.ROLES[0]
    try:
        clean = access.checked_email(email)
    except ValidationError as error:
        errors.update(error.field_errors)
    try:
        checked_role = access.checked_role(role)
    except ValidationError as error:
        errors.update(error.field_errors)
    if errors:
        raise ValidationError(errors)
    return clean, checked_role


def has_admin(docs: Iterable[Mapping[str, Any]], without: str | None = None) -> bool:
    """Whether ``docs`` (members) has an admin other than ``without``."""
    return any(d.get("role") == "admin" and d.get("email") != without for d in docs)


# -- secrets in a config: what a change keeps --------------------------------------------

def without_display_values(provider: Provider, config: Mapping[str, Any]) -> Record:
    """``config`` without what a Connection shows in place of secrets (the masks and
    the ``has_`` flags): read back into an update, they mean "keep"."""
    secrets = set(provider.secret_fields)
    return {k: v for k, v in config.items()
            if not (k in secrets and isinstance(v, str) and v.startswith(MASK))
            and not (isinstance(k, str) and k.startswith("has_") and k[4:] in secrets)}


def kept_secrets(provider: Provider, stored: Mapping[str, Any],
                 config: Mapping[str, Any]) -> set[str]:
    """The stored secrets that ``config`` leaves as they are (missing, empty or masked)."""
    given = without_display_values(provider, config)
    # Only a missing, None or blank value keeps the secret: anything else (a number,
    # a list) is validated, and refused, as a new value.
    return {f for f in provider.secret_fields
            if f in stored and (given.get(f) is None
                                or (isinstance(given[f], str) and not given[f].strip()))}


def moved_destination(provider: Provider, stored: Mapping[str, Any],
                      config: Mapping[str, Any]) -> list[str]:
    """The destination fields (the base URL; Azure's endpoint; Bedrock's region and
    endpoint) whose stored value ``config`` changes, each compared as validation
    would store it (stripped, a URL without its trailing slash, blank as its default)."""
    moved = []
    for name in provider.destination:
        spec = provider.field(name)
        value = config.get(name, stored.get(name))
        if isinstance(value, str):
            value = value.strip()
            value = value.rstrip("/") if spec is not None and spec.kind == "url" else value
        if value is None or value == "":
            value = spec.default if spec is not None else None
        if value != stored.get(name):
            moved.append(name)
    return moved


def key_needed_again(provider: Provider, stored: Mapping[str, Any],
                     config: Mapping[str, Any]) -> bool:
    """Whether saving ``config`` over ``stored`` needs its secrets typed again: where
    the keys go changes (a destination field) while a stored secret would be kept (a
    stored key is only sent to the address it was saved for)."""
    return bool(kept_secrets(provider, stored, config)) and \
        bool(moved_destination(provider, stored, config))
