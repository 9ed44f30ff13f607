"""The connection cards and what is around them, through AppTest: the provider's icon,
the "Default" label and order, buttons that keep their places, the base URL as code, the
filters (and clearing them), and the edit dialog's title and its one message about the key.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from connections_core import PROVIDERS, Connection
from tests.app_support import (
    add,
    errors,
    field,
    open_app,
    plain,
    service,
)
from tests.fakes import API_KEY, FakeServer
from tests.support import contrast, sample_config
from ui.format import WORD_JOINER, code
from ui.provider_icons import MARKS


def elements(node: Any) -> Iterator[Any]:
    """Every element under ``node``, in the order the page shows them."""
    for child in getattr(node, "children", {}).values():
        if getattr(child, "children", None):
            yield from elements(child)
        else:
            yield child


def card_block(at: AppTest, connection: Connection) -> Any:
    return at.get_by_key(f"conn_card_{connection.id}")


def card_texts(at: AppTest, connection: Connection) -> list[str]:
    return [str(e.value) for e in elements(card_block(at, connection))
            if e.type in ("markdown", "caption")]


def card_order(at: AppTest) -> list[str]:
    """The ids of the connections on the cards, top to bottom."""
    return [b.key.removeprefix("conn_test_") for b in at.button
            if b.key and b.key.startswith("conn_test_") and b.key != "conn_test_all"]


def buttons(at: AppTest, connection: Connection) -> list[tuple[str, bool]]:
    """A card's buttons, in order: (label, disabled)."""
    return [(e.label, e.disabled) for e in elements(card_block(at, connection))
            if e.type == "button"]


def dialog_title(at: AppTest) -> str:
    dialogs = [block for block in elements_and_blocks(at._tree) if block.type == "dialog"]
    assert len(dialogs) == 1
    return str(dialogs[0].proto.dialog.title)


def elements_and_blocks(node: Any) -> Iterator[Any]:
    for child in getattr(node, "children", {}).values():
        yield child
        yield from elements_and_blocks(child)


@pytest.fixture
def work(data_dir: Any, fake_server: FakeServer) -> Connection:
    return add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url)


# -- item 18: the provider's icon -----------------------------------------------------------

def test_each_card_shows_its_providers_icon_with_a_text_alternative(
        data_dir: Any, fake_server: FakeServer) -> None:
    made = [add("openai", "Work", apiKey=API_KEY, baseUrl=fake_server.openai_url),
            add("anthropic", "Claude", apiKey="sk-ant-fake-1234ABCD", baseUrl=fake_server.url),
            add("ollama", "Local", baseUrl=fake_server.url)]
    at = open_app()

    for connection in made:
        images = [e for e in elements(card_block(at, connection)) if e.type == "image"]
        assert len(images) == 1
        image = images[0].proto.imgs[0]
        assert image.alt == PROVIDERS[connection.type].display_name
        svg = base64.b64decode(image.url.removeprefix("data:image/svg+xml;base64,")).decode()
        letters, colour = MARKS[connection.type]
        assert f">{letters}</text>" in svg and f'fill="{colour}"' in svg


def test_the_providers_marks_are_distinct() -> None:
    assert set(MARKS) == set(PROVIDERS)
    assert len({letters for letters, _ in MARKS.values()}) == len(MARKS)
    assert len({colour for _, colour in MARKS.values()}) == len(MARKS)
    assert all(contrast(colour, "#ffffff") >= 4.5 for _, colour in MARKS.values())


def test_the_add_dialog_shows_the_chosen_providers_icon(data_dir: Any) -> None:
    at = open_app()
    at.button(key="conn_add_first").click().run()
    at.selectbox(key="conn_form_type").select("anthropic").run()

    images = [block.proto.imgs[0] for block in elements_and_blocks(at._tree)
              if block.type == "image"]
    assert [image.alt for image in images] == ["Anthropic"]


# -- item 8: "Default", defaults first, buttons in place ------------------------------------

