"""Property-based: whatever a caller passes, the library raises only
``ConnectionsError`` subclasses, and a refused call leaves the data file as it was.

Every public operation is called with values drawn from hostile strategies:
wrong types, lone surrogates, control and bidirectional characters, huge
strings, NaN, nested containers.  Requests that would leave the machine go
to ``responses``, which refuses every one it was not told about.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connections_core import (
    ConnectionsError,
    ConnectionService,
    KeyRing,
    ProviderError,
    TinyDBStore,
    decrypt,
    generate_key,
    ollama,
    test_connection,
)
from tests import stores
from tests.fakes import API_KEY

NASTY_TEXT = ["", " ", "\ud800", "a\udfffb", "\x00", "\n", "\u202e", "\u200b", "x" * 100_000,
              "../../etc/passwd", "http://[::1", "http://h:99999", "http://h/?q#f", "%s%n",
              "default", "openai", "ollama", "anthropic", "connected", "admin", "viewer",
              "ada@example.com", "v1:00:00:00", "v1:" + "0" * 24 + ":" + "0" * 32 + ":abc",
              "http://169.254.169.254/latest", "http://2852039166", "ｈｔｔｐ://x", "日本"]

texts = st.one_of(st.sampled_from(NASTY_TEXT),
                  st.text(st.characters(exclude_categories=()), max_size=30))
scalars = st.one_of(texts, st.none(), st.booleans(), st.integers(), st.floats(),
                    st.just(math.nan), st.binary(max_size=8), st.just(object()))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)), max_leaves=6)
# Nearly valid configs, with hostile text where it is least expected.
near_valid = st.fixed_dictionaries({
    "apiKey": st.one_of(st.just(API_KEY), texts.map(lambda t: f"sk-{t}0123456789")),
    "baseUrl": st.one_of(st.just("http://127.0.0.1:9/v1"),
                         texts.map(lambda t: f"http://127.0.0.1:9/{t}"),
                         texts.map(lambda t: f"http://{t}")),
}, optional={"organization": texts})
configs = st.one_of(values, near_valid, st.dictionaries(
    st.one_of(st.sampled_from(["apiKey", "baseUrl", "organization", "has_apiKey"]), texts,
              st.integers()),
    values, max_size=4))

# Mostly valid where another argument is the one under test.
types = st.one_of(st.sampled_from(["openai", "anthropic", "ollama"]), values)
names = st.one_of(st.just("Work"), texts, values)

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A store with one connection of each provider, and every outgoing request refused."""
    key = generate_key()
    path = tmp_path / "data" / "connections.json"
    service = ConnectionService(TinyDBStore(path), KeyRing(key), timeout=1.0)
    ids = [service.create("openai", "Work", {"apiKey": API_KEY,
                                             "baseUrl": "http://127.0.0.1:9/v1"}).id,
           service.create("ollama", "Local", {"baseUrl": "http://127.0.0.1:9"}).id]
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        yield {"service": service, "path": path, "key": key, "ids": ids}


def refused_or_fine(world: dict[str, Any], call: Callable[[], Any]) -> None:
    """``call`` either works or raises a ConnectionsError; refused, it writes nothing.
    A server that failed (a ProviderError) was reached for after the attempt was
    recorded: then only the audit trail grew."""
    path: Path = world["path"]
    before, records = path.read_bytes(), stores.records(world["service"].store)
    refusal: ConnectionsError | None = None
    try:
        result = call()
        if isinstance(result, Iterator):
            for _ in result:
                pass
    except ConnectionsError as error:
        refusal = error
    if isinstance(refusal, ProviderError):
        assert stores.records(world["service"].store) == records, f"{refusal!r} changed records"
    elif refusal is not None:
        str(refusal).encode("utf-8")  # a message that can be shown and logged
        assert path.read_bytes() == before, f"refused ({refusal!r}) but the file changed"


ids = st.one_of(values, st.just("existing-0"), st.just("existing-1"))


def pick_id(world: dict[str, Any], value: Any) -> Any:
    if value == "existing-0":
        return world["ids"][0]
    if value == "existing-1":
        return world["ids"][1]
    return value


@SETTINGS
@given(type=types, name=names, config=configs, status=st.one_of(st.none(), values))
def test_create(world: dict[str, Any], type: Any, name: Any, config: Any, status: Any) -> None:
    refused_or_fine(world, lambda: world["service"].create(type, name, config, status))


ODD = ["\ud800", "\udfff", "\x00", "\x1b[31m", "\u202e", "\u200b", "é€ü", "ключ", "\u2028",
       "\t", "%0a", "?", "#", " ", "@evil", "[::1", ":99999"]
odd_text = st.one_of(st.sampled_from(ODD),
                     st.text(st.characters(categories=["Cs", "Cc", "Cf", "Zs", "Lo"]),
                             min_size=1, max_size=5))


