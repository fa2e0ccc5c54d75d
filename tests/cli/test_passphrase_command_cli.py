"""Through the CLI: a passphrase from STATESYNC_PASSPHRASE_COMMAND seals and opens secrets;
a failing command stops with exit 6 and one line; ``--identity`` adds a key to unwrap with."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import write

PASS = "correct horse battery"
VALUE = "tok-9f8e7d6c5b4a"


def command(code: str) -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


@pytest.fixture(autouse=True)
def _no_outside_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("STATESYNC_PASSPHRASE") or var == "STATESYNC_SIGNING_KEY":
            monkeypatch.delenv(var)


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = (tmp_path / "store").as_uri()
    assert run("--store", url, "init").returncode == 0
    return url


def test_a_passphrase_command_seals_and_opens_secrets(store: str, tmp_path: Path) -> None:
    good = {"STATESYNC_PASSPHRASE_COMMAND": command(f"print({PASS!r})")}
    init = run("--store", store, "keys", "init", "dev", "--recipient", "passphrase", env=good)
    assert init.returncode == 0, init.stderr
    src = tmp_path / "src"
    write(src, ".env", f"API_TOKEN={VALUE}\n")
    pushed = run("--store", store, "push", str(src), "--env", "dev", "--include-secrets", env=good)
    assert pushed.returncode == 0, pushed.stderr
    out = tmp_path / "out"
    pulled = run("--store", store, "pull", str(out), "--env", "dev", env=good)
    assert pulled.returncode == 0, pulled.stderr
    assert (out / ".env").read_text() == f"API_TOKEN={VALUE}\n"
    # A command that fails, even after printing the passphrase: exit 6, one line, no leak.
    bad = {"STATESYNC_PASSPHRASE_COMMAND": command(f"print({PASS!r}); raise SystemExit(1)")}
    proc = run("--store", store, "pull", str(tmp_path / "other"), "--env", "dev", env=bad)
    assert_one_line_error(proc, 6, "exited with status 1")
    assert PASS not in proc.stdout + proc.stderr and VALUE not in proc.stdout + proc.stderr
    assert not (tmp_path / "other").exists()  # nothing half-written
    wrong = {"STATESYNC_PASSPHRASE_COMMAND": command("print('not it')")}
    proc = run("--store", store, "--json", "pull", str(tmp_path / "w"), "--env", "dev", env=wrong)
    assert proc.returncode == 6 and json.loads(proc.stdout)["exit_code"] == 6


def test_identity_flag_unwraps_with_a_key_file(store: str, tmp_path: Path) -> None:
    key = tmp_path / "ci.key"
    assert run("keys", "keyfile", "new", str(key)).returncode == 0
    spec = f"keyfile:{key}"
    assert run("--store", store, "keys", "init", "dev", "--recipient", spec).returncode == 0
    src = tmp_path / "src"
    write(src, ".env", f"API_TOKEN={VALUE}\n")
    flags = ["--store", store, "--identity", spec]
    pushed = run(*flags, "push", str(src), "--env", "dev", "--include-secrets")
    assert pushed.returncode == 0, pushed.stderr
    without = run("--store", store, "pull", str(tmp_path / "a"), "--env", "dev")
    assert without.returncode == 6, without.stderr
    # The flag works before or after the command.
    got = run("--store", store, "pull", str(tmp_path / "b"), "--env", "dev", "--identity", spec)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "b" / ".env").read_text() == f"API_TOKEN={VALUE}\n"
