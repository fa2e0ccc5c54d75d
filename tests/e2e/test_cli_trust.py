"""``keys trust --require-signed`` on an environment with history, and undoing trust settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from tests.e2e.test_cli import assert_one_line_error, run
from tests.e2e.test_cli_keys import env, keys
from tests.helpers import write

__all__ = ["env"]


@pytest.fixture
def history(tmp_path: Path, env: dict[str, str]) -> tuple[str, dict[str, str], Path]:
    """A store whose dev env has unsigned keys and unsigned pushes, made before any signing key."""
    url = (tmp_path / "store").as_uri()
    pw = {**env, "STATESYNC_PASSPHRASE": "team passphrase"}
    folder = tmp_path / "state"
    write(folder, "config.json", {"db": {"password": "pw-before-signing"}, "n": 1})
    for args in (
        ("init",),
        ("keys", "init", "dev", "--recipient", "passphrase"),
        ("push", str(folder), "--env", "dev", "--include-secrets"),
    ):
        proc = run("--store", url, *args, env=pw)
        assert proc.returncode == 0, proc.stderr
    return url, pw, folder


def _signer(env: dict[str, str], path: Path) -> tuple[str, dict[str, str]]:
    """A new signing key: its public key, and ``env`` that signs with it."""
    proc = run("--json", "keys", "signing", "new", str(path), env=env)
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["public_key"]), {**env, "STATESYNC_SIGNING_KEY": str(path)}


def test_require_signed_applies_to_what_is_written_after_it(
    history: tuple[str, dict[str, str], Path], tmp_path: Path
) -> None:
    url, unsigned, folder = history
    public, pw = _signer(unsigned, tmp_path / "alice.key")
    out = keys(url, pw, "trust", "dev", public, "--require-signed")
    assert out["require_signed"] is True
    assert "keys/dev/gen-1.json" in str(out["note"]) and "refs/dev" in str(out["note"])
    # the unsigned history that existed when the policy was set still reads
    pulled = tmp_path / "pulled"
    assert run("--store", url, "pull", str(pulled), "--env", "dev", env=pw).returncode == 0
    write(folder, "config.json", {"db": {"password": "pw-before-signing"}, "n": 2})
    proc = run("--store", url, "push", str(folder), "--env", "dev", env=pw)  # signed now
    assert proc.returncode == 0, proc.stderr
    assert keys(url, pw, "rotate", "dev")["created"] == 2
    listing = cast(list[dict[str, Any]], keys(url, pw, "list", "dev")["key_generations"])
    assert [g["signed_by"] for g in listing] == [None, public]
    assert run("--store", url, "pull", str(pulled), "--env", "dev", env=pw).returncode == 0
    # what is written unsigned afterwards is refused before it is written
    write(pulled, "config.json", {"db": {"password": "pw-before-signing"}, "n": 3})
    assert_one_line_error(
        run("--store", url, "push", str(pulled), "--env", "dev", env=unsigned), 4, "not signed"
    )
    assert_one_line_error(
        run("--store", url, "keys", "rotate", "dev", env=unsigned), 4, "not signed"
    )


def test_a_replaced_unsigned_keyring_is_still_refused(
    history: tuple[str, dict[str, str], Path], tmp_path: Path
) -> None:
    url, pw, _ = history
    keys(url, pw, "trust", "dev", _signer(pw, tmp_path / "a.key")[0], "--require-signed")
    ring = tmp_path / "store" / "keys" / "dev" / "gen-1.json"
    doc = json.loads(ring.read_text())
    doc["created_at"] = "2020-01-01T00:00:00+00:00"  # any change to the pinned keyring
    ring.write_text(json.dumps(doc))
    assert_one_line_error(
        run("--store", url, "pull", str(tmp_path / "x"), "--env", "dev", env=pw), 4, "not signed"
    )


def test_trust_settings_are_undone_by_untrust(
    history: tuple[str, dict[str, str], Path], tmp_path: Path
) -> None:
    url, unsigned, _ = history
    public, pw = _signer(unsigned, tmp_path / "alice.key")
    keys(url, pw, "trust", "dev", public, "--require-signed")
    off = keys(url, unsigned, "untrust", "dev", "--require-signed")
    assert off["require_signed"] is False and off["writers"] == [public]
    assert run("--store", url, "keys", "rotate", "dev", env=unsigned).returncode == 0
    keys(url, pw, "trust", "dev", public, "--require-signed")
    gone = keys(url, pw, "untrust", "dev", public)  # the last writer: back to no policy
    assert gone["writers"] == [] and gone["require_signed"] is False
    trust_file = tmp_path / "cfg" / "statesync" / "trust.json"
    assert json.loads(trust_file.read_text())["stores"] == {}
    assert run("--store", url, "keys", "rotate", "dev", env=unsigned).returncode == 0
    assert (
        run("--store", url, "pull", str(tmp_path / "p"), "--env", "dev", env=unsigned).returncode
        == 0
    )
    assert_one_line_error(
        run("--store", url, "keys", "untrust", "dev", env=pw), 2, "PUBKEY or --require-signed"
    )