@settings(SETTINGS, max_examples=400)
@given(type=st.sampled_from(["openai", "anthropic", "ollama"]), field=st.sampled_from(
    ["apiKey", "baseUrl", "organization", "name"]), text=odd_text, where=st.integers(0, 2))
def test_create_with_one_odd_value(world: dict[str, Any], type: str, field: str, text: str,
                                   where: int) -> None:
    config = {"apiKey": API_KEY, "baseUrl": "http://127.0.0.1:9/v1"}
    if type == "ollama":
        config.pop("apiKey")
    name = "Work"
    valid = config.get(field, name) if field != "organization" else "org-1234"
    odd = [text + valid, valid[:5] + text + valid[5:], valid + text][where]
    if field == "name":
        name = odd
    else:
        config[field] = odd
    service: ConnectionService = world["service"]
    refused_or_fine(world, lambda: service.create(type, name, config))
    refused_or_fine(world, lambda: service.update(world["ids"][0], 1, name, config))
    refused_or_fine(world, lambda: service.test_draft(type, config))


@SETTINGS
@given(id=ids, version=st.one_of(st.just(1), values), name=st.one_of(st.none(), names),
       config=st.one_of(st.none(), configs))
def test_update(world: dict[str, Any], id: Any, version: Any, name: Any, config: Any) -> None:
    service: ConnectionService = world["service"]
    refused_or_fine(world, lambda: service.update(pick_id(world, id), version, name, config))


@SETTINGS
@given(operation=st.sampled_from(["get", "delete", "restore", "set_default", "test",
                                  "refresh_ollama_models", "list", "get_default"]),
       id=ids)
def test_operations_on_one_id(world: dict[str, Any], operation: str, id: Any) -> None:
    method = getattr(world["service"], operation)
    refused_or_fine(world, lambda: method(pick_id(world, id)))


@SETTINGS
@given(type=types, id=ids, config=configs)
def test_resolving_and_drafts(world: dict[str, Any], type: Any, id: Any, config: Any) -> None:
    service: ConnectionService = world["service"]
    refused_or_fine(world, lambda: service.resolve_config(type, pick_id(world, id)))
    refused_or_fine(world, lambda: service.test_draft(type, config))
    refused_or_fine(world, lambda: service.test_draft(type, config,
                                                      existing_id=pick_id(world, id)))
    refused_or_fine(world, lambda: service.needs_key_again(pick_id(world, id), config))
    refused_or_fine(world, lambda: test_connection(type, config))


@SETTINGS
@given(id=ids, name=st.one_of(texts, values))
def test_ollama_models(world: dict[str, Any], id: Any, name: Any) -> None:
    service: ConnectionService = world["service"]
    refused_or_fine(world, lambda: service.pull_model(pick_id(world, id), name))
    refused_or_fine(world, lambda: service.delete_model(pick_id(world, id), name))
    refused_or_fine(world, lambda: ollama.show_model("http://127.0.0.1:9", name))


@SETTINGS
@given(email=values, role=values, limit=values, actor=values, action=values, since=values)
def test_members_and_audit(world: dict[str, Any], email: Any, role: Any, limit: Any,
                           actor: Any, action: Any, since: Any) -> None:
    service: ConnectionService = world["service"]
    refused_or_fine(world, lambda: service.set_member(email, role))
    refused_or_fine(world, lambda: service.remove_member(email))
    refused_or_fine(world, lambda: service.audit(limit, actor=actor, action=action, since=since))


@SETTINGS
@given(workspace=values, actor=values, admins=values, timeout=values, days=values)
def test_building_a_service(world: dict[str, Any], workspace: Any, actor: Any, admins: Any,
                            timeout: Any, days: Any) -> None:
    service: ConnectionService = world["service"]
    refused_or_fine(world, lambda: ConnectionService(
        service.store, service.keyring, workspace, actor=actor, admins=admins, timeout=timeout,
        audit_days=days).test(world["ids"][1]))


@SETTINGS
@given(environ=st.dictionaries(st.sampled_from([
    "ENCRYPTION_KEY", "ENCRYPTION_SECRET", "ENCRYPTION_KEY_PREVIOUS", "CONNECTIONS_ADMINS",
    "CONNECTIONS_AUDIT_DAYS"]), texts, max_size=4), workspace=values)
def test_from_env(world: dict[str, Any], environ: dict[str, str], workspace: Any) -> None:
    folder = str(world["path"].parent)
    refused_or_fine(world, lambda: ConnectionService.from_env(
        workspace, {**environ, "CONNECTIONS_DATA_DIR": folder}).list())


@SETTINGS
@given(token=values, key=values, previous=values)
def test_keys_and_tokens(world: dict[str, Any], token: Any, key: Any, previous: Any) -> None:
    refused_or_fine(world, lambda: decrypt(token, world["key"]))
    refused_or_fine(world, lambda: decrypt(token, key))
    refused_or_fine(world, lambda: KeyRing(key, previous).decrypt(token))
