"""Ollama model management: each test states one behaviour of ``connections_core.ollama``.

Plain request/response pairs use ``responses``; the stream, timing and
cancellation use the real server in ``fakes.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
import requests
import responses

from connections_core import ConnectionService, http, ollama
from connections_core.errors import NotFoundError, OllamaError, ProviderError, ValidationError
from connections_core.ollama import (
    ModelDetails,
    PullProgress,
    delete_model,
    format_bytes,
    list_models,
    list_running,
    pull_model,
    show_model,
    version,
)
from tests import fakes
from tests.fakes import (
    FakeServer,
    TrickleServer,
    ndjson,
    ollama_model,
    running_model,
    trickle_body,
    trickle_progress,
    unused_url,
)

BASE = "http://ollama.test:11434"

pytestmark = pytest.mark.timeout(10)

Trickle = Callable[..., TrickleServer]


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


# -- list_models ----------------------------------------------------------------------

def test_list_models_parses_every_field(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags", json={"models": [ollama_model("llama3.2:1b", size=1234)]})

    [model] = list_models(BASE)

    assert (model.name, model.model, model.size) == ("llama3.2:1b", "llama3.2:1b", 1234)
    assert model.digest.startswith("sha256:")
    assert model.modified_at == datetime(2025, 1, 15, 10, 20, 30, 123456,
                                         tzinfo=timezone(timedelta(hours=1)))
    assert model.details == ModelDetails(family="llama", families=("llama",),
                                         parameter_size="1.2B", quantization_level="Q8_0",
                                         format="gguf")


def test_list_models_fills_in_missing_optional_fields(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags", json={"models": [{"name": "tiny"}]})

    [model] = list_models(BASE)

    assert (model.model, model.size, model.digest, model.modified_at) == ("tiny", 0, "", None)
    assert model.details == ModelDetails()


def test_list_models_reads_null_fields_as_missing(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags",
               json={"models": [{"name": "tiny", "details": {"families": None}}]})

    assert list_models(BASE)[0].details.families == ()


def test_list_models_of_an_empty_server_is_empty(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags", json={"models": []})

    assert list_models(BASE) == []


def test_list_models_strips_a_trailing_slash_from_the_base_url(
        mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags", json={"models": [{"name": "tiny"}]})

    assert [m.name for m in list_models(f"{BASE}/")] == ["tiny"]


def test_list_models_sends_through_the_given_session(fake_server: FakeServer) -> None:
    with requests.Session() as session:
        session.headers["X-Trace"] = "trace-1"
        list_models(fake_server.url, session=session)

    assert fake_server.requests_to("/api/tags")[0].headers["x-trace"] == "trace-1"


def test_list_models_rejects_an_html_page(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags", body="<html>Welcome</html>", content_type="text/html")

    with pytest.raises(OllamaError, match="text/html page.*base URL") as caught:
        list_models(BASE)
    assert caught.value.kind == "invalid_response"


def test_list_models_rejects_a_json_list(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags", json=[{"name": "tiny"}])

    with pytest.raises(OllamaError, match="not a JSON object.*Ollama server") as caught:
        list_models(BASE)
    assert caught.value.kind == "invalid_response"


def test_list_models_rejects_models_that_are_not_a_list(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags", json={"models": "llama3"})

    with pytest.raises(OllamaError, match=r"\(models is not a list\)"):
        list_models(BASE)


def test_list_models_names_a_field_of_the_wrong_type(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags", json={"models": [{"name": "a"}, {"name": "b", "size": "1"}]})

    with pytest.raises(OllamaError, match=r"models\[1\]\.size is not a whole number"):
        list_models(BASE)


def test_list_models_requires_a_model_name(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags", json={"models": [{"size": 1}]})

    with pytest.raises(OllamaError, match=r"models\[0\]\.name is missing"):
        list_models(BASE)


def test_list_models_says_a_404_page_is_not_ollama(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags", body="Not Found", status=404)

    with pytest.raises(OllamaError, match="does not look like an Ollama server") as caught:
        list_models(BASE)
    assert (caught.value.kind, caught.value.status_code) == ("not_found", 404)


def test_list_models_quotes_a_server_error(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags", json={"error": "out of memory"}, status=500)

    with pytest.raises(OllamaError,
                       match='failed \\(500\\). Ollama said: "out of memory"') as caught:
        list_models(BASE)
    assert caught.value.kind == "server_error"


def test_list_models_times_out_on_a_slow_server(fake_server: FakeServer) -> None:
    fake_server.delay = 2.0

    with pytest.raises(ProviderError, match="did not answer within 0.2 s") as caught:
        list_models(fake_server.url, timeout=0.2)
    assert caught.value.kind == "timeout"


def test_list_models_reports_an_unreachable_server() -> None:
    with pytest.raises(ProviderError, match="Can't reach the server") as caught:
        list_models(unused_url(), timeout=2)
    assert caught.value.kind == "unreachable"


def test_list_models_refuses_a_body_over_the_cap(fake_server: FakeServer) -> None:
    fake_server.respond("/api/tags", 200, b" " * (http.MAX_BODY_BYTES + 1))

    with pytest.raises(ProviderError, match="sent more than 4 MB") as caught:
        list_models(fake_server.url)
    assert caught.value.kind == "invalid_response"


@pytest.mark.parametrize("base_url", ["", "localhost:11434", "ftp://host"])
def test_a_base_url_without_http_is_rejected(base_url: str) -> None:
    with pytest.raises(ValidationError, match="must start with http") as caught:
        list_models(base_url)
    assert set(caught.value.field_errors) == {"baseUrl"}


# -- model names ---------------------------------------------------------------------

@pytest.mark.parametrize("name, problem", [
    ("", "Enter a model name"),
    ("   ", "Enter a model name"),
    ("llama 3", "can't contain spaces"),
    ("llama3\x00", "control characters"),
    ("x" * 501, "at most 500 characters"),
])
def test_a_bad_model_name_is_rejected_before_any_request(
        fake_server: FakeServer, name: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as caught:
        delete_model(fake_server.url, name)
    assert set(caught.value.field_errors) == {"name"}
    assert fake_server.requests == []


def test_a_pull_with_a_bad_name_fails_when_called_not_when_iterated(
        fake_server: FakeServer) -> None:
    with pytest.raises(ValidationError, match="can't contain spaces"):
        pull_model(fake_server.url, "llama 3")
    assert fake_server.requests == []


def test_spaces_around_a_model_name_are_dropped(fake_server: FakeServer) -> None:
    delete_model(fake_server.url, "  llama3.2:1b \n")

    assert fake_server.requests_to("/api/delete")[0].json() == {"model": "llama3.2:1b"}


# -- pull_model ----------------------------------------------------------------------

def test_pull_yields_typed_progress_until_success(fake_server: FakeServer) -> None:
    steps = list(pull_model(fake_server.url, "llama3.2:1b"))

    assert [s.status for s in steps] == [
        "pulling manifest", "pulling 74701a8c35f6", "pulling 74701a8c35f6",
        "pulling 74701a8c35f6", "verifying sha256 digest", "writing manifest", "success"]
    assert steps[2] == PullProgress("pulling 74701a8c35f6", "sha256:74701a8c35f6", 1000, 500)


def test_pull_posts_the_model_name(fake_server: FakeServer) -> None:
    list(pull_model(fake_server.url, "llama3.2:1b"))

    [sent] = fake_server.requests_to("/api/pull")
    assert (sent.method, sent.json()) == ("POST", {"model": "llama3.2:1b"})


def test_pull_joins_lines_split_across_chunks(fake_server: FakeServer) -> None:
    fake_server.pull_split = True

    steps = list(pull_model(fake_server.url, "llama3.2:1b"))

    assert [s.completed for s in steps] == [None, 0, 500, 1000, None, None, None]


def test_pull_reads_several_lines_from_one_chunk(fake_server: FakeServer) -> None:
    fake_server.pull_chunks = [ndjson([{"status": "pulling manifest"}, {"status": "success"}])]

    assert [s.status for s in pull_model(fake_server.url, "tiny")] == [
        "pulling manifest", "success"]


def test_pull_reads_a_last_line_without_a_newline(fake_server: FakeServer) -> None:
    fake_server.pull_chunks = [b'{"status": "pulling manifest"}\n{"status": "succ', b'ess"}']

    assert [s.status for s in pull_model(fake_server.url, "tiny")][-1] == "success"


def test_pull_raises_the_servers_error_line(fake_server: FakeServer) -> None:
    fake_server.pull_events = [{"status": "pulling manifest"},
                               {"error": "pull model manifest: file does not exist"}]
    pull = pull_model(fake_server.url, "no-such-model")

    assert next(pull).status == "pulling manifest"
    with pytest.raises(OllamaError, match='could not pull "no-such-model": pull model manifest: '
                                          "file does not exist. Check the name") as caught:
        next(pull)
    assert caught.value.kind == "server_error"


def test_pull_that_ends_without_success_is_an_error(fake_server: FakeServer) -> None:
    fake_server.pull_events = [{"status": "pulling manifest"}]

    with pytest.raises(OllamaError, match="ended the pull .* before it finished"):
        list(pull_model(fake_server.url, "tiny"))


def test_pull_refuses_a_line_longer_than_the_cap(
        fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ollama, "MAX_LINE_BYTES", 100)
    fake_server.pull_chunks = [b'{"status": "' + b"x" * 80, b"x" * 80]

    with pytest.raises(OllamaError, match="progress line longer than") as caught:
        list(pull_model(fake_server.url, "tiny"))
    assert caught.value.kind == "invalid_response"


def test_pull_refuses_a_line_that_is_not_json(fake_server: FakeServer) -> None:
    fake_server.pull_chunks = [b"<html>\n"]

    with pytest.raises(OllamaError, match="a progress line is not JSON") as caught:
        list(pull_model(fake_server.url, "tiny"))
    assert caught.value.kind == "invalid_response"


def test_closing_a_pull_closes_the_connection(fake_server: FakeServer) -> None:
    fake_server.pull_endless = True
    # Holding the response proves that close() closes it, not the garbage collector.
    held: list[requests.Response] = []
    with requests.Session() as session:
        session.hooks["response"].append(lambda response, *args, **kwargs: held.append(response))
        pull = pull_model(fake_server.url, "llama3.2:1b", session=session)
        next(pull)
        pull.close()

        assert fake_server.stream_aborted.wait(5)
        assert not fake_server.stream_finished.is_set()


def test_pull_times_out_when_the_stream_goes_silent(fake_server: FakeServer) -> None:
    fake_server.pull_delay = 2.0
    pull = pull_model(fake_server.url, "llama3.2:1b", timeout=0.2)

    next(pull)
    with pytest.raises(ProviderError, match="stopped sending") as caught:
        next(pull)
    assert caught.value.kind == "timeout"


class Reader:
    """Takes the next step of a pull on a thread of its own, as the screen does."""

    def __init__(self, pull: ollama.Pull) -> None:
        self.raised: BaseException | None = None
        self._thread = threading.Thread(target=self._next, args=(pull,), daemon=True)
        self._thread.start()

    def _next(self, pull: ollama.Pull) -> None:
        try:
            next(pull)
        except BaseException as error:  # whatever it is, the test looks at it
            self.raised = error

    def ended_within(self, seconds: float) -> bool:
        self._thread.join(seconds)
        return not self._thread.is_alive()


@pytest.fixture
def silent_pull(fake_server: FakeServer) -> FakeServer:
    """A server that sends the first progress line, then says nothing for 8 s before
    "success" (Ollama verifying a layer), and would then have the model."""
    fake_server.pull_events = [{"status": "pulling manifest"}, {"status": "success"}]
    fake_server.pull_delay = 8.0
    return fake_server


def test_cancel_closes_a_silent_pull_at_once(silent_pull: FakeServer) -> None:
    """Cancel once waited for the next progress line: a server silent for 3 s
    finished the pull, and the model appeared after Refresh."""
    pull = pull_model(silent_pull.url, "phi3")
    assert next(pull).status == "pulling manifest"
    reader = Reader(pull)  # waiting in the silence

    pull.cancel()

    assert silent_pull.stream_aborted.wait(4), "the server saw the connection closed"
    assert reader.ended_within(4)
    assert isinstance(reader.raised, OllamaError) and reader.raised.kind == "cancelled"
    assert 'The pull of "phi3" was cancelled' in str(reader.raised)
    assert not silent_pull.stream_finished.is_set()
    assert "phi3" not in [model["name"] for model in silent_pull.ollama_models]


def test_a_pull_cancelled_before_it_starts_sends_nothing(fake_server: FakeServer) -> None:
    pull = pull_model(fake_server.url, "phi3")
    pull.cancel()

    with pytest.raises(OllamaError, match="was cancelled") as caught:
        next(pull)
    assert caught.value.kind == "cancelled"
    assert fake_server.requests_to("/api/pull") == []


def test_cancel_closes_a_pull_still_waiting_for_its_answer(fake_server: FakeServer) -> None:
    fake_server.delay = 8.0  # the request arrives; the answer's headers don't
    pull = pull_model(fake_server.url, "phi3")
    reader = Reader(pull)
    assert fake_server.wait_for_requests(1)

    pull.cancel()

    assert reader.ended_within(4)
    assert isinstance(reader.raised, OllamaError) and reader.raised.kind == "cancelled"


def test_a_pull_cancelled_after_success_is_a_success(fake_server: FakeServer) -> None:
    """The model is on the server once Ollama said "success": a late cancel can't undo it."""
    pull = pull_model(fake_server.url, "phi3")
    steps = [next(pull) for _ in range(len(fakes.DEFAULT_PULL_EVENTS))]
    assert steps[-1].status == "success"

    pull.cancel()

    assert list(pull) == []