def test_the_default_is_labelled_default_and_the_others_are_not(
        work: Connection, fake_server: FakeServer) -> None:
    backup = add("openai", "Backup", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_app()

    assert ":blue-badge[Default]" in card_texts(at, work)
    assert not any("Default" in text for text in card_texts(at, backup))
    assert not any(":material/star:" in text for text in card_texts(at, work))


def test_each_providers_default_comes_first(work: Connection, fake_server: FakeServer) -> None:
    """Newest first, as the service lists them, but for the defaults: they lead, in the
    order of the providers (OpenAI, Anthropic, Ollama)."""
    local = add("ollama", "Local", baseUrl=fake_server.url)
    backup = add("openai", "Backup", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    spare = add("ollama", "Spare", baseUrl=fake_server.url)
    at = open_app()
    assert card_order(at) == [work.id, local.id, spare.id, backup.id]

    at.button(key=f"conn_default_{backup.id}").click().run()
    assert card_order(at) == [backup.id, local.id, spare.id, work.id]

    at.pills(key="conn_filter_provider").set_value(["ollama"]).run()
    at.button(key=f"conn_default_{spare.id}").click().run()
    assert card_order(at) == [spare.id, local.id]


def test_the_defaults_card_keeps_set_as_default_in_its_place_but_off(
        work: Connection, fake_server: FakeServer) -> None:
    backup = add("openai", "Backup", apiKey=API_KEY, baseUrl=fake_server.openai_url)
    at = open_app()
    labels = ["History", "Test", "Set as default", "Edit", "Delete"]

    assert buttons(at, work) == list(zip(labels, [False, False, True, False, False],
                                         strict=True))
    assert buttons(at, backup) == list(zip(labels, [False] * 5, strict=True))
    assert at.button(key=f"conn_default_{work.id}").help == "Already the default OpenAI connection."


# -- item 13: the base URL is code, the status a word ---------------------------------------

def test_the_base_url_is_shown_as_code_not_as_a_link(work: Connection,
                                                      fake_server: FakeServer) -> None:
    at = open_app()
    assert f"OpenAI · `{fake_server.openai_url}` · API key ••••WXYZ" in card_texts(at, work)


def test_the_status_badge_is_a_word_without_an_icon_name(work: Connection) -> None:
    at = open_app()
    assert ":gray-badge[Not checked]" in card_texts(at, work)
    assert not any(":material/" in text for text in card_texts(at, work))


@pytest.mark.parametrize(("text", "span"), [
    ("http://localhost:11434", "`http://localhost:11434`"),
    ("http://h/a`b", "``http://h/a`b``"),
    ("http://h/``x`", "``` http://h/``x` ```"),
    ("`x", "`` `x ``"),
    (" padded ", "`  padded  `"),
    ("  ", "`  `"),
    ("line\nbreak", "`line break`"),
    ("http://h/:material/star:", f"`http://h/:{WORD_JOINER}material/star:`"),
    ("", ""),
])
def test_code_makes_a_span_no_backtick_can_end(text: str, span: str) -> None:
    assert code(text) == span


# -- item 11: filters as you type, and clearing them ----------------------------------------

def test_search_applies_as_you_type(work: Connection) -> None:
    """The search sends its text after a pause in typing, not only on Enter (the browser
    test shows it happen; here, that the widget asks the browser for it)."""
    at = open_app()
    assert at.text_input(key="conn_search").proto.live_debounce_ms == 250


def test_clear_filters_resets_provider_status_search_and_the_page(data_dir: Any) -> None:
    many = service()
    for number in range(45):
        many.create("ollama", f"Server {number:02}", {"baseUrl": "http://localhost:11434"})
    at = open_app()
    assert at.button(key="conn_filter_clear").disabled

    at.pagination(key="conn_page").set_value(3).run()
    at.pills(key="conn_filter_provider").set_value(["ollama"]).run()
    at.pills(key="conn_filter_status").set_value(["unconfigured"]).run()
    at.text_input(key="conn_search").set_value("server").run()
    assert at.pagination(key="conn_page").value == 3
    assert not at.button(key="conn_filter_clear").disabled

    at.button(key="conn_filter_clear").click().run()

    assert at.pills(key="conn_filter_provider").value == []
    assert at.pills(key="conn_filter_status").value == []
    assert at.text_input(key="conn_search").value == ""
    assert at.pagination(key="conn_page").value == 1
    assert at.button(key="conn_filter_clear").disabled


def test_clear_filters_brings_back_the_cards_no_filter_matched(work: Connection) -> None:
    at = open_app()
    at.text_input(key="conn_search").set_value("nothing like it").run()
    assert card_order(at) == []

    at.button(key="conn_filter_clear").click().run()
    assert card_order(at) == [work.id]


# -- item 10: the edit dialog ---------------------------------------------------------------

# One provider of each kind of form: a key and a base URL; no key; an endpoint; several
# secrets (the title comes from the registry for every one alike).
@pytest.mark.parametrize("type", ["openai", "ollama", "azure_openai", "bedrock"])
def test_the_edit_dialog_says_which_provider_it_edits(data_dir: Any, fake_server: FakeServer,
                                                      type: str) -> None:
    connection = add(type, "Mine", **sample_config(type, fake_server.url, API_KEY))
    at = open_app()
    at.button(key=f"conn_edit_{connection.id}").click().run()

    assert dialog_title(at) == f"Edit {PROVIDERS[type].display_name} connection"


def key_messages(at: AppTest) -> list[tuple[str, str]]:
    """What the dialog says about entering the key again: (kind, text)."""
    return [(e.type, plain(e.value)) for e in elements_and_blocks(at._tree)
            if e.type in ("warning", "error") and "key again" in plain(e.value)]


def after(at: AppTest, label: str) -> Any:
    """The element right after the text input labelled ``label`` (its message slot)."""
    shown = [e for e in elements_and_blocks(at._tree) if not getattr(e, "children", None)]
    index = next(i for i, e in enumerate(shown)
                 if e.type == "text_input" and e.label == label)
    return shown[index + 1]


def test_a_changed_base_url_asks_for_the_key_once_at_the_key(work: Connection) -> None:
    """Saving without the key after changing the base URL showed the reason twice: a
    warning above the buttons, and Save's refusal under the key."""
    at = open_app()
    at.button(key=f"conn_edit_{work.id}").click().run()
    field(at, "Base URL").set_value("https://elsewhere.example.com/v1").run()
    assert [kind for kind, _ in key_messages(at)] == ["warning"]
    assert after(at, "API key").type == "warning"

    at.button(key="conn_form_save").click().run()

    assert [kind for kind, _ in key_messages(at)] == ["error"]
    assert after(at, "API key").type == "error"
    assert errors(at)[0].startswith("Enter the key again: the base URL changed")
    assert service().get(work.id).base_url != "https://elsewhere.example.com/v1"


def test_typing_the_key_again_withdraws_the_request(work: Connection,
                                                    fake_server: FakeServer) -> None:
    at = open_app()
    at.button(key=f"conn_edit_{work.id}").click().run()
    field(at, "Base URL").set_value(fake_server.openai_url.replace("127.0.0.1", "localhost"))
    field(at, "API key").set_value(API_KEY).run()
    assert key_messages(at) == []
