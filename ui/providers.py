"""The provider registry as every screen offers it: grouped (hosted APIs, cloud
platforms, local or self-hosted, :data:`connections_core.GROUPS`), in the registry's
order within a group, each provider called by its display name.

The Add dialog, the provider filter, the cards' order and Settings' counts all read
these, so a provider added to the registry shows up everywhere in the same place.
"""

from __future__ import annotations

from collections.abc import Iterable

from connections_core import GROUPS, PROVIDERS

#: The text of the link to where a provider's key is made, for the providers whose
#: key is not an API key; the rest get "Get an API key", or "Get <name>" without one.
KEY_LINKS = {
    "bedrock": "Create an access key",
    "openai_compatible": "The API it must answer",
}


def in_group_order(types: Iterable[str] | None = None) -> list[str]:
    """``types`` (every registered one by default) by group, then in the registry's
    order; a type the registry doesn't know goes last."""
    order = list(GROUPS)
    registry = list(PROVIDERS)

    def place(type: str) -> tuple[int, int]:
        provider = PROVIDERS.get(type)
        if provider is None:
            return len(order), len(registry)
        return order.index(provider.group), registry.index(type)

    return sorted(PROVIDERS if types is None else set(types), key=place)


def provider_name(type: str) -> str:
    """``Amazon Bedrock`` for ``bedrock``; a type the registry doesn't know as it is."""
    provider = PROVIDERS.get(type)
    return provider.display_name if provider else type


def offered_as(type: str) -> str:
    """How the Add dialog's list names a provider: its group, then its name
    (``Cloud platforms › Amazon Bedrock``), so the list reads as groups."""
    provider = PROVIDERS[type]
    return f"{GROUPS[provider.group]} › {provider.display_name}"


def key_link(type: str) -> str:
    """The text of the link to ``key_url``: where the provider's key is made, or where
    the provider itself is got when it needs no key."""
    provider = PROVIDERS[type]
    if type in KEY_LINKS:
        return KEY_LINKS[type]
    return "Get an API key" if provider.secret_fields else f"Get {provider.display_name}"


def registry_in_words(shown: int = 2) -> str:
    """What the registry offers, group by group, naming the first ``shown`` of each:
    ``hosted APIs (OpenAI, Anthropic and 7 more), cloud platforms (…) and …``."""
    parts = []
    for group, heading in GROUPS.items():
        names = [PROVIDERS[t].display_name for t in in_group_order()
                 if PROVIDERS[t].group == group]
        if len(names) > shown + 1:
            names = [*names[:shown], f"{len(names) - shown} more"]
        if names:
            parts.append(f"{heading[:1].lower()}{heading[1:]} ({_listed(names)})")
    return _listed(parts)


def _listed(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join(filter(None, [", ".join(items[:-1]), *items[-1:]]))
