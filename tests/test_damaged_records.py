"""A record damaged in the store (edited by hand, or written by an old bug) spoils
only itself: the others list, check and resolve as before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connections_core import ConnectionService, Store, StoreCorruptError
from tests import stores
from tests.fakes import API_KEY, FakeServer


def damage(store: Store, id: str, **fields: Any) -> None:
    """Set ``fields`` on the stored record ``id``, as someone editing the store would."""
    stores.edit(store, id, lambda record: record.update(fields))


@pytest.mark.parametrize("fields", [
    {"config": "sk-not-a-mapping"},
    {"config": ["a", "list"]},
    {"config": {"apiKey": 12345, "baseUrl": "http://x"}},
    {"hints": ["a", "list"]},
    {"hints": {"apiKey": ["x"]}},
    {"version": "1"},
    {"version": None},
    {"type": "gopher"},
    {"type": ["openai"]},
    {"name": {"a": 1}},
    {"created_at": "yesterday"},
    {"last_result": {"success": "yes"}},
    {"last_result": "ok"},
    {"available_models": "gpt-4o"},
    {"status": "wonderful"},
])
def test_one_damaged_record_spoils_only_itself(service: ConnectionService,
                                               fake_server: FakeServer,
                                               fields: dict[str, Any]) -> None:
    good = service.create("openai", "Good", {"apiKey": API_KEY,
                                             "baseUrl": fake_server.openai_url})
    bad = service.create("openai", "Bad", {"apiKey": API_KEY, "baseUrl": fake_server.openai_url})
    damage(service.store, bad.id, **fields)

    listed = {c.id: c for c in service.list()}
    assert set(listed) == {good.id, bad.id}
    assert listed[good.id].name == "Good"

    results = service.test_all()
    assert set(results) == {good.id, bad.id}, "every connection gets a result"
    assert results[good.id].success
    assert service.get(good.id).status == "connected", "the good one is recorded"
    assert service.resolve_config("openai", good.id)["apiKey"] == API_KEY


@pytest.mark.parametrize("fields", [
    {"config": "sk-not-a-mapping"}, {"version": "1"}, {"type": "gopher"}, {"name": None},
])
def test_a_damaged_record_says_so_and_can_be_deleted(service: ConnectionService,
                                                     fields: dict[str, Any]) -> None:
    bad = service.create("openai", "Bad", {"apiKey": API_KEY, "baseUrl": "http://127.0.0.1:9"})
    damage(service.store, bad.id, **fields)

    shown = service.get(bad.id)
    assert shown.status == "error" and shown.last_result is not None
    assert f"damaged in {service.store.location}" in shown.last_result.message
    result = service.test(bad.id)
    assert not result.success and "damaged" in result.message
    with pytest.raises(StoreCorruptError, match="damaged"):
        service.resolve_config("openai", bad.id)
    with pytest.raises(StoreCorruptError, match="damaged"):
        service.update(bad.id, 1, name="Fixed")
    service.delete(bad.id)
    assert service.list() == []


@pytest.mark.tinydb
def test_a_record_without_an_id_is_ignored(service: ConnectionService, data_path: Path) -> None:
    """Only the file can hold such a record: PostgreSQL keys every row by a text id."""
    good = service.create("ollama", "Local", {"baseUrl": "http://127.0.0.1:9"})
    data = json.loads(data_path.read_text())
    data["connections"]["99"] = {"workspace_id": "default", "name": "nobody can address me"}
    data["connections"]["98"] = {"id": ["x"], "workspace_id": "default"}
    data_path.write_text(json.dumps(data))
    assert [c.id for c in service.list()] == [good.id]
    assert set(service.test_all()) == {good.id}


def test_all_records_every_result_when_servers_are_hostile(service: ConnectionService,
                                                           fake_server: FakeServer) -> None:
    """Odd redirects, lone surrogates and huge model lists: each becomes that connection's
    recorded result, and the good connection's is recorded too."""
    hostile = [FakeServer() for _ in range(4)]
    try:
        hostile[0].respond("/v1/models", 302, headers={"Location": "http://h:99999/"})
        hostile[1].respond("/v1/models", 302, headers={"Location": "http://[::1/"})
        hostile[2].respond("/v1/models", 500, b'{"error": {"message": "bad \\ud800 thing"}}',
                           content_type="application/json")
        hostile[3].ollama_models = [{"name": f"m\ud800{n}", "model": f"m{n}", "size": 1,
                                     "digest": "0" * 64, "modified_at": "2026-01-01T00:00:00Z",
                                     "details": {}} for n in range(5000)]
        made = [service.create("openai", f"Hostile {n}", {"apiKey": API_KEY,
                                                          "baseUrl": server.openai_url})
                for n, server in enumerate(hostile[:3])]
        made.append(service.create("ollama", "Many models", {"baseUrl": hostile[3].url}))
        good = service.create("openai", "Good", {"apiKey": API_KEY,
                                                 "baseUrl": fake_server.openai_url})

        results = service.test_all()

        assert set(results) == {c.id for c in [*made, good]}
        assert results[good.id].success
        assert [results[c.id].success for c in made[:3]] == [False, False, False]
        many = service.get(made[3].id)
        assert many.status == "connected"
        assert 0 < len(many.available_models) <= 2000
        for connection in service.list():
            assert connection.last_result is not None, connection.name
            connection.last_result.message.encode("utf-8")
    finally:
        for server in hostile:
            server.close()
