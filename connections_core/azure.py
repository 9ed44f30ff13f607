"""Azure OpenAI's check: the models a resource offers, at no cost.

``GET {endpoint}/openai/models?api-version={apiVersion}`` with the key in the
``api-key`` header (the data-plane API's own; never in the URL).  Azure answers a
wrong key with 401 and an endpoint that is not an Azure OpenAI resource, or an
API version it doesn't know, with 404 "Resource not found"; each gets a sentence
that says which it is likely to be.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

import requests

from . import http
from .answers import model_list, raise_for_status
from .errors import ProviderError

__all__ = ["AZURE_API_VERSION", "check_azure_openai"]

#: The latest generally available version of the data-plane API (the default).
AZURE_API_VERSION = "2024-10-21"
NAME = "Azure OpenAI"


def check_azure_openai(config: Mapping[str, str], session: requests.Session,
                       timeout: float) -> list[str]:
    """The model ids the resource at ``endpoint`` offers (base models and fine-tunes)."""
    version = config.get("apiVersion") or AZURE_API_VERSION
    url = f"{config['endpoint']}/openai/models?api-version={quote(version, safe='')}"
    response, body = http.send("GET", url, session=session,
                               headers={"api-key": config.get("apiKey", "")}, timeout=timeout)
    where = f"{http.origin(response.url)}/openai/models"
    if response.status_code == 401:
        raise ProviderError(
            "Azure OpenAI rejected the API key (401). Check that it is one of this "
            "resource's two keys (Keys and Endpoint in the Azure portal) and was not "
            "regenerated.", kind="auth", status_code=401)
    if response.status_code == 404:
        raise ProviderError(
            f"{where} answered 404 Not Found: check that the endpoint is the resource's "
            "(https://<resource>.openai.azure.com, or your gateway's URL) and that API "
            f"version {version} is one Azure OpenAI offers (e.g. {AZURE_API_VERSION}).",
            kind="not_found", status_code=404)
    raise_for_status(NAME, response, body, config)
    return model_list(NAME, response, body)[0]
