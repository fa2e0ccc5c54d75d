"""The CLI of locks that lock: exit 5 naming the holder, --lock-id, --ignore-lock, renew, list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import write


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = (tmp_path / "store").as_uri()
    assert run("--store", url, "init").returncode == 0
    return url


def jrun(store: str, *args: str) -> dict[str, object]:
    proc = run("--store", store, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, object] = json.loads(proc.stdout)
    return out


def test_push_into_a_locked_environment(store: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "state.json", {"v": 1})
    lock = jrun(store, "lock", "prod", "--purpose", "freeze")
    refused = run("--store", store, "push", str(src), "--env", "prod", "--lock-timeout", "1s")
    assert_one_line_error(refused, 5, "freeze")
    as_json = run("--store", store, "--json", "push", str(src), "--env", "prod")
    doc = json.loads(as_json.stdout)
    assert doc["exit_code"] == 5 and doc["lock"]["lock_id"] == lock["lock_id"]
    assert doc["lock"]["holder"] == lock["holder"] and doc["lock"]["purpose"] == "freeze"
    held = jrun(store, "push", str(src), "--env", "prod", "--lock-id", str(lock["lock_id"]))
    assert held["serial"] == 1
    write(src, "state.json", {"v": 2})
    assert jrun(store, "push", str(src), "--env", "prod", "--ignore-lock")["serial"] == 2


def test_renew_and_list_locks(store: str) -> None:
    lock = jrun(store, "lock", "prod", "--ttl", "1m", "--purpose", "deploy")
    renewed = jrun(store, "lock", "prod", "--renew", str(lock["lock_id"]), "--ttl", "2h")
    assert renewed["lock_id"] == lock["lock_id"] and renewed["ttl_seconds"] == 7200
    wrong = run("--store", store, "lock", "prod", "--renew", "0" * 32)
    assert_one_line_error(wrong, 5, "nothing renewed")
    listed = jrun(store, "locks")["locks"]
    assert isinstance(listed, list) and len(listed) == 1
    assert listed[0]["env"] == "prod" and listed[0]["stale"] is False
    human = run("--store", store, "locks")
    assert human.returncode == 0 and "prod" in human.stdout and "deploy" in human.stdout
