"""Keys and tokens: format, interoperability, and errors that never show a key."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from connections_core import (
    DecryptionError,
    EncryptionKeyError,
    KeyRing,
    decrypt,
    encrypt,
    generate_key,
    is_encrypted,
)
from connections_core.crypto import (
    associated_data,
    create_key_file,
    decrypt_bound,
    encrypt_bound,
    is_bound,
)

KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
# Made by Node's crypto (aes-256-gcm, the IV a1a2...ac) from "sk-node-made-секрет-🔑".
NODE_TOKEN = ("a1a2a3a4a5a6a7a8a9aaabac:9adaa82f2b15b453759467ba9d35d7af:"
              "5584aa019b315b42e31fd61579134da3d74790fef795e15660b2c7cff089")
NODE_PLAINTEXT = "sk-node-made-секрет-🔑"
TOKEN_FORMAT = re.compile(r"^v1:[0-9a-f]{24}:[0-9a-f]{32}:[0-9a-f]+$")
BOUND_FORMAT = re.compile(r"^v2:[0-9a-f]{24}:[0-9a-f]{32}:[0-9a-f]+$")
CONTEXT = {"workspace": "team", "id": "3f1c", "field": "apiKey",
           "baseUrl": "https://api.openai.com/v1"}
# AES-256-GCM of "sk-bound-секрет" under KEY, the IV a1a2...ac, and
# associated_data(CONTEXT) as the associated data: the v2 format, frozen.
BOUND_TOKEN = ("v2:a1a2a3a4a5a6a7a8a9aaabac:00b690013b154e1cbb5fa6491772205c:"
               "5584aa0d9b20500ba3af33a0e11276a2e2479ffef5")
BOUND_PLAINTEXT = "sk-bound-секрет"


def test_generate_key_is_64_hex_and_random() -> None:
    first, second = generate_key(), generate_key()
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert first != second


def test_token_has_the_v1_format() -> None:
    assert TOKEN_FORMAT.match(encrypt("sk-secret-value", KEY))


def test_round_trip_with_hex_and_bytes_keys() -> None:
    token = encrypt("sk-secret-value", KEY)
    assert decrypt(token, KEY) == "sk-secret-value"
    assert decrypt(token, bytes.fromhex(KEY)) == "sk-secret-value"


def test_each_encryption_uses_a_fresh_iv() -> None:
    assert encrypt("same", KEY).split(":")[1] != encrypt("same", KEY).split(":")[1]


def test_token_made_by_node_decrypts() -> None:
    assert decrypt(NODE_TOKEN, KEY) == NODE_PLAINTEXT
    assert decrypt("v1:" + NODE_TOKEN, KEY) == NODE_PLAINTEXT


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_decrypts_our_token() -> None:
    token = encrypt(NODE_PLAINTEXT, KEY).removeprefix("v1:")
    script = """
    const c = require("crypto");
    const [iv, tag, data] = process.argv[2].split(":");
    const d = c.createDecipheriv("aes-256-gcm", Buffer.from(process.argv[1], "hex"),
                                 Buffer.from(iv, "hex"));
    d.setAuthTag(Buffer.from(tag, "hex"));
    process.stdout.write(d.update(data, "hex", "utf8") + d.final("utf8"));
    """
    out = subprocess.run(["node", "-e", script, KEY, token], capture_output=True, check=True,
                         timeout=30)
    assert out.stdout.decode() == NODE_PLAINTEXT


def test_wrong_key_raises_decryption_error_that_names_the_variable() -> None:
    with pytest.raises(DecryptionError, match="ENCRYPTION_KEY changed"):
        decrypt(encrypt("sk-secret-value", KEY), generate_key())


@pytest.mark.parametrize("position", [5, 30, 70])
def test_tampered_token_is_rejected(position: int) -> None:
    token = encrypt("sk-secret-value", KEY)
    flipped = token[:position] + ("0" if token[position] != "0" else "1") + token[position + 1:]
    with pytest.raises(DecryptionError):
        decrypt(flipped, KEY)


@pytest.mark.parametrize("value", ["", "plain text", "v1:zz:yy:xx", "a1:b2", None, 42])
def test_non_tokens_are_not_encrypted(value: object) -> None:
    assert not is_encrypted(value)


def test_tokens_are_recognised_with_and_without_prefix() -> None:
    assert is_encrypted(encrypt("x", KEY))
    assert is_encrypted(NODE_TOKEN)


@pytest.mark.parametrize("bad", ["", "abc", KEY + "00", KEY[:-1] + "g", "z" * 64])
def test_malformed_key_error_says_how_to_make_one_and_hides_the_value(bad: str) -> None:
    with pytest.raises(EncryptionKeyError, match="openssl rand -hex 32") as caught:
        KeyRing(bad or "x")
    assert "ENCRYPTION_KEY" in str(caught.value)
    if len(bad) > 3:
        assert bad not in str(caught.value)


def test_keyring_from_env_requires_a_key() -> None:
    with pytest.raises(EncryptionKeyError, match="ENCRYPTION_KEY is not set.*secrets.token_hex"):
        KeyRing.from_env({})


def test_encryption_secret_is_an_alias() -> None:
    ring = KeyRing.from_env({"ENCRYPTION_SECRET": KEY})
    assert decrypt(ring.encrypt("x"), KEY) == "x"


def test_key_and_alias_that_differ_are_an_error() -> None:
    with pytest.raises(EncryptionKeyError, match="both set and differ") as caught:
        KeyRing.from_env({"ENCRYPTION_KEY": KEY, "ENCRYPTION_SECRET": generate_key()})
    assert KEY not in str(caught.value)


def test_previous_key_decrypts_during_rotation() -> None:
    old = generate_key()
    token = encrypt("sk-old-secret", old)
    ring = KeyRing.from_env({"ENCRYPTION_KEY": KEY, "ENCRYPTION_KEY_PREVIOUS": old})
    assert ring.has_previous
    assert ring.decrypt(token) == "sk-old-secret"
    assert decrypt(ring.encrypt("new"), KEY) == "new"


def test_keyring_fails_when_no_key_fits() -> None:
    ring = KeyRing(KEY, [generate_key()])
    with pytest.raises(DecryptionError, match="ENCRYPTION_KEY_PREVIOUS"):
        ring.decrypt(encrypt("x", generate_key()))


def test_bad_previous_key_names_its_variable() -> None:
    with pytest.raises(EncryptionKeyError, match="ENCRYPTION_KEY_PREVIOUS"):
        KeyRing.from_env({"ENCRYPTION_KEY": KEY, "ENCRYPTION_KEY_PREVIOUS": "short"})


# -- bound (v2) tokens ------------------------------------------------------------------------

def test_bound_token_has_the_v2_format_and_round_trips() -> None:
    token = encrypt_bound("sk-secret-value", KEY, CONTEXT)
    assert BOUND_FORMAT.match(token)
    assert is_encrypted(token) and is_bound(token)
    assert decrypt_bound(token, KEY, dict(reversed(CONTEXT.items()))) == "sk-secret-value"


def test_bound_token_known_answer() -> None:
    assert decrypt_bound(BOUND_TOKEN, KEY, CONTEXT) == BOUND_PLAINTEXT


def test_associated_data_is_canonical_json() -> None:
    assert associated_data(CONTEXT) == (
        b'{"baseUrl":"https://api.openai.com/v1","field":"apiKey","id":"3f1c",'
        b'"workspace":"team"}')
    assert associated_data({"id": "é", "baseUrl": None}) == b'{"baseUrl":null,"id":"\\u00e9"}'


@pytest.mark.parametrize("change", [
    {"workspace": "other"}, {"id": "3f1d"}, {"field": "organization"},
    {"baseUrl": "https://attacker.example/v1"}, {"baseUrl": "https://api.openai.com/v1/"},
    {"baseUrl": None}, {"extra": ""},
])
def test_bound_token_fails_in_another_context(change: dict[str, str | None]) -> None:
    with pytest.raises(DecryptionError, match="can't be decrypted"):
        decrypt_bound(BOUND_TOKEN, KEY, {**CONTEXT, **change})


def test_a_missing_context_entry_is_another_context() -> None:
    without_url = {k: v for k, v in CONTEXT.items() if k != "baseUrl"}
    with pytest.raises(DecryptionError):
        decrypt_bound(encrypt_bound("x", KEY, CONTEXT), KEY, without_url)


def test_v1_and_v2_are_not_interchangeable() -> None:
    with pytest.raises(DecryptionError, match="not an encrypted token"):
        decrypt(BOUND_TOKEN, KEY)
    with pytest.raises(DecryptionError, match="not an encrypted token"):
        decrypt_bound(encrypt("x", KEY), KEY, CONTEXT)
    with pytest.raises(DecryptionError):
        decrypt_bound(NODE_TOKEN, KEY, CONTEXT)
    assert not is_bound(encrypt("x", KEY)) and not is_bound(NODE_TOKEN)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_decrypts_our_bound_token() -> None:
    token = encrypt_bound(BOUND_PLAINTEXT, KEY, CONTEXT).removeprefix("v2:")
    script = """
    const c = require("crypto");
    const [iv, tag, data] = process.argv[2].split(":");
    const d = c.createDecipheriv("aes-256-gcm", Buffer.from(process.argv[1], "hex"),
                                 Buffer.from(iv, "hex"));
    d.setAAD(Buffer.from(process.argv[3], "ascii"));
    d.setAuthTag(Buffer.from(tag, "hex"));
    process.stdout.write(d.update(data, "hex", "utf8") + d.final("utf8"));
    """
    out = subprocess.run(["node", "-e", script, KEY, token, associated_data(CONTEXT).decode()],
                         capture_output=True, check=True, timeout=30)
    assert out.stdout.decode() == BOUND_PLAINTEXT


_IV, _TAG = "a1" * 12, "b2" * 16


@pytest.mark.parametrize("token", [
    f"v1:{_IV}:{_TAG}:abc", f"{_IV}:{_TAG}:0", f"v2:{_IV}:{_TAG}:abcde",
    f"v1:{_IV}:{_TAG}:abcd\n", f"v1:{_IV[:-1]}:{_TAG}:abcd", f"v1:{_IV}:{_TAG}:zz",
    f"v3:{_IV}:{_TAG}:abcd", "",
])
def test_malformed_tokens_are_a_decryption_error_never_a_value_error(token: str) -> None:
    """An odd number of hex digits matched the token pattern, and bytes.fromhex
    then raised ValueError through decrypt() (and through ConnectionService())."""
    assert not is_encrypted(token)
    for attempt in (lambda: decrypt(token, KEY), lambda: decrypt_bound(token, KEY, CONTEXT),
                    lambda: KeyRing(KEY).decrypt(token),
                    lambda: KeyRing(KEY).decrypt(token, CONTEXT)):
        with pytest.raises(DecryptionError, match="not an encrypted token"):
            attempt()


def test_keyring_encrypts_bound_with_a_context() -> None:
    ring = KeyRing(KEY)
    token = ring.encrypt("sk-ring", CONTEXT)
    assert BOUND_FORMAT.match(token) and TOKEN_FORMAT.match(ring.encrypt("sk-ring"))
    assert ring.decrypt(token, CONTEXT) == "sk-ring"
    with pytest.raises(DecryptionError):
        ring.decrypt(token, {**CONTEXT, "id": "other"})


def test_keyring_decrypts_only_the_kind_of_token_asked_for() -> None:
    ring = KeyRing(KEY)
    with pytest.raises(DecryptionError, match="not an encrypted token"):
        ring.decrypt(BOUND_TOKEN)
    with pytest.raises(DecryptionError, match="bound to its record"):
        ring.decrypt(encrypt("x", KEY), CONTEXT)


def test_previous_key_decrypts_bound_tokens_during_rotation() -> None:
    ring = KeyRing(generate_key(), KEY)
    assert ring.decrypt(BOUND_TOKEN, CONTEXT) == BOUND_PLAINTEXT
    with pytest.raises(DecryptionError, match="ENCRYPTION_KEY_PREVIOUS"):
        ring.decrypt(BOUND_TOKEN, {**CONTEXT, "id": "other"})


def test_keyring_repr_hides_keys() -> None:
    ring = KeyRing(KEY, [generate_key()])
    assert KEY not in repr(ring) and "1 previous" in repr(ring)


def test_created_key_file_is_private_and_reused(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "encryption.key"
    with caplog.at_level(logging.WARNING):
        key = create_key_file(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert path.read_text().strip() == key
    assert "generated a key" in caplog.text and key not in caplog.text
    assert create_key_file(path) == key, "a second start must not replace the key"
    assert [p.name for p in tmp_path.iterdir()] == ["encryption.key"], "no temporary file left"
