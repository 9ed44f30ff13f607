"""Checks share one bounded pool per process, and a workspace runs one Test all at a time.

The provider is a real server on 127.0.0.1 that holds every request until the
test lets it go, so how many requests are in flight at once is seen, not
guessed from timings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from connections_core import ConnectionService, KeyRing, TinyDBStore, ValidationError
from tests.fakes import API_KEY, FakeServer

BOUND = 4


@pytest.fixture
def bound(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("CONNECTIONS_MAX_CHECKS", str(BOUND))
    return BOUND


def person(data_path: Path, keyring: KeyRing, workspace: str = "default") -> ConnectionService:
    """A service of its own on the data file, as the dashboard builds one per person."""
    return ConnectionService(TinyDBStore(data_path), keyring, workspace, timeout=20)


def add_openai(service: ConnectionService, server: FakeServer, name: str) -> str:
    return service.create("openai", name, {"apiKey": API_KEY, "baseUrl": server.openai_url}).id


@dataclass
class Load:
    requests: int  # sent to the provider in all
    pressers: int  # the threads that pressed the buttons
    added_threads: int  # the most threads alive at once, beyond those before it


def press_everything(data_path: Path, keyring: KeyRing, server: FakeServer) -> Load:
    """Six workspaces' Test all (five connections each), three Tests and two draft
    Tests, each pressed on a thread of its own; the provider answers one request at
    a time, each after as many as can be in flight are."""
    teams = [person(data_path, keyring, f"team-{n}") for n in range(6)]
    ids = [[add_openai(team, server, f"c{n}") for n in range(5)] for team in teams]
    draft = {"apiKey": API_KEY, "baseUrl": server.openai_url}
    presses: list[Callable[[], object]] = [team.test_all for team in teams]
    presses += [partial(teams[0].test, id) for id in ids[0][:3]]
    presses += [partial(teams[1].test_draft, "openai", draft) for _ in range(2)]
    total = 6 * 5 + 3 + 2
    failures: list[BaseException] = []

    def press(action: Callable[[], object]) -> None:
        try:
            action()
        except BaseException as error:  # reported below
            failures.append(error)

    before = threading.active_count()
    server.hold()
    pressers = [threading.Thread(target=press, args=(action,)) for action in presses]
    for thread in pressers:
        thread.start()
    most = before
    for answered in range(total):
        assert server.wait_for_in_flight(min(BOUND, total - answered)), "checks stopped coming"
        most = max(most, threading.active_count())
        server.release()
        assert server.wait_for_answered(answered + 1)
    for thread in pressers:
        thread.join(timeout=20)
    assert failures == []
    return Load(total, len(pressers), most - before)


# -- one bound per process -----------------------------------------------------------------------

def test_checks_in_flight_never_exceed_the_bound(data_path: Path, keyring: KeyRing,
                                                 fake_server: FakeServer, bound: int) -> None:
    """Each Test all had a pool of 32 of its own: twenty sessions put 640 requests
    with one key at the provider at once."""
    load = press_everything(data_path, keyring, fake_server)
    assert len(fake_server.requests_to("/v1/models")) == load.requests
    assert fake_server.peak_in_flight == bound


def test_threads_stay_bounded_whatever_is_pressed(data_path: Path, keyring: KeyRing,
                                                  fake_server: FakeServer, bound: int) -> None:
    """Twenty sessions' Test all took the app from 15 threads to 1,336."""
    load = press_everything(data_path, keyring, fake_server)
    # Per check in flight: the pool's thread, its deadline's watchdog, and the
    # server's handler (the server runs in this process); as many again may be
    # ending.
    assert load.added_threads <= load.pressers + 2 * 3 * bound


