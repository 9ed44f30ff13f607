"""The demo's stand-in providers answer as the real APIs do, for everything the product
sends: the official ``openai``, ``anthropic`` and ``ollama`` clients (installed for the
tests only) read them as they read the real services, and agree with the product's
own checks and Ollama calls.  They start once per process and leave no thread or
port behind when they stop."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import anthropic
import ollama as ollama_client
import openai
import pytest
import requests

from connections_core import (
    NotFoundError,
    OllamaError,
    ProviderError,
    ollama,
    standins,
    test_connection,
)
from connections_core.addresses import standin_ports
from connections_core.standins import StandIns

FAST_PULL = 0.4  # seconds a pull's progress takes here
BOUND = 5.0  # seconds anything here may take to settle


@pytest.fixture
def stand_ins() -> Iterator[StandIns]:
    """The process's stand-ins, with quick pulls; stopped afterwards."""
    running = standins.start()
    running.ollama_models.pull_seconds = FAST_PULL
    try:
        yield running
    finally:
        standins.stop()


def sockets_open() -> int:
    """How many sockets this process holds (listening, connected or bound)."""
    return sum(os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
               for fd in os.listdir("/proc/self/fd") if _exists(fd))


def _exists(fd: str) -> bool:
    try:
        os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False
    return True


def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=BOUND).close()
    except ConnectionRefusedError:
        return True
    return False


# -- OpenAI ------------------------------------------------------------------------------

def test_the_openai_client_lists_what_the_product_check_finds(stand_ins: StandIns) -> None:
    client = openai.OpenAI(base_url=stand_ins.openai_url, api_key=stand_ins.openai_key,
                           max_retries=0)
    listed = [model.id for model in client.models.list()]
    result = test_connection("openai", {"apiKey": stand_ins.openai_key,
                                        "baseUrl": stand_ins.openai_url}, standins=True)
    assert result.success and result.kind == "ok"
    assert list(result.models) == listed and "gpt-4o" in listed
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"


