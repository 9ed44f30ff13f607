"""Amazon Bedrock's check (being written)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from .errors import ProviderError

__all__ = ["bedrock_address", "check_bedrock"]


def bedrock_address(config: Mapping[str, Any]) -> str:
    """The control-plane endpoint a check reaches: ``endpoint``, or the region's own."""
    endpoint = config.get("endpoint")
    if isinstance(endpoint, str) and endpoint:
        return endpoint
    return f"https://bedrock.{config.get('region', '')}.amazonaws.com"


def check_bedrock(config: Mapping[str, str], session: requests.Session,
                  timeout: float) -> list[str]:
    """``ListFoundationModels``, signed with Signature Version 4."""
    raise ProviderError("The Bedrock check is not written yet.", kind="invalid_response")
