"""Google Gemini's check (being written)."""

from __future__ import annotations

from collections.abc import Mapping

import requests

from .errors import ProviderError

__all__ = ["check_gemini"]


def check_gemini(config: Mapping[str, str], session: requests.Session,
                 timeout: float) -> list[str]:
    """``GET {baseUrl}/models`` with the key in ``x-goog-api-key``."""
    raise ProviderError("The Gemini check is not written yet.", kind="invalid_response")
