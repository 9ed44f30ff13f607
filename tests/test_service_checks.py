"""Checking connections through the service, against a real server on 127.0.0.1."""

from __future__ import annotations

import threading

import pytest

from connections_core import ConnectionService, KeyRing, NotFoundError, Store, ValidationError
from tests import stores
from tests.fakes import API_KEY, FakeServer, unused_url


def add_openai(service: ConnectionService, server: FakeServer, name: str = "Work",
               key: str = API_KEY):
    return service.create("openai", name, {"apiKey": key, "baseUrl": server.openai_url})


def test_successful_check_is_recorded(service: ConnectionService, fake_server: FakeServer) -> None:
    created = add_openai(service, fake_server)
    result = service.test(created.id)
    assert result.success and result.models == ("gpt-4o", "gpt-4o-mini", "o3-mini")
    stored = service.get(created.id)
    assert stored.status == "connected" and stored.last_checked_at is not None
    assert stored.last_result is not None and stored.last_result.kind == "ok"
    assert stored.last_result.latency_ms == result.latency_ms
    assert stored.version == created.version, "a check is not an edit"


def test_rejected_key_is_recorded_as_an_error(service: ConnectionService,
                                              fake_server: FakeServer) -> None:
    fake_server.echo_key_in_errors = True
    created = add_openai(service, fake_server, key="sk-wrong-key-000000000")
    result = service.test(created.id)
    assert result.kind == "auth" and "rejected the API key" in result.message
    assert "sk-wrong-key-000000000" not in result.message
    stored = service.get(created.id)
    assert stored.status == "error" and stored.last_result is not None
    assert stored.last_result.message == result.message


def test_anthropic_check_follows_pages(service: ConnectionService,
                                       fake_server: FakeServer) -> None:
    created = service.create("anthropic", "Claude", {"apiKey": API_KEY,
                                                     "baseUrl": fake_server.anthropic_url})
    result = service.test(created.id)
    assert result.success and len(result.models) == 3
    assert len(fake_server.requests_to("/v1/models")) == 2


def test_ollama_check_stores_available_models(service: ConnectionService,
                                              fake_server: FakeServer) -> None:
    created = service.create("ollama", "Local", {"baseUrl": fake_server.url})
    service.test(created.id)
    assert service.get(created.id).available_models == ("llama3.2:1b", "qwen2.5:0.5b")


def test_refresh_ollama_models_returns_typed_models(service: ConnectionService,
                                                    fake_server: FakeServer) -> None:
    created = service.create("ollama", "Local", {"baseUrl": fake_server.url})
    models = service.refresh_ollama_models(created.id)
    assert [m.details.family for m in models] == ["llama", "qwen2"]
    assert service.get(created.id).available_models == ("llama3.2:1b", "qwen2.5:0.5b")


def test_refresh_ollama_models_rejects_other_types(service: ConnectionService,
                                                   fake_server: FakeServer) -> None:
    created = add_openai(service, fake_server)
    with pytest.raises(ValidationError, match="Only Ollama"):
        service.refresh_ollama_models(created.id)


def test_unreachable_server_is_recorded(service: ConnectionService) -> None:
    created = service.create("ollama", "Gone", {"baseUrl": unused_url()})
    assert service.test(created.id).kind == "unreachable"
    assert service.get(created.id).status == "error"


def test_slow_server_times_out(store: Store, keyring: KeyRing,
                               fake_server: FakeServer) -> None:
    fake_server.delay = 2.0
    service = ConnectionService(store, keyring, timeout=0.2)
    created = service.create("ollama", "Slow", {"baseUrl": fake_server.url})
    result = service.test(created.id)
    assert result.kind == "timeout" and "did not answer within 0.2 s" in result.message


def test_draft_check_writes_nothing(service: ConnectionService, fake_server: FakeServer) -> None:
    add_openai(service, fake_server)
    before = stores.contents(service.store)
    result = service.test_draft("openai", {"apiKey": API_KEY, "baseUrl": fake_server.openai_url})
    assert result.success
    assert stores.contents(service.store) == before


def test_draft_of_an_edit_uses_the_stored_key_only_for_the_same_url(
        service: ConnectionService, fake_server: FakeServer) -> None:
    created = add_openai(service, fake_server)
    same = service.test_draft("openai", {"apiKey": "", "baseUrl": fake_server.openai_url},
                              existing_id=created.id)
    assert same.success
    other = FakeServer()
    try:
        with pytest.raises(ValidationError, match="API key is required"):
            service.test_draft("openai", {"apiKey": "", "baseUrl": other.openai_url},
                               existing_id=created.id)
        assert other.requests == [], "the stored key never went to the other server"
    finally:
        other.close()


