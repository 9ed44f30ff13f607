"""Checks of providers that speak the OpenAI API: OpenAI itself, the hosted vendors
that copy it (Mistral, Groq, DeepSeek, Together, xAI, OpenRouter) and any server
that does (vLLM, LM Studio, llama.cpp's ``llama-server``, LocalAI, LiteLLM).

The check is ``GET {baseUrl}/models``: free, and it proves the key and the base URL
(each of those vendors answers it only with a valid key).  OpenRouter lists its
models to anyone, so its check asks about the key first (``GET {baseUrl}/key``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial

import requests

from . import http
from .answers import model_list, raise_for_status
from .errors import ProviderError

__all__ = ["check_openai", "check_openrouter", "openai_check"]


def check_openai(config: Mapping[str, str], session: requests.Session, timeout: float, *,
                 name: str = "OpenAI") -> list[str]:
    """``GET {baseUrl}/models``, with the key as a bearer token when there is one (a
    server that needs none gets no ``Authorization`` header); ``name`` is how the
    messages call the provider."""
    response, body = http.send("GET", f"{config['baseUrl']}/models", session=session,
                               headers=_headers(config), timeout=timeout)
    raise_for_status(name, response, body, config)
    return model_list(name, response, body)[0]


def openai_check(name: str) -> Callable[[Mapping[str, str], requests.Session, float],
                                        list[str]]:
    """The check of a provider that speaks the OpenAI API, called ``name`` in messages."""
    return partial(check_openai, name=name)


def check_openrouter(config: Mapping[str, str], session: requests.Session,
                     timeout: float) -> list[str]:
    """``GET {baseUrl}/key`` (what OpenRouter knows of the key: it answers 401 to a
    wrong one), then ``GET {baseUrl}/models``, both within ``timeout``."""
    deadline = time.monotonic() + timeout
    response, body = http.send("GET", f"{config['baseUrl']}/key", session=session,
                               headers=_headers(config), timeout=timeout)
    raise_for_status("OpenRouter", response, body, config)
    data = http.parse_json(response, body)
    if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
        raise ProviderError(
            f"{http.origin(response.url)} answered with JSON that is not OpenRouter's "
            "description of a key. Check that the base URL points at the API itself.",
            kind="invalid_response", status_code=response.status_code)
    left = deadline - time.monotonic()
    if left <= 0:
        raise ProviderError(f"{http.origin(response.url)} did not list OpenRouter's models "
                            f"within {timeout:g} s.", kind="timeout")
    return check_openai(config, session, left, name="OpenRouter")


def _headers(config: Mapping[str, str]) -> dict[str, str]:
    headers = {}
    if config.get("apiKey"):
        headers["Authorization"] = f"Bearer {config['apiKey']}"
    if config.get("organization"):
        headers["OpenAI-Organization"] = config["organization"]
    return headers
