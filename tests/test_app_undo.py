"""Undo after a delete is drawn in the deleted card's place, where the person is looking."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from connections_core import Connection
from tests.app_support import add, assert_clean, open_app, service


def order(at: AppTest) -> list[str]:
    """The keys of the cards and of the Undo bar, top to bottom."""
    keys = [str(getattr(node, "key", None)) for node in at.main]
    return [key for key in keys if key.startswith(("conn_card_", "conn_undo_bar"))]


def delete(at: AppTest, connection: Connection) -> AppTest:
    at.button(key=f"conn_delete_{connection.id}").click().run()
    return at.button(key="conn_delete_confirm").click().run()


def test_undo_takes_the_deleted_cards_place(data_dir: Any) -> None:
    made = [add("ollama", f"Server {n}", baseUrl="http://localhost:11434") for n in range(5)]
    at = open_app()
    before = order(at)
    middle = before[2].removeprefix("conn_card_")

    delete(at, service().get(middle))

    assert order(at) == [*before[:2], "conn_undo_bar", *before[3:]]
    at.button(key="conn_undo_button").click().run()
    assert order(at) == before
    assert len(service().list()) == len(made)
    assert_clean(at)


def test_undo_of_the_last_card_comes_after_the_others(data_dir: Any) -> None:
    for n in range(3):
        add("ollama", f"Server {n}", baseUrl="http://localhost:11434")
    at = open_app()
    before = order(at)

    delete(at, service().get(before[-1].removeprefix("conn_card_")))

    assert order(at) == [*before[:-1], "conn_undo_bar"]


def test_undo_of_the_only_card_is_at_the_top(data_dir: Any) -> None:
    only = add("ollama", "Only", baseUrl="http://localhost:11434")
    at = delete(open_app(), only)

    assert order(at) == ["conn_undo_bar"]
    at.button(key="conn_undo_button").click().run()
    assert [c.id for c in service().list()] == [only.id]
