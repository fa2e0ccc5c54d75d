"""statesync.toml is read strictly: a typo is exit 2 naming the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from statesync.backends import open_backend
from statesync.config import load_config
from statesync.errors import UsageError
from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import store_bytes, write


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[secret]\nglobs = ["*.pem"]\n', 2, "unknown table [secret] (did you mean 'secrets'?)"),
        (
            'store = "s"\n\n[secrets]\nglobs = "*.pem"\n',
            4,
            "[secrets] globs must be a list of strings, not a string",
        ),
        ('[secrets]\nglobs = ["a", 3]\n', 2, "a list holding an integer"),
        (
            '[secrets]\nglob = ["*.pem"]\n',
            2,
            "unknown key 'glob' in [secrets] (did you mean 'globs'?)",
        ),
        ('[secrets]\nkey_pattern = "(unclosed"\n', 2, "must be a regular expression"),
        ("[secrets]\nkey_pattern = 5\n", 2, "[secrets] key_pattern must be a regular expression"),
        ('stores = "x"\n', 1, "unknown key 'stores' (did you mean 'store'?)"),
        ("store = 3\n", 1, "store must be a string, not an integer"),
        ('secrets = ["*.pem"]\n', 1, "secrets must be a table [secrets]"),
        ('[keys]\nrecipient = ["passphrase"]\n', 2, "unknown key 'recipient' in [keys]"),
        ("[secrets.extra]\nx = 1\n", 2, "unknown key 'extra' in [secrets]"),
        ("[promotions]\n", 1, "unknown table [promotions]"),
    ],
)
def test_unknown_tables_keys_and_wrong_types_are_usage_errors(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    (tmp_path / "statesync.toml").write_text(text)
    with pytest.raises(UsageError) as err:
        load_config("memory://x", cwd=tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'statesync.toml'}:{line}: ")
    assert words in str(err.value)


def test_a_valid_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "statesync.toml").write_text(
        'store = "s"\n[secrets]\nglobs = ["*.pem", "!pub.pem"]\nkey_pattern = "^dsn$"\n'
        '[promotion]\nallowed = ["dev->prod"]\n[keys]\nrecipients = ["passphrase"]\n'
    )
    cfg = load_config(cwd=tmp_path)
    assert cfg.policy.globs == ("*.pem", "!pub.pem") and cfg.policy.is_secret_key("dsn")


def test_a_typo_in_statesync_toml_stops_push_before_anything_is_written(tmp_path: Path) -> None:
    store = (tmp_path / "store").as_uri()
    assert run("--store", store, "init").returncode == 0
    before = store_bytes(open_backend(store))
    project = tmp_path / "proj"
    write(project, "statesync.toml", '[secret]\nglobs = ["vault.txt"]\n')
    write(project, "vault.txt", "the-vault-secret\n")
    proc = run("--store", store, "push", str(project), "--env", "dev", cwd=project)
    assert_one_line_error(proc, 2, "statesync.toml:2: unknown table [secret]")
    assert store_bytes(open_backend(store)) == before
    assert not (project / ".statesync").exists()
    write(project, "statesync.toml", '[secrets]\nglobs = "vault.txt"\n')
    proc = run("--store", store, "push", str(project), "--env", "dev", cwd=project)
    assert_one_line_error(proc, 2, "statesync.toml:2: [secrets] globs must be a list of strings")
    assert b"the-vault-secret" not in store_bytes(open_backend(store))