def test_the_service_records_no_pull_that_was_cancelled(
        service: ConnectionService, silent_pull: FakeServer) -> None:
    local = service.create("ollama", "Local", {"baseUrl": silent_pull.url})
    pull = service.pull_model(local.id, "phi3")  # the contract: id, name, timeout=
    assert next(pull).status == "pulling manifest"
    reader = Reader(pull)

    pull.cancel()

    assert silent_pull.stream_aborted.wait(4) and reader.ended_within(4)
    assert isinstance(reader.raised, OllamaError) and reader.raised.kind == "cancelled"
    assert "ollama.model_pulled" not in [entry.action for entry in service.audit()]


def test_pull_of_a_model_the_server_can_not_find_is_not_found(
        mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BASE}/api/pull", json={"error": "model not found"}, status=404)

    with pytest.raises(NotFoundError, match='could not find "ghost" to pull') as caught:
        next(pull_model(BASE, "ghost"))
    assert caught.value.record_id == "ghost"


def test_pull_quotes_an_error_status(mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BASE}/api/pull", json={"error": "invalid model name"}, status=400)

    with pytest.raises(OllamaError, match='refused the request \\(400\\). Ollama said: '
                                          '"invalid model name"'):
        next(pull_model(BASE, "llama3.2:1b"))


