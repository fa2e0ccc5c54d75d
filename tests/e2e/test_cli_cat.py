"""``statesync cat REF PATH``: one file to stdout, verified, secrets as pull writes them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.inproc import Cli
from tests.helpers import write


@pytest.fixture
def cli(capfdbinary: pytest.CaptureFixture[bytes], tmp_path: Path) -> Cli:
    run = Cli((tmp_path / "store").as_uri(), capfdbinary)
    run.ok("init")
    return run


def test_cat_streams_a_multi_chunk_file_byte_for_byte(cli: Cli, tmp_path: Path) -> None:
    big = os.urandom(3_000_000)  # several FastCDC chunks
    write(tmp_path / "src", "data/blob.bin", big)
    write(tmp_path / "src", "state.json", '{"a": 1}\n')
    cli.ok("push", str(tmp_path / "src"), "--env", "dev")
    assert cli.ok("cat", "dev", "data/blob.bin").out == big
    ident = cli.ok("--json", "push", str(tmp_path / "src"), "--env", "other").json()["snapshot"]
    assert cli.ok("cat", ident[:10], "state.json").out == b'{"a": 1}\n'


def test_cat_shows_secret_values_as_the_marker_when_not_stored(cli: Cli, tmp_path: Path) -> None:
    write(tmp_path / "src", "app.json", '{"user": "ann", "password": "hunter2"}\n')
    write(tmp_path / "src", "secrets/api.key", "TOKEN=abc\n")
    cli.ok("push", str(tmp_path / "src"))
    assert (
        cli.ok("cat", "default", "app.json").out
        == b'{"user": "ann", "password": "<statesync:secret>"}\n'
    )
    cli("cat", "default", "secrets/api.key").one_line_error(1, "pushed without --include-secrets")


def test_cat_opens_sealed_secrets_with_the_key_and_fails_without(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "cat passphrase 17")
    cli.ok("keys", "init", "dev", "--recipient", "passphrase")
    doc = b'{"user": "ann", "password": "hunter2"}\n'
    write(tmp_path / "src", "app.json", doc)
    write(tmp_path / "src", "secrets/api.key", "TOKEN=abc\n")
    cli.ok("push", str(tmp_path / "src"), "--env", "dev", "--include-secrets")
    assert cli.ok("cat", "dev", "app.json").out == doc
    assert cli.ok("cat", "dev", "secrets/api.key").out == b"TOKEN=abc\n"
    out = cli.ok("cat", "dev", "app.json", "--skip-secrets").out
    assert b"hunter2" not in out and b"<statesync:secret>" in out
    monkeypatch.delenv("STATESYNC_PASSPHRASE")
    failed = cli("cat", "dev", "app.json")
    assert failed.code == 6 and failed.out == b"" and "hunter2" not in failed.err


def test_cat_errors_name_the_path_and_use_the_documented_codes(cli: Cli, tmp_path: Path) -> None:
    write(tmp_path / "src", "config/app.json", "{}\n")
    os.symlink("config/app.json", tmp_path / "src" / "link.json")
    cli.ok("push", str(tmp_path / "src"))
    cli("cat", "default", "nope.json").one_line_error(1, "'nope.json': no such file")
    cli("cat", "default", "config").one_line_error(1, "is a folder")
    cli("cat", "default", "link.json").one_line_error(2, "is a link")
    cli("cat", "nosuchenv", "config/app.json").one_line_error(1, "nosuchenv")
    cli("cat", "default").one_line_error(2, "PATH")


def test_cat_of_damaged_content_is_an_integrity_error(cli: Cli, tmp_path: Path) -> None:
    write(tmp_path / "src", "blob.bin", os.urandom(200_000))
    cli.ok("push", str(tmp_path / "src"))
    packs = sorted((tmp_path / "store" / "objects").rglob("*"), key=lambda p: p.stat().st_size)
    pack = packs[-1]
    raw = bytearray(pack.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    os.chmod(pack, 0o600)
    pack.write_bytes(bytes(raw))
    ran = cli("cat", "default", "blob.bin")
    assert ran.code == 4, ran.err
    assert "Traceback" not in ran.err
