"""A check made before saving (``test_draft``) saved with the connection, and the
model ids a check finds kept for every provider."""

from __future__ import annotations

import pytest

from connections_core import ConnectionService, ValidationError
from tests.fakes import API_KEY, FakeServer, unused_url


def openai_config(server: FakeServer, key: str = API_KEY) -> dict[str, str]:
    return {"apiKey": key, "baseUrl": server.openai_url}


def test_create_with_a_passed_check_stores_it_as_the_status(service: ConnectionService,
                                                            fake_server: FakeServer) -> None:
    config = openai_config(fake_server)
    result = service.test_draft("openai", config)

    created = service.create("openai", "Work", config, checked=result)

    stored = service.get(created.id)
    assert stored.status == "connected" and stored.last_checked_at is not None
    assert stored.last_result is not None and stored.last_result.message == result.message
    assert stored.available_models == ("gpt-4o", "gpt-4o-mini", "o3-mini")
    assert stored.version == 1
    [entry] = service.audit(action="connection.created")
    assert entry.details == {"type": "openai", "kind": "ok", "latency_ms": result.latency_ms}


def test_create_without_a_check_is_not_checked(service: ConnectionService,
                                               fake_server: FakeServer) -> None:
    created = service.create("openai", "Work", openai_config(fake_server))
    assert (created.status, created.last_result, created.available_models) == (
        "unconfigured", None, ())


def test_create_refuses_both_an_initial_status_and_a_check(service: ConnectionService,
                                                           fake_server: FakeServer) -> None:
    config = openai_config(fake_server)
    result = service.test_draft("openai", config)
    with pytest.raises(ValidationError, match="not both"):
        service.create("openai", "Work", config, "connected", checked=result)
    assert service.list() == []


def test_the_old_positional_initial_status_still_works(service: ConnectionService,
                                                       fake_server: FakeServer) -> None:
    created = service.create("openai", "Work", openai_config(fake_server), "error")
    assert created.status == "error"


def test_update_with_a_check_of_the_new_config_stores_it(service: ConnectionService,
                                                         fake_server: FakeServer) -> None:
    created = service.create("openai", "Work", openai_config(fake_server, "sk-old-key-0000000000"))
    config = openai_config(fake_server)
    result = service.test_draft("openai", config, existing_id=created.id)

    updated = service.update(created.id, created.version, config=config, checked=result)

    assert updated.status == "connected" and updated.version == created.version + 1
    assert service.get(created.id).last_result == updated.last_result
    assert updated.last_result is not None and updated.last_result.kind == "ok"


def test_update_with_only_a_check_records_it_without_a_new_version(
        service: ConnectionService, fake_server: FakeServer) -> None:
    """Test then Save with nothing changed: the check of the stored config counts."""
    created = service.create("openai", "Work", openai_config(fake_server))
    result = service.test_draft("openai", {"apiKey": "", "baseUrl": fake_server.openai_url},
                                existing_id=created.id)

    updated = service.update(created.id, created.version, name="Work",
                             config={"apiKey": "", "baseUrl": fake_server.openai_url},
                             checked=result)

    assert (updated.status, updated.version) == ("connected", created.version)
    assert [e.action for e in service.audit()][:3] == [
        "connection.tested", "connection.test_started", "connection.created"]
    assert service.audit()[1].details == {"draft": True}


def test_update_without_a_check_resets_a_changed_config(service: ConnectionService,
                                                        fake_server: FakeServer) -> None:
    created = service.create("openai", "Work", openai_config(fake_server))
    service.test(created.id)
    updated = service.update(created.id, created.version, config={"organization": "org-new"})
    assert (updated.status, updated.last_result) == ("unconfigured", None)


def test_a_failed_check_passed_on_is_stored_as_an_error(service: ConnectionService) -> None:
    config = {"baseUrl": unused_url()}
    result = service.test_draft("ollama", config)
    created = service.create("ollama", "Gone", config, checked=result)
    assert created.status == "error" and created.available_models == ()


@pytest.mark.parametrize("type", ["openai", "anthropic"])
def test_a_check_keeps_the_model_ids_of_every_provider(service: ConnectionService,
                                                       fake_server: FakeServer,
                                                       type: str) -> None:
    url = fake_server.openai_url if type == "openai" else fake_server.anthropic_url
    created = service.create(type, "Cloud", {"apiKey": API_KEY, "baseUrl": url})
    result = service.test(created.id)
    assert result.success and len(result.models) == 3
    assert service.get(created.id).available_models == result.models
