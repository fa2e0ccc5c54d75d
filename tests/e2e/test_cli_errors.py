"""No internal errors: odd file names, closed pipes and --json errors end as the contract says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import write


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = (tmp_path / "store").as_uri()
    assert run("--store", url, "init").returncode == 0
    return url


def _store_objects(url: str) -> list[str]:
    root = Path(url.removeprefix("file://"))
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_name_that_is_not_utf8_is_refused_before_any_upload(store: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "big.bin", os.urandom(200_000))
    (src / "deep").mkdir()
    (src.joinpath("deep") / os.fsdecode(b"caf\xe9.json")).write_bytes(b"{}")
    before = _store_objects(store)
    proc = run("--store", store, "push", str(src), "--env", "dev")
    assert_one_line_error(proc, 1, r"deep/caf\xe9.json: file name is not valid UTF-8")
    assert "internal error" not in proc.stderr
    assert _store_objects(store) == before  # no pack, no index, no ref


def test_log_into_a_closed_pipe_ends_quietly(store: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(3):
        write(src, "state.json", {"i": i, "pad": "x" * 100})
        assert run("--store", store, "push", str(src), "--env", "dev", "-q").returncode == 0
    # A reader that closes at once: every write of ours meets a closed pipe.
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.close()"], stdin=subprocess.PIPE
    )
    proc = subprocess.run(
        [sys.executable, "-m", "statesync.cli", "--store", store, "log", "--env", "dev", "--json"],
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    reader.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_json_errors_are_one_object_on_stdout(store: str, tmp_path: Path) -> None:
    proc = run("--store", store, "--json", "log", "--env", "nope")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 1 and doc["error_type"] == "EnvNotFound"
    assert "'nope' does not exist" in doc["error"]
    assert_one_line_error(proc, 1, "does not exist")


def test_json_conflict_names_the_head(store: str, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "state.json", {"v": 1})
    assert run("--store", store, "push", str(a), "--env", "dev").returncode == 0
    write(b, "state.json", {"v": 2})
    proc = run("--store", store, "push", str(b), "--env", "dev", "--json")
    assert proc.returncode == 3
    doc = json.loads(proc.stdout)
    head = doc["head"]
    assert doc["exit_code"] == 3 and doc["error_type"] == "RefConflict"
    assert head["serial"] == 1 and head["env"] == "dev" and len(head["snapshot"]) == 64
    assert "@" in head["updated_by"]


def test_a_bad_flag_is_one_line_exit_2_and_under_json_one_object(tmp_path: Path) -> None:
    plain = run("push", "--no-such-flag", str(tmp_path))
    assert_one_line_error(plain, 2, "unrecognized arguments: --no-such-flag")
    as_json = run("--json", "frob")
    assert as_json.returncode == 2 and "Traceback" not in as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["exit_code"] == 2 and doc["error_type"] == "UsageError" and "frob" in doc["error"]
