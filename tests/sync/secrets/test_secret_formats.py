"""Spans of secret values in KEY=value, INI, TOML and JSON-lines documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from statesync.api import Store
from statesync.errors import DocumentLimit
from statesync.sync.secrets.formats import (
    EnvLocator,
    IniLocator,
    JsonLinesLocator,
    locator_for,
)
from statesync.sync.secrets.policy import MARKER, SecretPolicy, UnparseableSecretDocument, redact
from statesync.sync.secrets.spans import Locator
from statesync.sync.secrets.tomlspans import TomlLocator
from tests.helpers import store_bytes, write

POLICY = SecretPolicy()


def spans(locator: Locator, data: bytes) -> list[tuple[str, bytes]]:
    return [(s.pointer, data[s.start : s.end]) for s in locator.locate(data, POLICY)]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (".env", EnvLocator),
        ("app/.env.local", EnvLocator),
        ("prod.env", EnvLocator),
        ("app.ini", IniLocator),
        ("setup.cfg", IniLocator),
        ("pyproject.toml", TomlLocator),
        ("events.jsonl", JsonLinesLocator),
        ("log.NDJSON", JsonLinesLocator),
    ],
)
def test_locator_for_names_the_format(path: str, kind: type) -> None:
    assert isinstance(locator_for(path), kind)


@pytest.mark.parametrize("path", ["notes.txt", "c.json", "nginx.conf", "environment", "x.envrc"])
def test_other_files_have_no_line_locator(path: str) -> None:
    assert locator_for(path) is None


def test_env_values_with_export_quotes_and_comments() -> None:
    data = (
        b"# comment\n\nexport DB_PASSWORD='hunter 2' # why\nNAME=app\n"
        b'API_KEY=abc123 # inline\nTOKEN="multi\\"\nline"\nX=AKIAIOSFODNN7EXAMPLE\n'
        b"EMPTY_SECRET=\n  SECRET_KEY = spaced  \n"
    )
    assert spans(EnvLocator(), data) == [
        ("/DB_PASSWORD", b"'hunter 2'"),
        ("/API_KEY", b"abc123"),
        ("/TOKEN", b'"multi\\"\nline"'),
        ("/X", b"AKIAIOSFODNN7EXAMPLE"),
        ("/SECRET_KEY", b"spaced"),
    ]


@pytest.mark.parametrize("bad", [b"PASSWORD 'x'\n", b"PASSWORD='x\n", b"PASSWORD='x' y\n"])
def test_env_lines_that_do_not_parse_are_refused(bad: bytes) -> None:
    with pytest.raises(ValueError):
        EnvLocator().locate(bad, POLICY)
    with pytest.raises(UnparseableSecretDocument):
        redact(".env.prod", bad, SecretPolicy(globs=()))


def test_ini_sections_continuations_and_byte_offsets() -> None:
    data = (
        "\ufeff[db]\nhost = h\npassword = p\u00e9ss\n  second line\n; c\n"
        "[aws]\naws_secret_access_key: abc\nregion=eu\n"
    ).encode()
    assert spans(IniLocator(), data) == [
        ("/db/password", "p\u00e9ss\n  second line".encode()),
        ("/aws/aws_secret_access_key", b"abc"),
    ]
    assert spans(IniLocator(), b"token = top\n[s]\nx = 1\n") == [("/token", b"top")]
    with pytest.raises(ValueError):
        IniLocator().locate(b"[db]\npassword\n", POLICY)


TOML = '''title = "x"  # password = "not a key"
password = "hunter2" # c
[db]
conn = { user = "u", password = 'p2' }
"api.key" = """multi
line"""""
dsn = "postgres://a:b@h/x"
a.b.secret = 7
[[servers]]
name = "a"
[[servers]]
token = 'lit'
hosts = [
  "h", # comment
  "AKIAIOSFODNN7EXAMPLE",
]
[servers.auth]
secret = 1979-05-27 07:32:00Z
note = \'\'\'it's "quoted" ''\'\'\'
'''


def test_toml_tables_arrays_of_tables_dotted_keys_and_strings() -> None:
    data = TOML.encode()
    assert spans(TomlLocator(), data) == [
        ("/password", b'"hunter2"'),
        ("/db/conn/password", b"'p2'"),
        ("/db/api.key", b'"""multi\nline"""""'),
        ("/db/dsn", b'"postgres://a:b@h/x"'),
        ("/db/a/b/secret", b"7"),
        ("/servers/1/token", b"'lit'"),
        ("/servers/1/hosts/1", b'"AKIAIOSFODNN7EXAMPLE"'),
        ("/servers/1/auth/secret", b"1979-05-27 07:32:00Z"),
    ]


def test_invalid_toml_is_refused_when_it_looks_secret() -> None:
    with pytest.raises(ValueError):
        TomlLocator().locate(b'password = "x"\npassword = "y"\n', POLICY)
    with pytest.raises(UnparseableSecretDocument) as err:
        redact("c.toml", b'password = "hunter2\n', POLICY)
    assert "hunter2" not in str(err.value)
    assert redact("c.toml", b"name = [\n", POLICY) == (b"name = [\n", [])


def test_json_lines_records_nested_values_and_nulls() -> None:
    data = (
        b'{"a": 1, "password": "x", "n": {"token": {"deep": [1]}}}\n\n'
        b'["AKIAIOSFODNN7EXAMPLE", {"k": null, "secret": null}]\n'
    )
    assert spans(JsonLinesLocator(), data) == [
        ("/0/password", b'"x"'),
        ("/0/n/token", b'{"deep": [1]}'),
        ("/1/0", b'"AKIAIOSFODNN7EXAMPLE"'),
    ]
    with pytest.raises(ValueError):
        JsonLinesLocator().locate(b'{"a": 1}\n{"password": \n', POLICY)
    with pytest.raises(DocumentLimit):
        JsonLinesLocator().locate(b"[" * 500 + b"]" * 500 + b"\n", POLICY)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        (".env.prod", b"A=1\nPASSWORD=hunter2 # c\nB='x'\n"),
        ("app.ini", b"[s]\na = 1\npassword = hunter2\n"),
        ("c.toml", b'a = 1\npassword = "hunter2" # c\n'),
        ("e.jsonl", b'{"a": 1, "password": "hunter2"}\n'),
    ],
)
def test_redaction_changes_only_the_secret_bytes(path: str, data: bytes) -> None:
    policy = SecretPolicy(globs=())
    out, pointers = redact(path, data, policy)
    assert b"hunter2" not in out and len(pointers) == 1
    locator = locator_for(path)
    assert locator is not None
    marker = locator.scalar(MARKER)
    assert out.replace(marker, b"hunter2").replace(b"'hunter2'", b"hunter2").replace(
        b'"hunter2"', b"hunter2"
    ) == data.replace(b'"hunter2"', b"hunter2")
    assert redact(path, out, policy) == (out, pointers)  # a redacted file stays as it is


@pytest.fixture
def keyed(any_store_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    store = Store.init(any_store_url)
    store.keys().init("dev", ["passphrase"])
    return Store.open(any_store_url)


FILES = {
    "config.toml": 'password = "tomlpw-1" # c\n[db]\nhosts = ["AKIAZ3MPLEK3YID7Q2WX"]\n',
    "app.ini": "[smtp]\nhost = mail\nsmtp_password = inipw-2\n",
    "events.jsonl": '{"e": 1, "access_token": "jsonl-3"}\n',
    "prod.env": "export API_TOKEN='envtok-4'\nREGION=eu\n",
}


def test_include_secrets_seals_line_format_values_and_pull_opens_them_byte_exact(
    keyed: Store, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    for rel, text in FILES.items():
        write(src, rel, text)
    keyed.push(src, "dev", include_secrets=True)
    raw = store_bytes(keyed.repo.backend)
    for secret in (b"tomlpw-1", b"AKIAZ3MPLEK3YID7Q2WX", b"inipw-2", b"jsonl-3", b"envtok-4"):
        assert secret not in raw
    assert b"REGION=eu" in raw
    out = tmp_path / "out"
    keyed.pull(out, "dev")
    for rel, text in FILES.items():
        assert (out / rel).read_text() == text


def test_secret_values_in_imported_line_format_documents_are_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.sync.bundle.test_bundle import comp, doc, plaintexts, write_json

    monkeypatch.chdir(tmp_path)
    store = Store.init(str(tmp_path / "store"))
    comps = [
        comp("config.toml", 'host = "visible-canary"\npassword = "imported-pw-1"\n'),
        comp("app.ini", "[s]\ntoken = imported-pw-2\n"),
    ]
    store.import_(write_json(tmp_path / "b.json", doc(comps)), "dev")
    raw = plaintexts(tmp_path / "store")
    assert b"visible-canary" in raw
    assert b"imported-pw-1" not in raw and b"imported-pw-2" not in raw
