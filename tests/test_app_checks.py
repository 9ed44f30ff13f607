"""Checks on the Connections screen: they run off the script thread, a dialog's passed
Test is saved with the connection, one status vocabulary, and the models a check found."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_support import (
    APP,
    add,
    assert_clean,
    card,
    field,
    open_app,
    plain,
    press_test,
    rendered,
    run_checks,
    service,
    texts,
    wait_for_checks,
    wait_for_test_all_results,
)
from tests.fakes import API_KEY, FakeServer, unused_url
from ui.checks import CHECKS, TEST_ALL_RESULTS
from ui.widgets import STATUS_STYLES

OTHER_KEY = "sk-fake-another-key-4321LMNO"
#: A time as the screens write it, to the second, with its zone's abbreviation.
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


@pytest.fixture
def slow_server() -> Iterator[FakeServer]:
    server = FakeServer()
    server.delay = 1.5
    yield server
    server.close()



def results(at: AppTest) -> list[tuple[str, str, str, str]]:
    """Test all's table as a person reads it: (name, status, latency, message) a row."""
    [table] = at.table
    frame = table.value
    return [tuple(re.sub(r"^:\w+-badge\[(.*)\]$", r"\1", plain(frame[column].iloc[row]))
                  for column in ("Name", "Status", "Latency", "Message"))  # type: ignore[misc]
            for row in range(len(frame))]


def when_it_ran(at: AppTest) -> str:
    [caption] = [plain(c.value) for c in at.caption if plain(c.value).startswith("Started ")]
    return caption


def open_in(zone: str) -> AppTest:
    """The app, as a browser in time zone ``zone`` opens it."""
    at = AppTest.from_file(APP, default_timeout=15)
    at.secrets["APP_TEST"] = "1"
    at.context = {"timezone": zone}
    return at.run()


def open_add(at: AppTest) -> AppTest:
    at.button(key="conn_add_first").click().run()
    at.selectbox(key="conn_form_type").select("openai").run()
    field(at, "Name").set_value("Work")
    field(at, "API key").set_value(API_KEY)
    return at


# -- 1. a check that was started is shown, whatever is clicked meanwhile --------------------

