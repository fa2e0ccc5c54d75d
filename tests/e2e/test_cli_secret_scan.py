"""A realistic state folder pushed with the default policy leaks none of its secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from statesync.backends import open_backend
from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import store_bytes, write

AWS_KEY_ID = "AKIAZ3MPLEK3YID7Q2WX"
PLANTED = {
    ".env.local": "DATABASE_URL=postgres://app:envlocalpw@db/app\n",
    ".aws/credentials": "[default]\naws_access_key_id = AKIAEXAMPLEEXAMPLE22\n"
    "aws_secret_access_key = awscredsfilesecret\n",
    "config.toml": '[db]\nhost = "db"\npassword = "tomlpassword1" # prod\n',
    "app.ini": "[smtp]\nhost = mail\nsmtp_password = inipassword2\n",
    "events.jsonl": '{"event": "login", "access_token": "jsonltoken3"}\n{"event": "x"}\n',
    "keys/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nsshkeybody4\n",
    "settings.json": json.dumps(
        {
            "awsSecretAccessKey": "camelsecret5",
            "note": AWS_KEY_ID,
            "nested": {"x-api-key": "dashedkey6"},
        }
    ),
    "deploy.env": "export API_TOKEN='envfiletoken7'\nREGION=eu-west-1\n",
}
SECRETS = [
    b"envlocalpw",
    b"awscredsfilesecret",
    b"tomlpassword1",
    b"inipassword2",
    b"jsonltoken3",
    b"sshkeybody4",
    b"camelsecret5",
    AWS_KEY_ID.encode(),
    b"dashedkey6",
    b"envfiletoken7",
]


def _folder(root: Path) -> Path:
    for rel, text in PLANTED.items():
        write(root, rel, text)
    return root


def test_push_of_a_realistic_folder_leaks_no_planted_secret(
    any_store_url: str, tmp_path: Path
) -> None:
    if any_store_url.startswith("memory://"):
        pytest.skip("the memory store lives in one process; the CLI runs in another")
    assert run("--store", any_store_url, "init").returncode == 0
    src = _folder(tmp_path / "src")
    pushed = run("--store", any_store_url, "--json", "push", str(src), "--env", "dev")
    assert pushed.returncode == 0, pushed.stderr
    out = json.loads(pushed.stdout)
    assert sorted(out["secret_files"]) == [".aws/credentials", ".env.local", "keys/id_ed25519"]
    raw = store_bytes(open_backend(any_store_url))
    assert [s for s in SECRETS if s in raw] == []
    assert b"REGION=eu-west-1" in raw and b'host = "db"' in raw  # the rest is stored as written

    # The machine that pushed keeps its values; a fresh folder gets markers, byte-exact elsewhere.
    fresh = tmp_path / "fresh"
    assert run("--store", any_store_url, "pull", str(fresh), "--env", "dev").returncode == 0
    toml = (fresh / "config.toml").read_bytes()
    assert toml == b'[db]\nhost = "db"\npassword = "<statesync:secret>" # prod\n'
    assert (
        fresh / "deploy.env"
    ).read_bytes() == b"export API_TOKEN='<statesync:secret>'\nREGION=eu-west-1\n"
    status = run("--store", any_store_url, "status", str(src), "--env", "dev")
    assert status.returncode == 0 and "modified" not in status.stdout


def test_pull_puts_this_machines_line_format_values_back(tmp_path: Path) -> None:
    store = (tmp_path / "store").as_uri()
    assert run("--store", store, "init").returncode == 0
    src = _folder(tmp_path / "src")
    assert run("--store", store, "push", str(src), "--env", "dev").returncode == 0
    write(src, "app.ini", "[smtp]\nhost = mail2\nsmtp_password = inipassword2\n")
    other = tmp_path / "other"
    assert run("--store", store, "pull", str(other), "--env", "dev").returncode == 0
    write(other, "config.toml", '[db]\nhost = "db"\npassword = "theirs" # prod\n')
    pushed = run("--store", store, "push", str(other), "--env", "dev")
    assert pushed.returncode == 0, pushed.stderr
    assert run("--store", store, "pull", str(src), "--env", "dev", "--force").returncode == 0
    assert (src / "config.toml").read_bytes() == PLANTED["config.toml"].encode()


def test_a_broken_line_format_file_with_a_secret_is_refused(tmp_path: Path) -> None:
    store = (tmp_path / "store").as_uri()
    assert run("--store", store, "init").returncode == 0
    src = tmp_path / "src"
    write(src, "config.toml", 'password = "hunter2\n')
    proc = run("--store", store, "push", str(src), "--env", "dev")
    assert_one_line_error(proc, 1, "config.toml")
    assert "hunter2" not in proc.stderr
    assert b"hunter2" not in store_bytes(open_backend(store))


def test_a_utf16_document_with_a_secret_is_refused_and_one_without_is_kept(tmp_path: Path) -> None:
    store = (tmp_path / "store").as_uri()
    assert run("--store", store, "init").returncode == 0
    src = tmp_path / "src"
    write(src, "plain.json", '{"name": "x"}'.encode("utf-16"))
    assert run("--store", store, "push", str(src), "--env", "dev").returncode == 0
    for encoding in ("utf-16", "utf-16-le", "utf-32-be"):
        write(src, "c.json", '{"password": "hunter2"}'.encode(encoding))
        proc = run("--store", store, "push", str(src), "--env", "dev")
        assert_one_line_error(proc, 1, "holds secret values")
        assert "hunter2" not in proc.stderr
    (src / "c.json").unlink()
    write(src, "c.yaml", "password: hunter2\n".encode("utf-16"))
    assert_one_line_error(run("--store", store, "push", str(src), "--env", "dev"), 1, "c.yaml")
    raw = store_bytes(open_backend(store))
    assert "hunter2".encode("utf-16-le") not in raw and b"hunter2" not in raw
