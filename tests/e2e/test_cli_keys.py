"""``statesync keys ...``: the command-line contract for recipients, rotation, signing and trust."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.e2e.test_cli import assert_one_line_error, run


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Private user folders for the child processes, and no passphrase unless a test sets one."""
    for var in ("STATESYNC_PASSPHRASE", "STATESYNC_PASSPHRASE_FILE", "STATESYNC_SIGNING_KEY"):
        monkeypatch.delenv(var, raising=False)  # children inherit os.environ
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }


@pytest.fixture
def store(tmp_path: Path, env: dict[str, str]) -> str:
    url = (tmp_path / "store").as_uri()
    assert run("--store", url, "init", env=env).returncode == 0
    return url


def keys(store: str, env: dict[str, str], *args: str, cwd: Path | None = None) -> dict[str, object]:
    proc = run("--store", store, "--json", "keys", *args, env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, object] = json.loads(proc.stdout)
    return out


def test_keyfile_new_is_private_and_never_overwrites(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "team.key"
    proc = run("--json", "keys", "keyfile", "new", str(path), env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["id"].startswith("keyfile:") and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() not in proc.stdout  # the key itself is never printed
    assert_one_line_error(run("keys", "keyfile", "new", str(path), env=env), 2, "already exists")


def test_init_list_rotate_and_recipients(store: str, tmp_path: Path, env: dict[str, str]) -> None:
    key = tmp_path / "team.key"
    kid = json.loads(run("--json", "keys", "keyfile", "new", str(key), env=env).stdout)["id"]
    out = keys(store, env, "init", "dev", "--recipient", f"keyfile:{key}")
    assert out["created"] == 1 and out["current"] == 1
    pw = {**env, "STATESYNC_PASSPHRASE": "cli passphrase"}
    added = keys(
        store, pw, "add-recipient", "dev", "passphrase:team", "--identity", f"keyfile:{key}"
    )
    assert added == {
        "env": "dev",
        "added": "passphrase:team",
        "generations": [1],
        "format_version": 1,
    }
    # The passphrase alone unwraps, but cannot carry the key file into a new generation.
    assert_one_line_error(
        run("--store", store, "keys", "rotate", "dev", env=pw), 6, f"cannot carry recipient {kid}"
    )
    rotated = keys(store, pw, "rotate", "dev", "--identity", f"keyfile:{key}")
    assert rotated["created"] == 2
    gens = rotated["key_generations"]
    assert [g["generation"] for g in gens] == [1, 2]  # type: ignore[attr-defined]
    assert [r["id"] for r in gens[1]["recipients"]] == [kid, "passphrase:team"]  # type: ignore[index]
    human = run("--store", store, "keys", "list", "dev", env=env)
    assert "dev generation 2 (current)" in human.stdout and "passphrase:team" in human.stdout
    removed = keys(store, pw, "remove-recipient", "dev", "passphrase:team")
    assert removed["generations"] == [1, 2] and "rotate" in str(removed["note"])
    listing = json.dumps(keys(store, env, "list", "dev"))
    assert "passphrase:team" not in listing and "cli passphrase" not in listing
    last = run(
        "--store",
        store,
        "keys",
        "remove-recipient",
        "dev",
        kid,
        "--identity",
        f"keyfile:{key}",
        env=env,
    )
    assert_one_line_error(last, 1, "refusing to remove the last recipient")


def test_key_failures_exit_6(store: str, tmp_path: Path, env: dict[str, str]) -> None:
    pw = {**env, "STATESYNC_PASSPHRASE": "right"}
    keys(store, pw, "init", "dev", "--recipient", "passphrase:team")
    wrong = {**env, "STATESYNC_PASSPHRASE": "wrong"}
    proc = run("--store", store, "keys", "rotate", "dev", env=wrong)
    assert_one_line_error(proc, 6, "no key available to unwrap keys/dev/gen-1.json")
    assert "right" not in proc.stderr and "wrong passphrase" in proc.stderr
    assert_one_line_error(
        run("--store", store, "keys", "rotate", "dev", env=env), 6, "no key available"
    )
    assert_one_line_error(run("--store", store, "keys", "rotate", "prod", env=pw), 6, "has no keys")
    loose = tmp_path / "loose.key"
    run("keys", "keyfile", "new", str(loose), env=env)
    os.chmod(loose, 0o644)
    proc = run("--store", store, "keys", "add-recipient", "dev", f"keyfile:{loose}", env=pw)
    assert_one_line_error(proc, 6, "too open")
    os.chmod(loose, 0o600)  # widened on purpose: the session scan checks key files' modes
    assert_one_line_error(run("--store", store, "keys", "init", "qa", env=env), 2, "no recipients")
    assert_one_line_error(
        run("--store", store, "keys", "init", "qa", "--recipient", "pgp:x", env=env),
        2,
        "unknown recipient kind",
    )


def test_recipients_from_statesync_toml(store: str, tmp_path: Path, env: dict[str, str]) -> None:
    project = tmp_path / "project"
    project.mkdir()
    run("keys", "keyfile", "new", str(project / "team.key"), env=env)
    (project / "statesync.toml").write_text('[keys]\nrecipients = ["keyfile:team.key"]\n')
    out = keys(store, env, "init", "dev", cwd=project)
    assert out["key_generations"][0]["recipients"][0]["type"] == "keyfile"  # type: ignore[index]
    assert keys(store, env, "rotate", "dev", cwd=project)["created"] == 2  # config identity
    assert_one_line_error(
        run("--store", store, "keys", "rotate", "dev", env=env), 6, "no key available"
    )  # elsewhere, without the config


def test_signing_key_and_trust(store: str, tmp_path: Path, env: dict[str, str]) -> None:
    proc = run("keys", "signing", "new", env=env)
    assert proc.returncode == 0, proc.stderr
    public = next(
        line.split(": ", 1)[1]
        for line in proc.stdout.splitlines()
        if line.startswith("public_key: ")
    )
    path = tmp_path / "cfg" / "statesync" / "signing.key"
    assert public.startswith("ed25519:") and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "PRIVATE" not in proc.stdout
    assert_one_line_error(run("keys", "signing", "new", env=env), 2, "refusing to replace")
    other = json.loads(
        run("--json", "keys", "signing", "new", str(tmp_path / "b.key"), env=env).stdout
    )["public_key"]
    out = keys(store, env, "trust", "prod", public, "--require-signed")
    assert out["writers"] == [public] and out["require_signed"] is True
    trust_file = tmp_path / "cfg" / "statesync" / "trust.json"
    assert stat.S_IMODE(trust_file.stat().st_mode) == 0o600
    keys(store, env, "trust", "prod", other)
    assert keys(store, env, "untrust", "prod", public)["writers"] == [other]
    doc = json.loads(trust_file.read_text())
    assert next(iter(doc["stores"].values()))["prod"]["require_signed"] is True
    assert_one_line_error(
        run("--store", store, "keys", "untrust", "prod", public, env=env), 2, "not a trusted writer"
    )
    assert_one_line_error(
        run("--store", store, "keys", "trust", "prod", "ed25519:xx", env=env),
        2,
        "not an Ed25519 public key",
    )
