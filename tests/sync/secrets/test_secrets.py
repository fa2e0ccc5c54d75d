"""Secret naming, redaction and restoration."""

from __future__ import annotations

import json
import random
import re

import pytest

from statesync.sync.secrets import policy as secrets
from statesync.sync.secrets.policy import (
    MARKER,
    SecretPolicy,
    UnparseableSecretDocument,
    redact,
)


@pytest.mark.parametrize(
    ("path", "secret"),
    [
        ("secrets/a", True),
        ("secrets/deep/b.json", True),
        ("x/.env", True),
        (".env", True),
        ("db.secret", True),
        ("sub/db.secret", True),
        ("config.json", False),
        ("mysecrets/x", False),
        (".envrc", False),
        ("env", False),
    ],
)
def test_default_globs(path: str, secret: bool) -> None:
    assert SecretPolicy().is_secret_file(path) is secret


def test_json_values_are_redacted_by_key_and_pointers_recorded() -> None:
    doc = {"db": {"host": "h", "Password": "pw"}, "items": [{"api_key": "k"}], "token": None}
    out, pointers = redact("c.json", json.dumps(doc).encode(), SecretPolicy())
    assert pointers == ["/db/Password", "/items/0/api_key"]
    assert json.loads(out) == {
        "db": {"host": "h", "Password": MARKER},
        "items": [{"api_key": MARKER}],
        "token": None,
    }


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


def test_prefilter_knows_every_non_ascii_letter_the_key_pattern_folds_to_ascii() -> None:
    # re.IGNORECASE matches a few non-ASCII letters to ASCII ones; the byte-level
    # prefilter must force a parse when any of them is present.
    letter = re.compile("[a-z]", re.IGNORECASE)
    surrogates = range(0xD800, 0xE000)
    folds = {
        chr(cp).encode()
        for cp in range(128, 0x110000)
        if cp not in surrogates and letter.fullmatch(chr(cp))
    }
    assert folds == set(secrets._ASCII_FOLDS)


@pytest.mark.parametrize(
    "key", ["pa\u017f\u017fword", "\u017fecret", "to\u212aen", "PR\u0130VATE_KEY"]
)
def test_keys_spelt_with_folding_letters_are_redacted(key: str) -> None:
    doc = json.dumps({"n": 1, key: "hunter2"}, ensure_ascii=False).encode()
    out, pointers = redact("c.json", doc, SecretPolicy())
    assert pointers == [f"/{key}"] and b"hunter2" not in out


def test_a_key_ending_in_a_newline_matches_dollar_and_is_redacted() -> None:
    doc = json.dumps({"note": "a\n", "password\n": "hunter2"}).encode()
    out, pointers = redact("c.json", doc, SecretPolicy())
    assert pointers == ["/password\n"] and b"hunter2" not in out


def test_prefilter_agrees_with_the_parser_on_random_documents() -> None:
    # Ground truth: parse and test every key with the real pattern.
    rng = random.Random(7)
    parts = [
        "password",
        "Token",
        "secret",
        "key",
        "x",
        "_",
        " ",
        "\n",
        '"',
        "\\",
        ":",
        "\u017f",
        "\u00e9",
    ]
    policy = SecretPolicy()

    def keys(node: object) -> list[str]:
        if isinstance(node, dict):
            return [k for k, v in node.items() for k in (k, *keys(v))]
        return [k for item in node for k in keys(item)] if isinstance(node, list) else []

    for _ in range(2000):
        words = ["".join(rng.choice(parts) for _ in range(rng.randint(1, 4))) for _ in range(4)]
        doc = {words[0]: words[1], "n": [{words[2]: 1}], "v": words[3]}
        data = json.dumps(doc, ensure_ascii=rng.random() < 0.3).encode()
        truth = any(policy.is_secret_key(k) for k in keys(doc))
        if truth:
            assert policy.may_hold_secret_keys("d.json", data), data


def test_a_yaml_key_spelt_with_an_escape_is_redacted() -> None:
    doc = b'name: x\n"pass\\x77ord": hunter2\n'
    out, pointers = redact("c.yaml", doc, SecretPolicy())
    assert pointers == ["/password"] and b"hunter2" not in out


def test_a_broken_document_with_a_folded_secret_key_is_refused() -> None:
    broken = '{"pa\u017f\u017fword": "hunter2",'.encode()
    with pytest.raises(UnparseableSecretDocument):
        redact("c.json", broken, SecretPolicy())


def test_an_escape_after_other_backslashes_is_still_seen() -> None:
    doc = b'{"note": "a \\"quoted\\" line\\n", "pass\\u0077ord": "hunter2"}'
    out, pointers = redact("c.json", doc, SecretPolicy())
    assert pointers == ["/password"] and b"hunter2" not in out
