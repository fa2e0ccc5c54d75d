"""``push --dry-run`` lists what would be excluded, redacted and uploaded, and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from statesync.backends import open_backend
from tests.e2e.test_cli import run
from tests.helpers import store_bytes, tree, write


def _folder(root: Path) -> Path:
    write(root, ".env.local", "DB_PASSWORD=dry-run-secret-1\n")
    write(root, "config.toml", 'host = "db"\npassword = "dry-run-secret-2"\n')
    write(root, "settings.json", {"note": "AKIAZ3MPLEK3YID7Q2WX", "n": 1})
    write(root, "notes.txt", "plain\n")
    return root


def test_dry_run_lists_the_plan_and_writes_nothing(any_store_url: str, tmp_path: Path) -> None:
    if any_store_url.startswith("memory://"):
        pytest.skip("the memory store lives in one process; the CLI runs in another")
    assert run("--store", any_store_url, "init").returncode == 0
    src = _folder(tmp_path / "src")
    before_store, before_folder = store_bytes(open_backend(any_store_url)), tree(src, False)
    proc = run("--store", any_store_url, "--json", "push", str(src), "--env", "dev", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["dry_run"] is True and plan["head"] is None and plan["secrets_sealed"] is False
    assert plan["excluded"] == [".env.local"]
    assert plan["redacted"] == [
        {"path": "config.toml", "pointers": ["/password"]},
        {"path": "settings.json", "pointers": ["/note"]},
    ]
    assert plan["upload"] == ["config.toml", "notes.txt", "settings.json"]
    assert plan["refused"] == [] and plan["upload_bytes"] > 0
    assert b"dry-run-secret" not in proc.stdout.encode() + proc.stderr.encode()
    assert store_bytes(open_backend(any_store_url)) == before_store
    assert tree(src, False) == before_folder  # no .statesync record either


def test_dry_run_after_a_push_lists_only_what_changed(tmp_path: Path) -> None:
    store = (tmp_path / "store").as_uri()
    assert run("--store", store, "init").returncode == 0
    src = _folder(tmp_path / "src")
    assert run("--store", store, "push", str(src), "--env", "dev").returncode == 0
    write(src, "notes.txt", "changed\n")
    (src / "settings.json").unlink()
    write(src, "broken.json", '{"password": "dry-run-secret-3",')
    before = store_bytes(open_backend(store))
    human = run("--store", store, "push", str(src), "--env", "dev", "--dry-run")
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    assert lines[0].startswith("dry run: nothing was written")
    assert "  exclude   .env.local  (secret file, left out)" in lines
    assert "  redact    config.toml  /password" in lines
    assert "  upload    notes.txt" in lines and "  upload    broken.json" in lines
    assert "  delete    settings.json" in lines
    assert any(line.startswith("  refuse    broken.json: ") for line in lines)
    assert "dry-run-secret" not in human.stdout
    assert store_bytes(open_backend(store)) == before