def test_progress_fraction_is_completed_over_total() -> None:
    assert PullProgress("pulling", total=1000, completed=250).fraction == 0.25


def test_progress_fraction_is_unknown_without_a_total() -> None:
    assert PullProgress("pulling manifest").fraction is None


# -- delete_model --------------------------------------------------------------------

def test_delete_removes_the_model_from_the_server(fake_server: FakeServer) -> None:
    delete_model(fake_server.url, "llama3.2:1b")

    assert [m.name for m in list_models(fake_server.url)] == ["qwen2.5:0.5b"]
    assert fake_server.requests_to("/api/delete")[0].json() == {"model": "llama3.2:1b"}


def test_delete_of_a_missing_model_is_not_found(fake_server: FakeServer) -> None:
    with pytest.raises(NotFoundError, match='The model "ghost" is not on the Ollama server at '
                                            f"{fake_server.url}") as caught:
        delete_model(fake_server.url, "ghost")
    assert caught.value.record_id == "ghost"


def test_delete_at_an_address_that_is_not_ollama_says_so(mocked: responses.RequestsMock) -> None:
    mocked.delete(f"{BASE}/api/delete", body="<h1>404</h1>", status=404)

    with pytest.raises(OllamaError, match="does not look like an Ollama server"):
        delete_model(BASE, "llama3.2:1b")


