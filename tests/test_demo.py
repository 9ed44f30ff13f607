"""The demo: a workspace of connections to the stand-in providers, in a store of its own.

Its statuses come from real checks; every operation works on it; a reset puts it
back; it never touches the real data folder and never sends a request off this
machine; with sign-in on only instance admins open it; and no real connection may
point at a stand-in (a stand-in never receives a real key)."""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connections_core import (
    DEMO_WORKSPACE,
    ConnectionService,
    DecryptionError,
    PermissionDeniedError,
    ValidationError,
    close_demo,
    crypto,
    demo_requested,
    is_demo,
    open_demo,
    reset_demo,
    standins,
)
from connections_core.addresses import standin_ports
from connections_core.demo import DemoStore
from connections_core.records import secret_context
from connections_core.standins import StandIns

FAST_PULL = 0.3
BOUND = 5.0
POOL_THREADS = {"connections-check", "connections-record"}
STARTING = {
    "OpenAI (demo)": ("openai", "connected", "ok", True),
    "Anthropic (demo)": ("anthropic", "error", "auth", True),
    "Ollama (demo)": ("ollama", "connected", "ok", True),
    "Ollama on the lab server (demo)": ("ollama", "error", "unreachable", False),
}


@pytest.fixture
def demo() -> Iterator[ConnectionService]:
    """The demo, opened afresh (quick pulls), closed afterwards."""
    close_demo()
    service = open_demo()
    stand_ins().ollama_models.pull_seconds = FAST_PULL
    try:
        yield service
    finally:
        close_demo()


def stand_ins() -> StandIns:
    running = standins.running()
    assert running is not None
    return running


def by_name(service: ConnectionService) -> dict[str, Any]:
    return {c.name: c for c in service.list()}


def summary(service: ConnectionService) -> dict[str, tuple[str, str, str | None, bool]]:
    return {c.name: (c.type, c.status, c.last_result.kind if c.last_result else None,
                     c.is_default) for c in service.list()}


def demo_file(service: ConnectionService) -> Path:
    store = service.store
    assert isinstance(store, DemoStore)
    return store.path