def test_testing_another_card_does_not_lose_a_running_check(
        data_dir: Any, fake_server: FakeServer, slow_server: FakeServer) -> None:
    """Pressing Test on B while A's slow check ran once dropped A's toast and status."""
    slow = add("openai", "Slow", apiKey=API_KEY, baseUrl=slow_server.openai_url)
    quick = add("openai", "Quick", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_app()

    at.button(key=f"conn_test_{slow.id}").click().run()
    assert "Checking now…" in card(at, slow)
    assert at.button(key=f"conn_test_{slow.id}").disabled, "no second check of the same one"
    toasts = run_checks(at, f"conn_test_{quick.id}")

    assert any(t.startswith("**Slow**: connected (") for t in toasts)
    assert any(t.startswith("**Quick**: connected (") for t in toasts)
    for connection in (slow, quick):
        assert ":green-badge[Connected]" in card(at, connection)
        assert "Checked just now" in card(at, connection)
    assert at.session_state[CHECKS] == {}
    assert len(slow_server.requests_to("/v1/models")) == 1, "checked once"
    assert_clean(at)


def test_a_check_of_a_connection_deleted_meanwhile_still_ends_with_a_toast(
        data_dir: Any, slow_server: FakeServer) -> None:
    slow = add("openai", "Slow", apiKey=API_KEY, baseUrl=slow_server.openai_url)
    at = open_app()
    at.button(key=f"conn_test_{slow.id}").click().run()
    service().delete(slow.id)

    toasts = _finish(at)

    assert any(t.startswith("**Slow**: ") for t in toasts)
    assert_clean(at)


def _finish(at: AppTest) -> list[str]:
    wait_for_checks(at)
    return [plain(t.value) for t in at.run().toast]


# -- a second Test all follows the one under way ---------------------------------------------

def test_test_all_in_another_session_follows_the_one_under_way(
        data_dir: Any, fake_server: FakeServer) -> None:
    """Twenty sessions pressing Test all in one workspace ran twenty Test alls of the
    same connections, with twenty times the requests at the provider."""
    for n in range(3):
        add("openai", f"c{n}", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    fake_server.hold()
    fake_server.release()  # the first request to arrive is answered at once
    mine, theirs = open_app(), open_app()
    mine.button(key="conn_test_all").click().run()
    wait_for_test_all_results(mine, 1)  # the two other checks are held at the provider

    theirs.button(key="conn_test_all").click().run()

    [progress] = theirs.get("progress")
    assert progress.text == "Testing 3 connections: 1 done…", "the run under way, so far"
    fake_server.release(2)
    for at in (mine, theirs):
        wait_for_checks(at)
        assert [plain(t.value) for t in at.run().toast] == [
            "Tested 3 connections: 3 connected."]
        assert len(at.session_state[TEST_ALL_RESULTS].results) == 3
        assert_clean(at)
    assert len(fake_server.requests_to("/v1/models")) == 3, "each connection checked once"
    runs = service().audit(action="connections.tested_all")
    assert [dict(run.details) for run in runs] == [{"count": 3, "failed": 0}]


# -- 5. a Test that passed in the dialog is the saved connection's status -------------------

def test_a_passed_test_in_the_add_dialog_is_saved_as_connected(data_dir: Any,
                                                               fake_server: FakeServer) -> None:
    at = open_add(open_app())
    field(at, "Base URL").set_value(fake_server.openai_url)
    press_test(at)
    assert "Connected to OpenAI" in at.success[0].value

    at.button(key="conn_form_save").click().run()

    [saved] = service().list()
    assert saved.status == "connected" and saved.last_checked_at is not None
    text = card(at, saved)
    assert ":green-badge[Connected]" in text
    assert "Checked just now" in text and "3 models available" in text
    assert len(fake_server.requests_to("/v1/models")) == 1, "Save did not check again"
    assert API_KEY not in str(at.session_state.to_dict())
    assert_clean(at)


def test_a_key_changed_after_the_test_is_saved_as_not_checked(data_dir: Any,
                                                              fake_server: FakeServer) -> None:
    at = open_add(open_app())
    field(at, "Base URL").set_value(fake_server.openai_url)
    press_test(at)
    field(at, "API key").set_value(OTHER_KEY)
    at.run()
    assert not at.success, "the result of another key is no longer shown"

    at.button(key="conn_form_save").click().run()

    [saved] = service().list()
    assert (saved.status, saved.last_result) == ("unconfigured", None)
    assert "Not checked" in card(at, saved) and "Not checked yet." in card(at, saved)


def test_a_passed_test_in_the_edit_dialog_is_saved_with_the_edit(
        data_dir: Any, fake_server: FakeServer) -> None:
    work = add("openai", "Work", apiKey=OTHER_KEY, baseUrl=fake_server.openai_url)
    at = open_app()
    at.button(key=f"conn_edit_{work.id}").click().run()
    field(at, "API key").set_value(API_KEY)
    press_test(at)
    at.button(key="conn_form_save").click().run()

    saved = service().get(work.id)
    assert saved.status == "connected" and saved.version == work.version + 1
    assert service().resolve_config("openai", work.id)["apiKey"] == API_KEY


# -- 9. one vocabulary -------------------------------------------------------------------------

def test_test_all_uses_the_cards_status_words(data_dir: Any, fake_server: FakeServer) -> None:
    work = add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    gone = add("ollama", "Gone", baseUrl=unused_url())
    at = open_app()

    toasts = run_checks(at, "conn_test_all")

    labels = {label for label, _ in STATUS_STYLES.values()}
    table = results(at)
    assert {status for _, status, _, _ in table} == {"Connected", "Error"} <= labels
    assert "Error" in card(at, gone) and "Connected" in card(at, work)
    assert toasts == ["Tested 2 connections: 1 connected, 1 error."]
    page = texts(at) + "\n".join(toasts) + str(table)
    assert "Failed" not in page and "failed" not in page and "Unconfigured" not in page


# -- Test all's results: when, row by row, current names, whole messages --------------------

def test_test_all_says_when_it_ran_in_the_browsers_time_zone(data_dir: Any,
                                                            fake_server: FakeServer) -> None:
    """Its table said nothing of when it ran: a table from this morning read as now."""
    add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_in("Europe/Berlin")

    run_checks(at, "conn_test_all")

    assert re.fullmatch(rf"Started just now \({WHEN} CES?T\) and finished \S+ m?s later "
                        rf"\(\d\d:\d\d:\d\d CES?T\)\.", when_it_ran(at)), when_it_ran(at)
    elsewhere = open_app()
    run_checks(elsewhere, "conn_test_all")
    assert re.fullmatch(rf"Started just now \({WHEN} UTC\) and finished .*\(.* UTC\)\.",
                        when_it_ran(elsewhere)), "no zone from the browser: UTC, said"


def test_a_new_test_all_lists_the_current_connections_each_checking_until_its_result(
        data_dir: Any, fake_server: FakeServer) -> None:
    """A second run showed the first run's rows, under old names, deleted ones included,
    until it ended."""
    first = add("openai", "First", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    gone = add("openai", "Gone", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_app()
    run_checks(at, "conn_test_all")
    assert [name for name, *_ in results(at)] == ["First", "Gone"]  # the cards' order
    service().update(first.id, first.version, name="First, renamed")
    service().delete(gone.id)
    add("openai", "New", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    fake_server.hold()

    at.run().button(key="conn_test_all").click().run()

    assert results(at) == [("First, renamed", "Checking…", "", ""), ("New", "Checking…", "", "")]
    fake_server.release()
    wait_for_test_all_results(at, 1)
    assert sorted(status for _, status, _, _ in results(at.run())) == ["Checking…", "Connected"]
    fake_server.release()
    wait_for_checks(at)
    assert [(name, status) for name, status, _, _ in results(at.run())] == [
        ("First, renamed", "Connected"), ("New", "Connected")]
    assert_clean(at)


def test_the_results_drop_a_deleted_connection_and_follow_a_rename(
        data_dir: Any, fake_server: FakeServer) -> None:
    work = add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    gone = add("openai", "Gone", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_app()
    run_checks(at, "conn_test_all")

    service().delete(gone.id)
    service().update(work.id, work.version, name="Work, renamed")

    assert [name for name, *_ in results(at.run())] == ["Work, renamed"]


def test_a_long_message_is_in_the_results_whole(data_dir: Any, fake_server: FakeServer) -> None:
    """The Message column was cut at its width, exactly where the error said what to do."""
    fake_server.respond("/v1/models", 400,
                        {"error": {"message": "Your organisation must verify " + "x " * 120}})
    work = add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_app()

    run_checks(at, "conn_test_all")

    message = service().get(work.id).last_result.message  # type: ignore[union-attr]
    assert len(message) > 250
    assert results(at) == [("Work", "Error", results(at)[0][2], message)]
    assert not at.dataframe, "a static table, whose cells wrap, not a grid that cuts them"


def test_test_alls_toast_counts_in_plurals(data_dir: Any, fake_server: FakeServer) -> None:
    add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    for name in ("Gone", "Away"):
        add("ollama", name, baseUrl=unused_url())
    at = open_app()

    assert run_checks(at, "conn_test_all") == ["Tested 3 connections: 1 connected, 2 errors."]


def test_a_latency_over_a_second_reads_in_seconds(data_dir: Any,
                                                  slow_server: FakeServer) -> None:
    """"1503 ms" on the card, the toast, Test all's table and Activity: now "1.5 s"."""
    slow = add("openai", "Slow", apiKey=API_KEY, baseUrl=slow_server.openai_url)
    at = open_app()

    toasts = run_checks(at, f"conn_test_{slow.id}")

    assert any(re.fullmatch(r"\*\*Slow\*\*: connected \(1\.\d s\)\.", t) for t in toasts), toasts
    assert re.search(r"Checked just now · 1\.\d s", card(at, slow)), card(at, slow)
    run_checks(at, "conn_test_all")
    [(_, _, latency, _)] = results(at)
    assert re.fullmatch(r"1\.\d s", latency), latency
    at.switch_page("app_pages/activity.py").run()
    details = list(at.dataframe[0].value["Details"])
    assert any(re.fullmatch(r"kind: ok · 1\.\d s", d) for d in details), details


def test_a_connection_never_checked_is_labelled_not_checked(data_dir: Any) -> None:
    add("ollama", "Local", baseUrl="http://localhost:11434")
    at = open_app()
    assert "Not checked" in [plain(b) for b in at.pills(key="conn_filter_status").options]
    assert "Unconfigured" not in rendered(at)


# -- 14. the models a check found -------------------------------------------------------------

def test_a_card_lists_the_model_ids_the_server_offered(data_dir: Any,
                                                        fake_server: FakeServer) -> None:
    fake_server.openai_models = ["gpt-4o", "[click](https://evil.example)", "<b>bold</b>"]
    work = add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    service().test(work.id)
    at = open_app()
    models = f"conn_models_{work.id}"
    assert "3 models" in rendered(at)
    assert "gpt-4o" not in [m.value for m in at.markdown], "drawn only when opened"

    at.session_state[models] = True
    at.run()

    [listing] = [m.value for m in at.markdown if m.value.startswith("- ")]
    assert [plain(line).removeprefix("- ") for line in listing.splitlines()] == [
        "gpt-4o", "[click](https://evil.example)", "<b>bold</b>"]
    assert "](" not in listing and "<b>" not in listing, "server text is escaped"
    assert_clean(at)


def test_a_card_with_a_failed_check_offers_no_models(data_dir: Any) -> None:
    gone = add("ollama", "Gone", baseUrl=unused_url())
    service().test(gone.id)
    at = open_app()
    assert f"conn_models_{gone.id}" not in rendered(at)


def test_a_check_that_ends_on_another_screen_is_told_there(
        data_dir: Any, slow_server: FakeServer) -> None:
    """Moving to another screen mid-check: its toast appears on that screen."""
    slow = add("openai", "Slow", apiKey=API_KEY, baseUrl=slow_server.openai_url)
    at = open_app()
    at.button(key=f"conn_test_{slow.id}").click().run()

    at.switch_page("app_pages/activity.py").run()
    wait_for_checks(at)
    at.run()  # what the watcher in the sidebar does when it sees the check ended

    assert any(plain(t.value).startswith("**Slow**: connected (") for t in at.toast)
    assert at.session_state[CHECKS] == {}
    assert service().get(slow.id).status == "connected"
    assert_clean(at)
