"""Secret naming, redaction and restoration."""

from __future__ import annotations

import json

import pytest

from statesync.sync.secrets import (
    MARKER,
    SecretPolicy,
    UnparseableSecretDocument,
    redact,
)


@pytest.mark.parametrize(
    ("path", "secret"),
    [("secrets/a", True), ("secrets/deep/b.json", True), ("x/.env", True), (".env", True),
     ("db.secret", True), ("sub/db.secret", True), ("config.json", False),
     ("mysecrets/x", False), (".envrc", False), ("env", False)],
)
def test_default_globs(path: str, secret: bool) -> None:
    assert SecretPolicy().is_secret_file(path) is secret


def test_json_values_are_redacted_by_key_and_pointers_recorded() -> None:
    doc = {"db": {"host": "h", "Password": "pw"}, "items": [{"api_key": "k"}], "token": None}
    out, pointers = redact("c.json", json.dumps(doc).encode(), SecretPolicy())
    assert pointers == ["/db/Password", "/items/0/api_key"]
    assert json.loads(out) == {"db": {"host": "h", "Password": MARKER},
                               "items": [{"api_key": MARKER}], "token": None}


def test_yaml_values_are_redacted() -> None:
    out, pointers = redact("c.yaml", b"a: 1\nstripe_secret: sk_live_x\n", SecretPolicy())
    assert pointers == ["/stripe_secret"] and b"sk_live_x" not in out


def test_document_without_secrets_is_kept_byte_for_byte() -> None:
    raw = b'{ "a" :1,\n "b": [1,2] }'
    assert redact("c.json", raw, SecretPolicy()) == (raw, [])
    assert redact("notes.txt", b"password: x", SecretPolicy()) == (b"password: x", [])


def test_unparseable_document_with_secret_keys_is_refused_without_echoing_the_value() -> None:
    with pytest.raises(UnparseableSecretDocument) as err:
        redact("c.json", b'{"password": "hunter2",', SecretPolicy())
    assert "hunter2" not in str(err.value)
    assert redact("c.json", b'{"name": "x",', SecretPolicy())[1] == []


def test_custom_key_pattern() -> None:
    policy = SecretPolicy(key_pattern=r"^dsn$")
    _, pointers = redact("c.json", b'{"dsn": "x", "password": "y"}', policy)
    assert pointers == ["/dsn"]


def test_fast_paths_never_miss_a_secret_key() -> None:
    policy = SecretPolicy()
    values_only = b'{"tokens_used": 5, "note": "the password is elsewhere"}'
    assert redact("c.json", values_only, policy) == (values_only, [])
    escaped = b'{"pass\\u0077ord": "hidden"}'  # a key spelled with an escape
    out, pointers = redact("c.json", escaped, policy)
    assert pointers == ["/password"] and b"hidden" not in out
    nested = b'{"a": [{"b": {"x": "y", "Private_Key": "k"}}]}'
    assert redact("c.json", nested, policy)[1] == ["/a/0/b/Private_Key"]
    custom = SecretPolicy(key_pattern=r"^(dsn|conn.*)$")
    assert redact("c.json", b'{"connstr": "c"}', custom)[1] == ["/connstr"]


def test_json_prefilter_sees_keys_with_odd_spacing_and_escapes() -> None:
    policy = SecretPolicy()
    spaced = b'{"api_token"' + b" " * 200 + b': "t"}'
    assert redact("c.json", spaced, policy)[1] == ["/api_token"]
    tabbed = b'{"x":1,\n\t"Secret"\t:\n"v"}'
    assert redact("c.json", tabbed, policy)[1] == ["/Secret"]
    unanchored = SecretPolicy(key_pattern="cred")
    assert redact("c.json", b'{"my_cred_file": "v"}', unanchored)[1] == ["/my_cred_file"]