def test_a_started_draft_check_refuses_a_bad_config_at_once_and_writes_nothing(
        service: ConnectionService, fake_server: FakeServer) -> None:
    """A dialog's Test runs off the script thread: its field errors still come at once,
    and its result, whenever it comes, is written nowhere."""
    with pytest.raises(ValidationError, match="API key must be at least 10 characters"):
        service.start_test_draft("openai", {"apiKey": "short",
                                            "baseUrl": fake_server.openai_url})
    fake_server.hold()
    before = stores.contents(service.store)
    check = service.start_test_draft("openai", {"apiKey": API_KEY,
                                                "baseUrl": fake_server.openai_url})
    assert fake_server.wait_for_in_flight(1) and not check.done()
    fake_server.release()
    assert check.result(timeout=10).success
    assert stores.contents(service.store) == before


def test_all_checks_run_at_once(service: ConnectionService, fake_server: FakeServer) -> None:
    fake_server.delay = 0.3
    created = [add_openai(service, fake_server, f"c{n}") for n in range(20)]
    results = service.test_all()
    assert set(results) == {c.id for c in created}
    assert all(r.success for r in results.values())
    assert fake_server.peak_in_flight >= 10, "the checks overlapped"
    assert {c.status for c in service.list()} == {"connected"}


def test_iter_test_all_yields_in_the_callers_thread(service: ConnectionService,
                                                    fake_server: FakeServer) -> None:
    add_openai(service, fake_server, "a")
    service.create("ollama", "b", {"baseUrl": unused_url()})
    seen = [(connection.name, result.success, threading.current_thread().name)
            for connection, result in service.iter_test_all()]
    assert sorted(seen) == [("a", True, "MainThread"), ("b", False, "MainThread")]
    assert {c.name: c.status for c in service.list()} == {"a": "connected", "b": "error"}


def test_all_of_an_empty_workspace_is_empty(service: ConnectionService) -> None:
    assert service.test_all() == {}


def test_result_of_an_edited_connection_is_not_recorded(service: ConnectionService,
                                                        fake_server: FakeServer) -> None:
    """A check that started before an edit describes a config that is gone."""
    fake_server.delay = 0.5
    created = add_openai(service, fake_server)
    checking = threading.Thread(target=service.test, args=(created.id,))
    checking.start()
    assert fake_server.wait_for_requests(1, timeout=5)
    service.update(created.id, created.version, config={"organization": "org-new"})
    checking.join(timeout=10)
    assert service.get(created.id).status == "unconfigured"


def test_undecryptable_key_is_reported_as_the_check_result(
        store: Store, key: str, fake_server: FakeServer) -> None:
    service = ConnectionService(store, KeyRing(key))
    created = add_openai(service, fake_server)
    token = stores.connection(store, created.id)["config"]["apiKey"]
    stores.edit_config(store, created.id, apiKey=stores.tampered(token))
    result = service.test(created.id)
    assert not result.success and "can't be decrypted" in result.message
    assert fake_server.requests == [], "nothing was sent without a usable key"


def test_deleted_connection_cannot_be_tested(service: ConnectionService,
                                             fake_server: FakeServer) -> None:
    created = add_openai(service, fake_server)
    service.delete(created.id)
    with pytest.raises(NotFoundError):
        service.test(created.id)


def test_draft_of_an_edit_normalises_the_base_url(service: ConnectionService,
                                                  fake_server: FakeServer) -> None:
    """A trailing slash once made the edit dialog's Test drop the stored key."""
    created = add_openai(service, fake_server)
    result = service.test_draft("openai", {"apiKey": "", "baseUrl": fake_server.openai_url + "/"},
                                existing_id=created.id)
    assert result.success


def test_stopping_iter_test_all_early_does_not_wait_for_every_check(
        service: ConnectionService, fake_server: FakeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing the iterator once waited for every queued check, then dropped their results."""
    monkeypatch.setenv("CONNECTIONS_MAX_CHECKS", "2")
    fake_server.delay = 0.3
    for n in range(12):
        add_openai(service, fake_server, f"c{n}")
    checks = service.iter_test_all()
    next(checks)
    checks.close()
    # Only the checks already running when the caller stopped reach the server.
    assert len(fake_server.requests) <= 6
