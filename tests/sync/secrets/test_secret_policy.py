"""The default secret policy: key spellings, credential values, secret-file globs."""

from __future__ import annotations

import json

import pytest

from statesync.sync.secrets.policy import SecretPolicy, redact
from statesync.sync.secrets.rules import credential_format, normalise_key

SECRET_KEYS = [
    "aws_secret_access_key",
    "AWS_SECRET_ACCESS_KEY",
    "awsSecretAccessKey",
    "privateKey",
    "private_key",
    "secretKey",
    "secret-key",
    "x-api-key",
    "X-API-Key",
    "api_key",
    "apikey",
    "apiKey",
    "API.Key",
    "passwd",
    "pwd",
    "db_pass",
    "password",
    "DB_PASSWORD",
    "userPassword",
    "passphrase",
    "credentials",
    "credential",
    "Authorization",
    "client_secret",
    "clientSecret",
    "access_token",
    "accessToken",
    "auth_token",
    "refresh-token",
    "session_token",
    "token",
    "secret",
    "github.token",
    "connection_string",
    "connectionString",
    "conn_str",
    "account_key",
    "AccountKey",
    "signing_key",
    "encryption-key",
    "master key",
    "access_key",
    "gcp_private_key",
]

NOT_SECRET_KEYS = [
    "token_count",
    "tokenizer",
    "max_tokens",
    "password_policy_url",
    "password_min_length",
    "secret_name",
    "secretName",
    "public_key",
    "key",
    "keys",
    "key_id",
    "aws_access_key_id",
    "token_type",
    "token_url",
    "password_file",
    "monkey",
    "compass",
    "bypass_cache",
    "private_key_id",
    "passes",
    "id_str",
    "author",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_common_secret_key_spellings_are_secret(key: str) -> None:
    assert SecretPolicy().is_secret_key(key)


@pytest.mark.parametrize("key", NOT_SECRET_KEYS)
def test_keys_that_only_mention_a_secret_word_are_not_secret(key: str) -> None:
    assert not SecretPolicy().is_secret_key(key)


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_the_prefilter_never_skips_a_document_with_a_secret_key(key: str) -> None:
    data = json.dumps({"n": 1, "deep": [{key: "hunter2-value"}]}).encode()
    assert SecretPolicy().may_hold_secret_keys("c.json", data)
    out, pointers = redact("c.json", data, SecretPolicy())
    assert pointers == [f"/deep/0/{key}"] and b"hunter2-value" not in out
    yaml_doc = f"n: 1\n{key}: hunter2-value\n".encode()
    out, pointers = redact("c.yaml", yaml_doc, SecretPolicy())
    assert pointers == [f"/{key}"] and b"hunter2-value" not in out


def test_the_prefilter_still_says_no_for_ordinary_documents() -> None:
    doc = {
        "model": "m",
        "max_tokens": 5,
        "token_count": 9,
        "note": "the password is elsewhere",
        "url": "https://example.com:8443/path",
        "keyboard": "k",
    }
    assert not SecretPolicy().may_hold_secret_keys("c.json", json.dumps(doc).encode())


def test_a_key_normalised_to_the_word_keeps_trailing_separators_out() -> None:
    data = b'{"x": 1, "password- ": "hunter2", "token\\n": "t2"}'
    assert redact("c.json", data, SecretPolicy())[1] == ["/password- ", "/token\n"]


def test_normalise_key_splits_camel_case_and_separators() -> None:
    assert normalise_key("awsSecretAccessKey") == "aws_Secret_Access_Key"
    assert normalise_key("X-API-Key") == "X_API_Key"
    assert normalise_key("APIKey") == "API_Key"
    assert normalise_key(" my..db  pass ") == "my_db_pass"


def test_a_custom_pattern_matches_the_raw_and_the_normalised_key() -> None:
    policy = SecretPolicy(key_pattern=r"^(dsn|api_key)$")
    assert policy.is_secret_key("dsn") and policy.is_secret_key("apiKey")
    assert policy.is_secret_key("API-KEY") and not policy.is_secret_key("password")
    data = b'{"apiKey": "k1", "other": 1}'
    assert policy.may_hold_secret_keys("c.json", data)
    assert redact("c.json", data, policy)[1] == ["/apiKey"]
    raw_only = SecretPolicy(key_pattern=r"\.pw$")  # only the raw key has the dot
    assert raw_only.is_secret_key("db.pw")


CREDENTIALS = {
    "aws-access-key-id": "AKIAIOSFODNN7EXAMPLE",
    "github-token": "ghp_" + "a1B2" * 9,
    "gitlab-token": "glpat-" + "x1Y2z3" * 4,
    "slack-token": "xoxb-123456789012-abcdefABCDEF",
    "stripe-key": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "google-api-key": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",
    "openai-anthropic-key": "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
    "private-key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END",
    "bearer": "Bearer eyJhbGciOi.abcdefghijklmnop",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
    "azure-account-key": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey="
    + "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq==",
    "url-password": "postgres://app:s3cr3t@db.internal:5432/app",
}


@pytest.mark.parametrize("name", sorted(CREDENTIALS))
def test_credential_formats_are_secret_whatever_their_key(name: str) -> None:
    value = CREDENTIALS[name]
    assert credential_format(value) == name
    data = json.dumps({"note": "n", "list": ["plain", value]}).encode()
    assert SecretPolicy().may_hold_secret_keys("c.json", data)
    out, pointers = redact("c.json", data, SecretPolicy())
    assert pointers == ["/list/1"] and value.encode() not in out


@pytest.mark.parametrize(
    "value",
    [
        "AKIA",
        "Asia/Tokyo",
        "ghp_short",
        "Bearer token",
        "the bearer of news",
        "sk-short",
        "https://example.com:8443/x",
        "mailto:someone@example.com",
        "https://user@host/x",
        "-----BEGIN PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----",
        "xoxb-",
        "eyJhbGciOiJIUzI1NiJ9",
    ],
)
def test_ordinary_values_are_not_credentials(value: str) -> None:
    assert not SecretPolicy().is_secret_value(value)


@pytest.mark.parametrize(
    ("path", "secret"),
    [
        ("secrets/a", True),
        ("x/secrets/b.json", True),
        ("secrets", False),
        (".env", True),
        ("sub/.env", True),
        (".env.local", True),
        ("app/.env.production", True),
        (".env.example", False),
        (".envrc", False),
        ("db.secret", True),
        (".aws/credentials", True),
        ("home/.aws/credentials", True),
        (".aws/config", False),
        ("certs/server.pem", True),
        ("tls.key", True),
        ("keys/id_ed25519", True),
        ("id_rsa", True),
        ("id_rsa.pub", False),
        (".netrc", True),
        (".pgpass", True),
        ("client.p12", True),
        ("c.pfx", True),
        (".kube/config", True),
        ("config.json", False),
        ("keyboard.json", False),
        ("monkey", False),
        ("events.jsonl", False),
    ],
)
def test_default_secret_files(path: str, secret: bool) -> None:
    assert SecretPolicy().is_secret_file(path) is secret


@pytest.mark.parametrize(
    ("glob", "path", "secret"),
    [
        ("secrets/", "secrets/a", True),
        ("secrets/", "deep/secrets/a/b", True),
        ("secrets/", "secrets", False),
        ("**/*.pem", "a.pem", True),
        ("**/*.pem", "x/y/a.pem", True),
        ("/.env", ".env", True),
        ("/.env", "sub/.env", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "c/a/b", False),
        ("*.[pk]em", "x.kem", True),
        ("*.[pk]em", "x.rem", False),
        ("cache", "cache/f", True),
        ("cache", "d/cache/f", True),
        ("vault?", "vault1", True),
    ],
)
def test_globs_follow_gitignore_semantics(glob: str, path: str, secret: bool) -> None:
    assert SecretPolicy(globs=(glob,)).is_secret_file(path) is secret


def test_a_negated_glob_keeps_a_file_the_previous_ones_exclude() -> None:
    policy = SecretPolicy(globs=("*.pem", "!public/*.pem"))
    assert policy.is_secret_file("private/a.pem") and not policy.is_secret_file("public/ca.pem")


def test_a_credential_spelt_with_json_escapes_is_still_found() -> None:
    data = b'{"dsn": "postgres:\\/\\/app:s3cr3t@db\\/app", "n": 1}'
    out, pointers = redact("c.json", data, SecretPolicy())
    assert pointers == ["/dsn"] and b"s3cr3t" not in out
    escaped = b'{"note": "\\u0041KIAIOSFODNN7EXAMPLE"}'
    assert redact("c.json", escaped, SecretPolicy())[1] == ["/note"]


def test_the_prefilter_agrees_with_the_policy_on_random_keys_and_values() -> None:
    # Ground truth: every key and string value tested by the policy itself.
    import random

    rng = random.Random(11)
    parts = [
        "pass",
        "word",
        "Word",
        "wd",
        "phrase",
        "secret",
        "Secret",
        "token",
        "Token",
        "api",
        "Key",
        "key",
        "cred",
        "entials",
        "s",
        "conn",
        "str",
        "ing",
        "auth",
        "orization",
        "private",
        "pwd",
        "_",
        "-",
        ".",
        " ",
        "x",
        "AKIA",
        "Z3MPLEK3YID7Q2WX",
        "sk-",
        "A" * 32,
        "://",
        "u:p@h",
        "Bearer ",
        "ghp_",
        "b" * 36,
        "\n",
    ]
    policy = SecretPolicy()
    for _ in range(3000):
        words = ["".join(rng.choice(parts) for _ in range(rng.randint(1, 4))) for _ in range(4)]
        doc = {words[0]: words[1], "n": [{words[2]: 1}], "v": [words[3]]}
        data = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode()
        truth = any(policy.is_secret_key(k) for k in (words[0], words[2])) or any(
            policy.is_secret_value(v) for v in (words[1], words[3])
        )
        if truth:
            assert policy.may_hold_secret_keys("d.json", data), data