# -- show_model ----------------------------------------------------------------------

def test_show_parses_the_models_description(fake_server: FakeServer) -> None:
    info = show_model(fake_server.url, "llama3.2:1b")

    assert (info.name, info.details.family, info.capabilities) == (
        "llama3.2:1b", "llama", ("completion",))
    assert (info.parameters, info.template) == ('stop "<|eot_id|>"', "{{ .Prompt }}")
    assert info.license.startswith("LLAMA 3.2")
    assert info.model_info["general.parameter_count"] == 1_235_814_432
    assert info.modified_at is not None and info.modified_at.year == 2025


def test_show_posts_the_model_name(fake_server: FakeServer) -> None:
    show_model(fake_server.url, "llama3.2:1b")

    [sent] = fake_server.requests_to("/api/show")
    assert (sent.method, sent.json()) == ("POST", {"model": "llama3.2:1b"})


def test_show_of_a_missing_model_is_not_found(fake_server: FakeServer) -> None:
    with pytest.raises(NotFoundError, match='"ghost" is not on the Ollama server'):
        show_model(fake_server.url, "ghost")


def test_show_rejects_model_info_that_is_not_an_object(fake_server: FakeServer) -> None:
    fake_server.show_extra["llama3.2:1b"] = {"model_info": ["general.architecture"]}

    with pytest.raises(OllamaError, match="model_info is not an object"):
        show_model(fake_server.url, "llama3.2:1b")