def test_a_wrong_openai_key_is_refused_as_openai_refuses_it(stand_ins: StandIns) -> None:
    wrong = "sk-proj-wrong-key-0123456789"
    client = openai.OpenAI(base_url=stand_ins.openai_url, api_key=wrong, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refusal:
        client.models.list()
    assert refusal.value.status_code == 401
    assert refusal.value.code == "invalid_api_key" and refusal.value.type == "invalid_request_error"
    assert "Incorrect API key provided" in refusal.value.message
    assert "wrong" not in refusal.value.response.text and "0123" not in refusal.value.response.text
    result = test_connection("openai", {"apiKey": wrong, "baseUrl": stand_ins.openai_url},
                             standins=True)
    assert (result.success, result.kind, result.status_code) == (False, "auth", 401)


def test_an_openai_request_without_a_key_is_refused(stand_ins: StandIns) -> None:
    answer = requests.get(f"{stand_ins.openai_url}/models", timeout=BOUND)
    assert answer.status_code == 401
    assert answer.json()["error"]["message"].startswith("You didn't provide an API key")


def test_a_stand_in_accepts_only_its_own_key(stand_ins: StandIns) -> None:
    """The Anthropic stand-in's key is a wrong key to the OpenAI one, and the other way."""
    assert stand_ins.openai_key != stand_ins.anthropic_key
    openai_result = test_connection("openai", {"apiKey": stand_ins.anthropic_key,
                                               "baseUrl": stand_ins.openai_url}, standins=True)
    anthropic_result = test_connection("anthropic", {"apiKey": stand_ins.openai_key,
                                                     "baseUrl": stand_ins.anthropic_url},
                                       standins=True)
    assert openai_result.kind == anthropic_result.kind == "auth"


# -- Anthropic -----------------------------------------------------------------------------

def test_the_anthropic_client_pages_through_what_the_product_check_finds(
        stand_ins: StandIns) -> None:
    client = anthropic.Anthropic(base_url=stand_ins.anthropic_url.removesuffix("/v1"),
                                 api_key=stand_ins.anthropic_key, max_retries=0)
    first = client.models.list(limit=2)
    assert len(first.data) == 2 and first.has_more
    listed = [model.id for model in client.models.list(limit=2)]  # follows every page
    result = test_connection("anthropic", {"apiKey": stand_ins.anthropic_key,
                                           "baseUrl": stand_ins.anthropic_url}, standins=True)
    assert result.success and list(result.models) == listed and len(listed) == 5
    assert client.models.retrieve(listed[0]).display_name == "Claude Opus 4.1"


def test_a_wrong_anthropic_key_is_refused_as_anthropic_refuses_it(stand_ins: StandIns) -> None:
    wrong = "sk-ant-api03-wrong-0123456789"
    client = anthropic.Anthropic(base_url=stand_ins.anthropic_url.removesuffix("/v1"),
                                 api_key=wrong, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refusal:
        client.models.list()
    body = refusal.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"
    # The product sends the key in x-api-key: Anthropic's words for a wrong one.
    answer = requests.get(f"{stand_ins.anthropic_url}/models", timeout=BOUND,
                          headers={"x-api-key": wrong, "anthropic-version": "2023-06-01"})
    assert answer.status_code == 401
    assert answer.json()["error"] == {"type": "authentication_error",
                                      "message": "invalid x-api-key"}
    assert "wrong" not in answer.text
    result = test_connection("anthropic", {"apiKey": wrong, "baseUrl": stand_ins.anthropic_url},
                             standins=True)
    assert (result.success, result.kind, result.status_code) == (False, "auth", 401)


def test_anthropic_needs_its_version_header(stand_ins: StandIns) -> None:
    answer = requests.get(f"{stand_ins.anthropic_url}/models", timeout=BOUND,
                          headers={"x-api-key": stand_ins.anthropic_key})
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "anthropic-version: header is required"


# -- Ollama --------------------------------------------------------------------------------

def test_the_ollama_client_reads_the_models_the_product_reads(stand_ins: StandIns) -> None:
    client = ollama_client.Client(host=stand_ins.ollama_url)
    listed = client.list().models
    ours = ollama.list_models(stand_ins.ollama_url)
    assert [m.model for m in listed] == [m.name for m in ours] == [
        "llama3.2:1b", "qwen2.5:0.5b", "nomic-embed-text:latest"]
    assert [(m.size, m.digest) for m in listed] == [(m.size, m.digest) for m in ours]
    assert [m.details.family for m in listed if m.details] == [m.details.family for m in ours]
    shown, info = client.show("llama3.2:1b"), ollama.show_model(stand_ins.ollama_url,
                                                                "llama3.2:1b")
    assert shown.capabilities == list(info.capabilities) == ["completion", "tools"]
    assert shown.license == info.license and shown.modelinfo == info.model_info
    assert [m.model for m in client.ps().models] == [
        m.name for m in ollama.list_running(stand_ins.ollama_url)] == ["llama3.2:1b"]
    assert ollama.version(stand_ins.ollama_url)


def test_the_ollama_client_pulls_with_progress_and_the_model_is_then_listed(
        stand_ins: StandIns) -> None:
    client = ollama_client.Client(host=stand_ins.ollama_url)
    steps = list(client.pull("gemma3:1b", stream=True))
    statuses = [step.status for step in steps]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layer = [step for step in steps if step.total and step.total > 100_000_000]
    assert [step.completed for step in layer] == sorted(step.completed or 0 for step in layer)
    assert layer[0].completed == 0 and layer[-1].completed == layer[-1].total
    assert "gemma3:1b" in [m.model for m in client.list().models]
    assert "gemma3:1b" in [m.name for m in ollama.list_models(stand_ins.ollama_url)]


def test_the_product_pull_reaches_100_percent_over_time(stand_ins: StandIns) -> None:
    seen = [step for step in ollama.pull_model(stand_ins.ollama_url, "smollm2:135m")]
    fractions = [step.fraction for step in seen if step.fraction is not None]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and len(set(fractions)) > 10
    assert seen[-1].status == "success"
    assert "smollm2:135m" in [m.name for m in ollama.list_models(stand_ins.ollama_url)]


def test_deleting_a_model_takes_it_off_the_list(stand_ins: StandIns) -> None:
    client = ollama_client.Client(host=stand_ins.ollama_url)
    assert client.delete("qwen2.5:0.5b").status == "success"
    ollama.delete_model(stand_ins.ollama_url, "nomic-embed-text")  # :latest, as Ollama reads it
    assert [m.name for m in ollama.list_models(stand_ins.ollama_url)] == ["llama3.2:1b"]
    with pytest.raises(ollama_client.ResponseError) as missing:
        client.delete("qwen2.5:0.5b")
    assert missing.value.status_code == 404
    with pytest.raises(NotFoundError):
        ollama.delete_model(stand_ins.ollama_url, "qwen2.5:0.5b")
    with pytest.raises(NotFoundError):
        ollama.show_model(stand_ins.ollama_url, "qwen2.5:0.5b")


def test_pulling_a_model_the_library_lacks_fails_as_ollama_fails(stand_ins: StandIns) -> None:
    client = ollama_client.Client(host=stand_ins.ollama_url)
    with pytest.raises(ollama_client.ResponseError, match="file does not exist"):
        list(client.pull("no-such-model:7b", stream=True))
    with pytest.raises(OllamaError, match="file does not exist"):
        list(ollama.pull_model(stand_ins.ollama_url, "no-such-model:7b"))


def test_a_cancelled_pull_stops_the_stand_ins_stream(stand_ins: StandIns) -> None:
    stand_ins.ollama_models.pull_seconds = 30.0  # far longer than this test waits
    pull = ollama.pull_model(stand_ins.ollama_url, "gemma3:1b")
    assert next(pull).status == "pulling manifest"
    assert stand_ins.ollama_models.pulls_under_way == 1
    pull.cancel()
    with pytest.raises(OllamaError, match="cancelled"):
        next(pull)
    assert stand_ins.ollama_models.wait_for_pulls(BOUND)
    assert "gemma3:1b" not in [m.name for m in ollama.list_models(stand_ins.ollama_url)]


def test_a_pull_left_by_the_ollama_client_stops_too(stand_ins: StandIns) -> None:
    stand_ins.ollama_models.pull_seconds = 30.0
    client = ollama_client.Client(host=stand_ins.ollama_url)
    steps = client.pull("gemma3:1b", stream=True)
    next(steps)
    assert stand_ins.ollama_models.pulls_under_way == 1
    steps.close()  # type: ignore[attr-defined]
    client.close()
    assert stand_ins.ollama_models.wait_for_pulls(BOUND)


def test_stopping_ends_a_pull_under_way(stand_ins: StandIns) -> None:
    stand_ins.ollama_models.pull_seconds = 30.0
    pull = ollama.pull_model(stand_ins.ollama_url, "gemma3:1b", timeout=BOUND)
    next(pull)
    standins.stop()
    assert stand_ins.ollama_models.wait_for_pulls(BOUND)
    with pytest.raises(ProviderError):
        list(pull)


# -- what the product's check finds ----------------------------------------------------------

@pytest.mark.parametrize(("type", "config", "kind"), [
    ("openai", lambda s: {"apiKey": s.openai_key, "baseUrl": s.openai_url}, "ok"),
    ("openai", lambda s: {"apiKey": "sk-demo-wrong-0000", "baseUrl": s.openai_url}, "auth"),
    ("anthropic", lambda s: {"apiKey": s.anthropic_key, "baseUrl": s.anthropic_url}, "ok"),
    ("anthropic", lambda s: {"apiKey": "sk-ant-wrong-0000", "baseUrl": s.anthropic_url},
     "auth"),
    ("ollama", lambda s: {"baseUrl": s.ollama_url}, "ok"),
    ("ollama", lambda s: {"baseUrl": s.unreachable_url}, "unreachable"),
    ("openai", lambda s: {"apiKey": "sk-demo-any-0000", "baseUrl": f"{s.unreachable_url}/v1"},
     "unreachable"),
])
def test_the_product_check_classifies_each_stand_in(stand_ins: StandIns, type: str,
                                                     config: object, kind: str) -> None:
    result = test_connection(type, config(stand_ins), standins=True)  # type: ignore[operator]
    assert result.kind == kind


def test_the_unreachable_address_refuses_connections(stand_ins: StandIns) -> None:
    assert refused(stand_ins.unreachable_url)
    assert not refused(stand_ins.ollama_url)


# -- once per process, and nothing left behind -----------------------------------------------

def test_they_start_once_however_many_ask_at_once() -> None:
    standins.stop()
    found: list[StandIns] = []
    threads = [threading.Thread(target=lambda: found.append(standins.start()))
               for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(BOUND)
        assert len(found) == 8 and len({id(s) for s in found}) == 1
        assert standins.running() is found[0]
        assert standin_ports() == found[0].ports
    finally:
        standins.stop()
    assert standins.running() is None and standin_ports() == frozenset()


def test_stopping_frees_every_port_and_the_next_start_has_new_keys() -> None:
    first = standins.start()
    urls = [first.openai_url, first.anthropic_url, first.ollama_url]
    standins.stop()
    assert first.closed and all(refused(url) for url in urls)
    second = standins.start()
    try:
        assert second is not first and second.openai_key != first.openai_key
    finally:
        standins.stop()


def test_fifty_starts_and_stops_leave_no_thread_or_socket_behind() -> None:
    standins.stop()
    threads, sockets = threads_besides_the_pool(), sockets_open()
    for _ in range(50):
        running = standins.start()
        assert test_connection("ollama", {"baseUrl": running.ollama_url},
                               standins=True).success
        standins.stop()
    for thread in threading.enumerate():
        if thread.daemon and thread.name not in POOL_THREADS:  # a request's, ending
            thread.join(BOUND)
    assert threads_besides_the_pool() <= threads
    assert sockets_open() <= sockets


#: The threads of the process's pool of checks, which idle ones leave after a minute.
POOL_THREADS = {"connections-check", "connections-record"}


def threads_besides_the_pool() -> int:
    return sum(thread.name not in POOL_THREADS for thread in threading.enumerate())


def test_the_keys_are_never_in_the_repr(stand_ins: StandIns) -> None:
    shown = repr(stand_ins)
    assert stand_ins.openai_key not in shown and stand_ins.anthropic_key not in shown
    assert stand_ins.ollama_url in shown