def ollama_id(service: ConnectionService) -> str:
    return str(by_name(service)["Ollama (demo)"].id)


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address this process connects a socket to, and every host it looks up."""
    made: list[Any] = []
    connect, lookup = socket.socket.connect, socket.getaddrinfo

    def recording_connect(self: socket.socket, address: Any) -> None:
        made.append(address)
        connect(self, address)

    def recording_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        made.append((host, "lookup"))
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    monkeypatch.setattr(socket, "getaddrinfo", recording_lookup)
    return made


def loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes):
        host = host.decode()
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


# -- what it holds -------------------------------------------------------------------------

def test_the_demo_opens_on_statuses_its_checks_found(demo: ConnectionService) -> None:
    assert demo.workspace_id == DEMO_WORKSPACE and is_demo(demo)
    assert summary(demo) == STARTING
    connections = by_name(demo)
    assert connections["Anthropic (demo)"].last_result.message.startswith(
        "Anthropic rejected the API key (401)")
    assert "Can't reach the server" in connections[
        "Ollama on the lab server (demo)"].last_result.message
    assert connections["OpenAI (demo)"].available_models
    assert [entry.action for entry in demo.audit()][:2] == ["connections.tested_all",
                                                            "connections.test_all_started"]


def test_its_ollama_has_models_to_browse_inspect_pull_and_delete(
        demo: ConnectionService) -> None:
    id = ollama_id(demo)
    names = [m.name for m in demo.ollama_models(id)]
    assert names == ["llama3.2:1b", "qwen2.5:0.5b", "nomic-embed-text:latest"]
    assert demo.model_details(id, "llama3.2:1b").details.parameter_size == "1.2B"
    assert [m.name for m in demo.running_models(id)] == ["llama3.2:1b"]
    assert demo.ollama_version(id)
    progress = [step.fraction for step in demo.pull_model(id, "gemma3:1b")]
    assert 1.0 in progress
    assert "gemma3:1b" in [m.name for m in demo.refresh_ollama_models(id)]
    demo.delete_model(id, "qwen2.5:0.5b")
    assert "qwen2.5:0.5b" not in [m.name for m in demo.ollama_models(id)]
    actions = [entry.action for entry in demo.audit()]
    assert "ollama.model_pulled" in actions and "ollama.model_deleted" in actions


def test_every_operation_works_on_it(demo: ConnectionService) -> None:
    connections = by_name(demo)
    anthropic = connections["Anthropic (demo)"]
    fixed = demo.update(anthropic.id, anthropic.version, "Claude (demo)",
                        {"apiKey": stand_ins().anthropic_key})
    assert demo.test(fixed.id).success
    gone = demo.delete(connections["OpenAI (demo)"].id)
    assert [c.name for c in demo.list_deleted()] == ["OpenAI (demo)"]
    demo.restore(gone.id)
    results = demo.test_all()
    assert sorted(r.kind for r in results.values()) == ["ok", "ok", "ok", "unreachable"]
    actions = {entry.action for entry in demo.audit()}
    assert {"connection.updated", "connection.deleted", "connection.restored"} <= actions
    assert demo.store.size_bytes() and "demo" in demo.store.location


def test_its_connections_have_a_past_week_to_chart(demo: ConnectionService) -> None:
    connections = by_name(demo)
    week = datetime.now(UTC) - timedelta(days=7, minutes=1)
    openai = demo.health(connections["OpenAI (demo)"].id, since=week)
    assert openai.checks == 7 * 24 * 4 + 1 and openai.failures == 0
    anthropic = demo.history(connections["Anthropic (demo)"].id, limit=30)
    assert [check.kind for check in anthropic[:20]] == ["auth"] * 20  # revoked since
    assert anthropic[-1].kind == "ok" and anthropic[-1].status_code == 200
    lab = demo.health(connections["Ollama on the lab server (demo)"].id)
    assert lab.uptime == 0 and lab.latency_p50_ms is None


def test_the_demo_sends_no_alerts(demo: ConnectionService) -> None:
    """Nothing in the demo leaves this machine: it takes no webhook."""
    with pytest.raises(ValidationError, match="The demo sends no alerts"):
        demo.set_alert_webhook("https://hooks.slack.com/services/T0/B0/XXXX")
    assert not demo.alert_webhook().is_set


def test_opening_again_gives_the_same_demo(demo: ConnectionService) -> None:
    demo.delete(by_name(demo)["OpenAI (demo)"].id)
    again = open_demo()
    assert again.store is demo.store and "OpenAI (demo)" not in by_name(again)


# -- reset ---------------------------------------------------------------------------------

def test_a_reset_puts_everything_back_for_every_service(demo: ConnectionService) -> None:
    starting_audit = len(demo.audit())
    id = ollama_id(demo)
    list(demo.pull_model(id, "gemma3:1b"))
    demo.delete_model(id, "qwen2.5:0.5b")
    demo.delete(by_name(demo)["OpenAI (demo)"].id)
    lab = by_name(demo)["Ollama on the lab server (demo)"]
    demo.update(lab.id, lab.version, "Renamed")
    old_folder = demo_file(demo).parent
    reset_demo()
    assert summary(demo) == STARTING  # the service held from before the reset
    assert [m.name for m in demo.ollama_models(ollama_id(demo))] == [
        "llama3.2:1b", "qwen2.5:0.5b", "nomic-embed-text:latest"]
    assert len(demo.audit()) == starting_audit and demo.list_deleted() == []
    assert not old_folder.exists()


def test_a_reset_before_the_demo_was_opened_does_nothing() -> None:
    close_demo()
    reset_demo()
    assert standins.running() is None


# -- never mixed with real data --------------------------------------------------------------

def test_it_lives_in_a_private_folder_with_a_key_of_its_own(
        demo: ConnectionService, monkeypatch: pytest.MonkeyPatch) -> None:
    data_file = demo_file(demo)
    root = data_file.parent.parent
    assert root.parent == Path(tempfile.gettempdir())
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    record = demo.store.connection(DEMO_WORKSPACE, by_name(demo)["OpenAI (demo)"].id)
    assert record is not None
    token, context = record["config"]["apiKey"], secret_context(record, "apiKey")
    assert demo.keyring.decrypt(token, context) == stand_ins().openai_key
    monkeypatch.setenv("ENCRYPTION_KEY", real := crypto.generate_key())
    with pytest.raises(DecryptionError):
        crypto.KeyRing(real).decrypt(token, context)
    assert demo.resolve_config("openai")["apiKey"] == stand_ins().openai_key
    close_demo()
    assert not root.exists()


def demo_story() -> None:
    """Everything a person does in the demo."""
    service = open_demo()
    stand_ins().ollama_models.pull_seconds = FAST_PULL
    service.test_all()
    id = ollama_id(service)
    list(service.pull_model(id, "gemma3:1b"))
    service.model_details(id, "gemma3:1b")
    service.delete_model(id, "gemma3:1b")
    service.delete(by_name(service)["OpenAI (demo)"].id)
    reset_demo()
    close_demo()


def test_the_demo_never_makes_the_real_data_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    close_demo()
    monkeypatch.chdir(tmp_path)  # where the default ./data would be made
    monkeypatch.setenv("CONNECTIONS_DATA_DIR", str(tmp_path / "real"))
    monkeypatch.delenv("ENCRYPTION_KEY", raising=False)
    demo_story()
    assert list(tmp_path.iterdir()) == []


def test_a_real_data_folder_stays_byte_identical(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    close_demo()
    real = tmp_path / "real"
    env = {"CONNECTIONS_DATA_DIR": str(real)}
    ConnectionService.from_env(environ=env).create("ollama", "Mine", {})
    before = {path: path.read_bytes() for path in real.rglob("*") if path.is_file()}
    monkeypatch.setenv("CONNECTIONS_DATA_DIR", str(real))
    demo_story()
    assert {path: path.read_bytes() for path in real.rglob("*") if path.is_file()} == before
    mine = ConnectionService.from_env(environ=env)
    assert [c.name for c in mine.list()] == ["Mine"] and mine.workspaces() == ["default"]


def test_no_request_leaves_this_machine(connects: list[Any]) -> None:
    close_demo()
    demo_story()
    assert connects, "the recording saw nothing"
    assert [address for address in connects if not loopback(address)] == []


# -- nothing left behind ---------------------------------------------------------------------

def sockets_open() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return count


def threads_besides_the_pool() -> int:
    return sum(thread.name not in POOL_THREADS for thread in threading.enumerate())


def test_fifty_opens_and_resets_leave_no_thread_port_or_folder_behind(
        demo: ConnectionService) -> None:
    reset_demo()
    running = stand_ins()
    threads, sockets = threads_besides_the_pool(), sockets_open()
    for _ in range(50):
        assert summary(open_demo()) == STARTING
        reset_demo()
    for thread in threading.enumerate():
        if thread.daemon and thread.name not in POOL_THREADS:  # a request's, ending
            thread.join(BOUND)
    assert stand_ins() is running and standin_ports() == running.ports
    assert threads_besides_the_pool() <= threads and sockets_open() <= sockets
    root = demo_file(demo).parent.parent
    assert len(list(root.iterdir())) == 1  # only the file served now


# -- sign-in ---------------------------------------------------------------------------------

def test_with_sign_in_only_an_instance_admin_may_open_it() -> None:
    close_demo()
    with pytest.raises(PermissionDeniedError, match="Only an instance admin") as refusal:
        open_demo(actor="ada@example.com", admins=["boss@example.com"])
    assert refusal.value.operation == "open_demo"
    assert standins.running() is None  # nothing was started for them
    try:
        service = open_demo(actor="Boss@example.com", admins=["boss@example.com"])
        assert service.role == "admin" and service.can("delete")
        service.test_all()
        assert service.audit()[0].actor == "boss@example.com"
    finally:
        close_demo()


def test_the_real_service_says_who_may_open_it(service: ConnectionService) -> None:
    assert service.can("open_demo")  # trusted code, or sign-in off
    service.set_member("ed@example.com", "admin")
    admins = ["boss@example.com"]
    member = ConnectionService(service.store, service.keyring, actor="ed@example.com",
                               admins=admins)
    boss = ConnectionService(service.store, service.keyring, actor="boss@example.com",
                             admins=admins)
    assert not member.can("open_demo") and boss.can("open_demo")


def test_an_actor_must_be_an_address() -> None:
    with pytest.raises(ValidationError) as refusal:
        open_demo(actor="not an address")
    assert "actor" in refusal.value.field_errors


def test_the_variable_asks_for_the_demo() -> None:
    assert demo_requested({"CONNECTIONS_DEMO": " 1 "}) and demo_requested(
        {"CONNECTIONS_DEMO": "True"})
    assert not demo_requested({}) and not demo_requested({"CONNECTIONS_DEMO": "0"})


# -- a real connection can't point at a stand-in -------------------------------------------------

@pytest.fixture
def running() -> Iterator[StandIns]:
    close_demo()
    stand_ins = standins.start()
    try:
        yield stand_ins
    finally:
        standins.stop()


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


@pytest.mark.parametrize("notation", [
    "http://127.0.0.1:{port}/v1", "http://localhost:{port}/v1", "http://LOCALHOST.:{port}/v1",
    "http://0.0.0.0:{port}/v1", "http://[::ffff:127.0.0.1]:{port}/v1",
    "http://2130706433:{port}/v1", "http://127.1:{port}/v1",
])
def test_a_real_connection_is_refused_a_stand_ins_address(
        service: ConnectionService, running: StandIns, notation: str) -> None:
    url = notation.format(port=port_of(running.openai_url))
    with pytest.raises(ValidationError) as refusal:
        service.create("openai", "Sneaky", {"apiKey": "sk-real-0123456789", "baseUrl": url})
    assert "the demo's stand-in" in refusal.value.field_errors["baseUrl"]
    assert service.list() == []


def test_an_edit_to_a_stand_ins_address_is_refused(service: ConnectionService,
                                                   running: StandIns) -> None:
    mine = service.create("openai", "Mine", {"apiKey": "sk-real-0123456789"})
    with pytest.raises(ValidationError) as refusal:
        service.update(mine.id, mine.version, config={"apiKey": "sk-real-0123456789",
                                                      "baseUrl": running.openai_url})
    assert "the demo's stand-in" in refusal.value.field_errors["baseUrl"]
    assert service.get(mine.id).base_url == "https://api.openai.com/v1"


def test_a_draft_is_not_sent_to_a_stand_in(service: ConnectionService, running: StandIns,
                                           connects: list[Any]) -> None:
    with pytest.raises(ValidationError, match="the demo's stand-in"):
        service.test_draft("anthropic", {"apiKey": "sk-ant-real-0123456789",
                                         "baseUrl": running.anthropic_url})
    assert [a for a in connects if isinstance(a, tuple) and len(a) == 2
            and a[1] == port_of(running.anthropic_url)] == []


def test_a_connection_saved_before_a_stand_in_took_its_port_is_not_sent_there(
        service: ConnectionService, running: StandIns, connects: list[Any]) -> None:
    """A real connection to a local server whose port a stand-in took later: its key
    is not sent, and its models are not read there."""
    standin_ports(())  # as before the stand-ins started
    openai = service.create("openai", "Old local server",
                            {"apiKey": "sk-real-0123456789", "baseUrl": running.openai_url})
    local = service.create("ollama", "Old Ollama", {"baseUrl": running.ollama_url})
    standin_ports(running.ports)
    result = service.test(openai.id)
    assert not result.success and "the demo's stand-in" in result.message
    with pytest.raises(ValidationError, match="the demo's stand-in"):
        service.ollama_models(local.id)
    assert [a for a in connects if isinstance(a, tuple) and len(a) == 2
            and a[1] in running.ports] == []


def test_other_addresses_of_this_machine_stay_allowed(service: ConnectionService,
                                                      running: StandIns) -> None:
    assert service.create("ollama", "Local", {"baseUrl": "http://localhost:11434"})
    assert service.create("ollama", "Down", {"baseUrl": running.unreachable_url})


def test_a_stand_ins_port_is_free_again_once_it_stops(service: ConnectionService) -> None:
    close_demo()
    url = standins.start().openai_url
    standins.stop()
    assert service.create("openai", "Mine", {"apiKey": "sk-real-0123456789", "baseUrl": url})