# -- list_running and version --------------------------------------------------------

def test_list_running_parses_memory_use_and_expiry(fake_server: FakeServer) -> None:
    fake_server.running_models = [running_model("llama3.2:1b", size=2000, size_vram=1500)]

    [running] = list_running(fake_server.url)

    assert (running.name, running.size, running.size_vram) == ("llama3.2:1b", 2000, 1500)
    assert running.expires_at == datetime(2025, 1, 15, 10, 25, 30, 500000,
                                          tzinfo=timezone(timedelta(hours=1)))


def test_list_running_with_nothing_loaded_is_empty(fake_server: FakeServer) -> None:
    assert list_running(fake_server.url) == []


def test_version_is_the_servers_version(fake_server: FakeServer) -> None:
    fake_server.ollama_version = "0.6.2"

    assert version(fake_server.url) == "0.6.2"


def test_version_without_a_version_field_is_invalid(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/version", json={"name": "something else"})

    with pytest.raises(OllamaError, match="version is missing") as caught:
        version(BASE)
    assert caught.value.kind == "invalid_response"


# -- format_bytes ----------------------------------------------------------------------

@pytest.mark.parametrize("size, text", [
    (0, "0 B"),
    (999, "999 B"),
    (1000, "1 KB"),
    (1500, "1.5 KB"),
    (999_999, "1 MB"),
    (500_000_000, "500 MB"),
    (4_109_853_696, "4.1 GB"),
    (3 * 1000 ** 4, "3 TB"),
])
def test_format_bytes_uses_decimal_units_like_ollama(size: int, text: str) -> None:
    """Ollama's CLI (format.HumanBytes) counts 1 KB as 1000 bytes."""
    assert format_bytes(size) == text


@pytest.mark.parametrize("size", [None, -1])
def test_format_bytes_of_no_size_is_unknown(size: int | None) -> None:
    assert format_bytes(size) == "unknown"


# -- deadlines, odd answers and odd base URLs ----------------------------------------

def test_list_models_is_cut_off_when_the_answer_trickles(trickle_server: Trickle) -> None:
    server = trickle_server(trickle_body())
    started = time.monotonic()

    with pytest.raises(ProviderError, match="took longer than 1 s") as caught:
        list_models(server.url, timeout=1)

    assert time.monotonic() - started < 5
    assert caught.value.kind == "timeout"


def test_pull_fails_when_no_whole_progress_line_arrives_in_time(
        trickle_server: Trickle) -> None:
    """A server that sends one byte every half second without ever ending a line
    once kept a pull going for as long as it liked."""
    server = trickle_server(trickle_progress())
    pull = pull_model(server.url, "llama3.2:1b", timeout=1)
    assert next(pull).status == "pulling manifest"
    started = time.monotonic()

    with pytest.raises(ProviderError, match='stopped sending progress for "llama3.2:1b": no '
                                            "progress line for 1 s") as caught:
        next(pull)

    assert time.monotonic() - started < 5
    assert caught.value.kind == "timeout"
    assert server.hung_up.wait(5)


@pytest.mark.parametrize("suffix", ["/admin/users?", "/admin/users?x=1", "/api#", "#"])
def test_a_base_url_with_a_query_or_fragment_is_refused_before_any_request(
        fake_server: FakeServer, suffix: str) -> None:
    """``http://host/admin/users?`` turned every call into a request to that path."""
    with pytest.raises(ValidationError, match="must not contain a query") as caught:
        list_models(fake_server.url + suffix)
    assert set(caught.value.field_errors) == {"baseUrl"}
    assert fake_server.requests == []


@pytest.mark.parametrize("base_url", ["http://169.254.169.254", "http://2852039166:11434",
                                      "http://[fe80::1]:11434"])
def test_a_base_url_at_a_metadata_address_is_refused(base_url: str) -> None:
    with pytest.raises(ValidationError, match="link-local or cloud metadata address"):
        list_models(base_url, timeout=1)


@pytest.mark.parametrize("status", [200, 500])
def test_json_nested_too_deeply_is_an_ollama_error(mocked: responses.RequestsMock,
                                                   status: int) -> None:
    mocked.get(f"{BASE}/api/tags", body="[" * 100_000 + "]" * 100_000, status=status)

    with pytest.raises(OllamaError):
        list_models(BASE)


# -- text from the server ------------------------------------------------------------

def test_list_models_makes_every_text_encodable(mocked: responses.RequestsMock) -> None:
    """A lone surrogate ("\\ud800") in a model name once failed when the names were stored."""
    mocked.get(f"{BASE}/api/tags", body=b'{"models": [{"name": "llama\\ud800:1b", '
                                        b'"details": {"family": "ll\\udfffama\\u001b[2J", '
                                        b'"families": ["\\ud800"]}}]}')

    [model] = list_models(BASE)

    assert model.name == "llama\ufffd:1b"
    assert model.details.family == "ll\ufffdama [2J"
    assert model.details.families == ("\ufffd",)


def test_a_model_name_longer_than_a_name_can_be_is_cut(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags", json={"models": [{"name": "x" * 100_000}]})

    [model] = list_models(BASE)

    assert len(model.name) == ollama.MAX_NAME_LENGTH and model.name.endswith("…")


def test_show_and_version_make_their_text_encodable(mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BASE}/api/show", body=b'{"license": "MIT\\ud800\\nline 2", '
                                         b'"model_info": {"k\\ud800": ["\\udc00"]}}')
    mocked.get(f"{BASE}/api/version", body=b'{"version": "0.5\\ud800"}')

    info = show_model(BASE, "llama3.2:1b")

    assert info.license == "MIT\ufffd\nline 2"
    assert info.model_info == {"k\ufffd": ["\ufffd"]}
    assert version(BASE) == "0.5\ufffd"


def test_the_servers_error_text_is_made_encodable(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/api/tags", body=b'{"error": "disk \\ud800 full"}', status=500)

    with pytest.raises(OllamaError, match='Ollama said: "disk \ufffd full"') as caught:
        list_models(BASE)
    str(caught.value).encode("utf-8")


def test_a_pull_error_line_is_made_encodable(fake_server: FakeServer) -> None:
    fake_server.pull_chunks = [b'{"status": "pulling\\ud800"}\n{"error": "no \\udfff way"}\n']
    pull = pull_model(fake_server.url, "tiny")

    assert next(pull).status == "pulling\ufffd"
    with pytest.raises(OllamaError, match="no \ufffd way"):
        next(pull)