def test_a_single_test_takes_its_turn_before_the_rest_of_a_test_all(
        data_path: Path, keyring: KeyRing, fake_server: FakeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A colleague's one Test waits for a free slot, not behind a whole workspace."""
    monkeypatch.setenv("CONNECTIONS_MAX_CHECKS", "2")
    team, colleague = person(data_path, keyring, "team"), person(data_path, keyring, "other")
    for n in range(10):
        add_openai(team, fake_server, f"c{n}")
    local = colleague.create("ollama", "Local", {"baseUrl": fake_server.url})
    fake_server.hold()
    run = team.start_test_all()
    assert fake_server.wait_for_in_flight(2)
    check = colleague.start_test(local.id)

    for answered in (1, 2):
        fake_server.release()
        assert fake_server.wait_for_answered(answered)
    assert fake_server.wait_for_requests(4)

    assert "/api/tags" in [request.route for request in fake_server.requests[:4]]
    fake_server.release(20)
    assert check.result(timeout=20).success
    assert run.wait(20) and len(run.arrived()) == 10


def test_max_checks_is_a_whole_number_of_one_or_more(tmp_path: Path, key: str) -> None:
    for value in ("0", "-1", "many", "2.5", "٣"):
        env = {"CONNECTIONS_DATA_DIR": str(tmp_path / "data"), "ENCRYPTION_KEY": key,
               "CONNECTIONS_MAX_CHECKS": value}
        with pytest.raises(ValidationError, match=r"CONNECTIONS_MAX_CHECKS: .* whole number, "
                                                  r"1 or more"):
            ConnectionService.from_env(environ=env)
        assert not (tmp_path / "data").exists(), "refused before anything was made"


# -- one Test all per workspace --------------------------------------------------------------------

def test_a_second_test_all_in_the_workspace_joins_the_running_one(
        data_path: Path, keyring: KeyRing, fake_server: FakeServer) -> None:
    """Twenty sessions pressing Test all in one workspace ran twenty Test alls of the
    same connections."""
    first, second = person(data_path, keyring), person(data_path, keyring)
    created = sorted(add_openai(first, fake_server, f"c{n}") for n in range(3))
    fake_server.hold()
    fake_server.release()  # the first request to arrive is answered at once
    mine = first.iter_test_all()
    already_in = next(mine)  # the two other checks are held at the provider

    theirs = second.iter_test_all()
    assert next(theirs) == already_in, "the result already in comes first"
    fake_server.release(2)
    rest_mine, rest_theirs = list(mine), list(theirs)

    assert rest_theirs == rest_mine
    assert sorted(c.id for c, _ in [already_in, *rest_mine]) == created
    assert len(fake_server.requests_to("/v1/models")) == 3, "each connection checked once"
    runs = first.audit(action="connections.tested_all")
    assert [dict(run.details) for run in runs] == [{"count": 3, "failed": 0}]


def test_a_run_goes_on_while_someone_still_follows_it(
        data_path: Path, keyring: KeyRing, fake_server: FakeServer) -> None:
    first, second = person(data_path, keyring), person(data_path, keyring)
    for n in range(3):
        add_openai(first, fake_server, f"c{n}")
    fake_server.hold()
    fake_server.release()
    mine = first.iter_test_all()
    next(mine)
    theirs = second.iter_test_all()
    next(theirs)

    mine.close()
    fake_server.release(2)

    assert len(list(theirs)) == 2
    assert {c.status for c in first.list()} == {"connected"}
    assert len(fake_server.requests_to("/v1/models")) == 3
    runs = first.audit(action="connections.tested_all")
    assert [dict(run.details) for run in runs] == [{"count": 3, "failed": 0}]


def test_workspaces_and_stores_each_have_their_own_run(
        tmp_path: Path, keyring: KeyRing, fake_server: FakeServer) -> None:
    here = person(tmp_path / "a" / "connections.json", keyring)
    there = person(tmp_path / "b" / "connections.json", keyring)
    elsewhere = person(tmp_path / "a" / "connections.json", keyring, "other")
    for service in (here, there, elsewhere):
        add_openai(service, fake_server, "Work")
    fake_server.hold()
    runs = [service.start_test_all() for service in (here, there, elsewhere)]
    assert fake_server.wait_for_in_flight(3)
    fake_server.release(3)
    assert all(run.wait(20) and len(run.arrived()) == 1 for run in runs)
