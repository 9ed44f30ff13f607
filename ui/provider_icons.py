"""A small mark for each provider, to find a card by at a glance.

The marks are our own: two letters in a rounded square of the provider's colour,
drawn here as SVG, not the providers' logos (which are their trademarks).  A
provider without an entry in :data:`MARKS` gets the first two letters of its name
in grey, so adding a provider to the registry needs nothing here.

The SVG is built only from this table and the registry's display names (escaped
all the same), never from what a person or a server wrote, and Streamlit shows it
as an ``<img>`` with a text alternative: it goes through no Markdown.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from xml.sax.saxutils import escape

import streamlit as st

from connections_core import Provider

#: provider type -> (letters, background colour); white letters on each colour
#: have a contrast ratio of at least 4.5:1.
MARKS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "openai": ("OA", "#0b7a5c"),
    "anthropic": ("An", "#b4532a"),
    "gemini": ("Ge", "#1d4ed8"),
    "mistral": ("Mi", "#c2410c"),
    "groq": ("Gq", "#b91c1c"),
    "openrouter": ("OR", "#4338ca"),
    "deepseek": ("DS", "#0e7490"),
    "together": ("To", "#0f766e"),
    "xai": ("xA", "#111827"),
    "azure_openai": ("Az", "#0369a1"),
    "bedrock": ("Br", "#92400e"),
    "ollama": ("Ol", "#374151"),
    "openai_compatible": ("OC", "#6d28d9"),
})
FALLBACK_COLOUR = "#6b7280"

_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
        '<rect width="64" height="64" rx="14" fill="{colour}"/>'
        '<text x="32" y="33" fill="#ffffff" font-family="system-ui, -apple-system, '
        "'Segoe UI', Roboto, sans-serif\" font-size=\"27\" font-weight=\"600\" "
        'text-anchor="middle" dominant-baseline="central">{letters}</text></svg>')


def provider_mark(provider: Provider) -> str:
    """The provider's mark as an SVG document."""
    letters, colour = MARKS.get(provider.type, (provider.display_name[:2], FALLBACK_COLOUR))
    return _SVG.format(colour=colour, letters=escape(letters))


def provider_icon(provider: Provider, size: int = 28) -> None:
    """The provider's mark, ``size`` pixels square, named for screen readers."""
    st.image(provider_mark(provider), width=size, alt=provider.display_name)
