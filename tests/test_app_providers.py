"""Every provider of the registry on the screens, through AppTest: the Add dialog offers
them by group, each with its mark, its form built from its fields and a link to where
its key is made; several secrets (Bedrock), an optional one (an OpenAI-compatible
server) and another address than a base URL (Azure's endpoint, Bedrock's region) are
stored, shown and edited as a single API key is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.proto.TextInput_pb2 import TextInput as TextInputProto
from streamlit.testing.v1 import AppTest

from connections_core import GROUPS, PROVIDERS
from tests.app_support import (
    add,
    assert_clean,
    card,
    errors,
    field,
    open_app,
    plain,
    service,
    texts,
)
from tests.support import AWS_ACCESS_KEY_ID, AWS_SECRET_KEY
from ui.activity import describe

SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLEsessionTOKEN0123456789zyxw"
AZURE_KEY = "0123456789abcdef0123456789azUREK"


def open_add(at: AppTest, type: str) -> AppTest:
    at.button(key="conn_add_first").click().run()
    return at.selectbox(key="conn_form_type").select(type).run()


def dialog_inputs(at: AppTest) -> list[Any]:
    return [w for w in at.text_input if str(w.key).startswith("conn_form_")]


def key_link(at: AppTest) -> str:
    """The Markdown of the caption beside the provider's mark."""
    return next(plain(c.value) for c in at.caption if "](" in str(c.value))


def marks(at: AppTest) -> list[str]:
    """The text alternatives of the images shown (the provider marks)."""
    def walk(node: Any) -> list[str]:
        own = [image.alt for image in node.proto.imgs] if node.type == "image" else []
        return own + [alt for child in getattr(node, "children", {}).values()
                      for alt in walk(child)]
    return walk(at._tree)


def test_the_add_dialog_offers_every_provider_by_group_with_its_mark_and_key_link(
        data_dir: Path) -> None:
    at = open_app()
    at.button(key="conn_add_first").click().run()
    offered = at.selectbox(key="conn_form_type")

    groups = list(GROUPS)
    types = sorted(PROVIDERS, key=lambda t: (groups.index(PROVIDERS[t].group),
                                             list(PROVIDERS).index(t)))
    assert offered.options == [f"{GROUPS[PROVIDERS[t].group]} › {PROVIDERS[t].display_name}"
                               for t in types]
    assert {option.split(" › ")[0] for option in offered.options} == set(GROUPS.values())
    for type, words in (("openai", "Get an API key"), ("bedrock", "Create an access key"),
                        ("ollama", "Get Ollama")):
        at.selectbox(key="conn_form_type").select(type).run()
        provider = PROVIDERS[type]
        assert f"[{words}]({provider.key_url})" in key_link(at)
        assert provider.description in key_link(at)
        assert marks(at) == [provider.display_name]
    assert_clean(at)


def test_a_bedrock_connection_is_added_from_its_fields_encrypted_and_shown_masked(
        data_dir: Path) -> None:
    at = open_add(open_app(), "bedrock")
    inputs = dialog_inputs(at)
    assert [w.label for w in inputs] == ["Name", "Region", "Access key ID", "Secret access key",
                                         "Session token (optional)", "Endpoint (optional)"]
    assert [w.label for w in inputs if w.proto.type == TextInputProto.PASSWORD] == [
        "Secret access key", "Session token (optional)"]
    assert "us-east-1 (an AWS region code)" in (field(at, "Region").help or "")

    field(at, "Name").set_value("AWS")
    field(at, "Region").set_value("eu-west-3")
    field(at, "Access key ID").set_value(AWS_ACCESS_KEY_ID)
    field(at, "Secret access key").set_value(AWS_SECRET_KEY)
    field(at, "Session token (optional)").set_value(SESSION_TOKEN)
    at.button(key="conn_form_save").click().run()

    [created] = service().list()
    assert created.type == "bedrock" and created.where == "https://bedrock.eu-west-3.amazonaws.com"
    stored = (data_dir / "connections.json").read_text(encoding="utf-8")
    assert AWS_ACCESS_KEY_ID in stored  # an ID, not a secret
    assert AWS_SECRET_KEY not in stored and SESSION_TOKEN not in stored
    assert AWS_SECRET_KEY.replace("/", "\\/") not in stored
    shown = card(at, created)
    assert "https://bedrock.eu-west-3.amazonaws.com" in shown
    assert f"Secret access key ••••{AWS_SECRET_KEY[-4:]}" in shown
    assert f"Session token ••••{SESSION_TOKEN[-4:]}" in shown
    assert AWS_SECRET_KEY not in texts(at) and SESSION_TOKEN not in texts(at)
    assert at.pills(key="conn_filter_provider").options == ["Amazon Bedrock"]

    # A new region sends the keys elsewhere: both stored secrets are asked for again.
    at.button(key=f"conn_edit_{created.id}").click().run()
    assert "Leave the secret access key and session token empty to keep the stored ones." \
        in texts(at)
    field(at, "Region").set_value("us-west-2").run()
    assert ("The region changed, so the stored keys can't be kept: enter the secret access "
            "key and session token again.") in texts(at)
    assert [plain(w.value) for w in at.warning] == [
        f"The region changed, so enter the {what} again: a stored key is only sent to the "
        "address it was saved for." for what in ("secret access key", "session token")]
    assert_clean(at)


def test_a_new_azure_endpoint_asks_for_the_key_again_and_names_the_endpoint(
        data_dir: Path) -> None:
    azure = add("azure_openai", "Azure", endpoint="https://work.openai.azure.com",
                apiKey=AZURE_KEY)
    at = open_app()
    assert "https://work.openai.azure.com" in card(at, azure)
    at.button(key=f"conn_edit_{azure.id}").click().run()
    assert "Leave the API key empty to keep the stored one." in texts(at)

    field(at, "Endpoint").set_value("https://elsewhere.openai.azure.com").run()

    assert ("The endpoint changed, so the stored key can't be kept: enter the API key again."
            in texts(at))
    assert field(at, "API key").placeholder == "Enter the API key again for the new endpoint"
    at.button(key="conn_form_save").click().run()
    assert errors(at)[0].startswith("Enter the key again: the endpoint changed")
    assert service().get(azure.id).where == "https://work.openai.azure.com"

    field(at, "API key").set_value(AZURE_KEY[::-1]).run()
    at.button(key="conn_form_save").click().run()
    assert service().get(azure.id).where == "https://elsewhere.openai.azure.com"
    assert_clean(at)


def test_an_openai_compatible_server_is_saved_without_a_key(data_dir: Path) -> None:
    at = open_add(open_app(), "openai_compatible")
    assert [w.label for w in dialog_inputs(at)] == ["Name", "Base URL", "API key (optional)"]
    field(at, "Name").set_value("vLLM")
    field(at, "Base URL").set_value("http://gpu-box.internal:8000/v1")
    at.button(key="conn_form_save").click().run()

    [created] = service().list()
    assert created.config == {"baseUrl": "http://gpu-box.internal:8000/v1"}
    shown = card(at, created)
    assert "OpenAI-compatible server" in shown and "http://gpu-box.internal:8000/v1" in shown
    assert "API key" not in shown
    at.button(key=f"conn_edit_{created.id}").click().run()
    assert "empty to keep" not in texts(at)  # no stored key to keep
    assert_clean(at)


def test_activity_names_a_connections_provider_as_the_registry_does() -> None:
    assert describe({"type": "bedrock"}) == "Amazon Bedrock"
    assert describe({"type": "retired"}) == "retired"
