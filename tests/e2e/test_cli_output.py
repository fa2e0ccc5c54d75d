"""The CLI's output for programs and people: JSON lines, format_version, UTC times, exit codes.

Every test runs the real ``statesync`` command in a subprocess and parses what
it prints (``json.loads`` per line for push and pull).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import write

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DIFFERENCES = 7  # status/diff --exit-code; 1 stays "error" (ARCHITECTURE.md §5)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statesync.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def json_lines(stdout: str) -> list[dict[str, Any]]:
    docs = [json.loads(line) for line in stdout.splitlines()]
    assert docs and all(d["format_version"] == 1 for d in docs)
    return docs


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = (tmp_path / "store").as_uri()
    ok(run("--store", url, "init"))
    return url


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write(root, "state.json", {"a": 1})
    write(root, "data.bin", os.urandom(3_000_000))
    return root


def test_push_and_pull_print_status_lines_then_one_summary(
    store: str, src: Path, tmp_path: Path
) -> None:
    fast = {"STATESYNC_PROGRESS_FPS": "100000"}  # a status line at nearly every update
    proc = run("--store", store, "--json", "push", str(src), "--env", "dev", env=fast)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    *status, summary = json_lines(proc.stdout)
    assert status and {d["message_type"] for d in status} == {"status"}
    assert all(d["phase"] == "push" and 0 <= d["percent_done"] <= 1 for d in status)
    assert status[-1]["bytes_done"] >= status[0]["bytes_done"]
    assert summary["message_type"] == "summary" and summary["serial"] == 1
    for field in ("snapshot", "env", "serial", "uploaded_bytes", "reused_bytes", "files"):
        assert field in summary
    proc = run("--store", store, "--json", "pull", str(tmp_path / "out"), "--env", "dev", env=fast)
    *status, summary = json_lines(proc.stdout)
    assert status and all(d["message_type"] == "status" and d["phase"] == "pull" for d in status)
    assert summary["message_type"] == "summary" and summary["files"] == 2


def test_without_the_knob_a_short_push_into_a_pipe_prints_only_its_summary(
    store: str, src: Path
) -> None:
    (summary,) = json_lines(ok(run("--store", store, "--json", "push", str(src))))
    assert summary["message_type"] == "summary"


def test_a_bad_progress_rate_is_a_usage_error(store: str, src: Path) -> None:
    proc = run("--store", store, "--json", "push", str(src), env={"STATESYNC_PROGRESS_FPS": "x"})
    assert proc.returncode == 2 and "STATESYNC_PROGRESS_FPS" in proc.stderr
    (err,) = json_lines(proc.stdout)
    assert err["message_type"] == "error" and err["exit_code"] == 2


def test_push_of_a_missing_folder_is_exit_1_and_writes_nothing(store: str, tmp_path: Path) -> None:
    proc = run("--store", store, "--json", "push", str(tmp_path / "nope"), "--env", "dev")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"statesync: error: {tmp_path / 'nope'}: no such folder"
    ]
    (err,) = json_lines(proc.stdout)
    assert (err["message_type"], err["error_type"], err["exit_code"]) == ("error", "NotAFolder", 1)
    assert json.loads(ok(run("--store", store, "--json", "envs")))["envs"] == []


def test_push_of_a_missing_folder_into_an_existing_env_is_no_conflict(
    store: str, src: Path, tmp_path: Path
) -> None:
    ok(run("--store", store, "push", str(src)))
    proc = run("--store", store, "push", str(tmp_path / "gone"))
    assert proc.returncode == 1 and "no such folder" in proc.stderr


def test_short_commands_print_one_object_with_format_version_and_utc_times(
    store: str, src: Path
) -> None:
    ok(run("--store", store, "push", str(src), "--env", "dev", "-m", "one"))
    ok(run("--store", store, "lock", "dev", "--ttl", "1m"))
    docs = {
        name: json.loads(ok(run("--store", store, "--json", *argv)))
        for name, argv in {
            "log": ["log", "--env", "dev"],
            "show": ["show", "dev"],
            "status": ["status", str(src), "--env", "dev"],
            "diff": ["diff", "dev", "dev"],
            "envs": ["envs"],
            "verify": ["verify"],
            "locks": ["locks"],
        }.items()
    }
    assert all(d["format_version"] == 1 for d in docs.values())
    created = docs["log"]["snapshots"][0]["created_at"]
    assert RFC3339_UTC.match(created) and docs["show"]["created_at"] == created
    assert RFC3339_UTC.match(docs["locks"]["locks"][0]["expires_at"])
    assert created in ok(run("--store", store, "log", "--env", "dev"))
    assert created in ok(run("--store", store, "show", "dev"))


def test_times_in_error_messages_are_utc_too(store: str, src: Path, tmp_path: Path) -> None:
    ok(run("--store", store, "push", str(src), "--env", "dev"))
    other = tmp_path / "other"
    write(other, "x.json", {"x": 1})
    proc = run("--store", store, "push", str(other), "--env", "dev")  # never pulled: conflict
    assert proc.returncode == 3
    stamps = re.findall(r"\d{4}-\d{2}-\d{2}T[0-9:.+Z-]+", proc.stderr)
    assert stamps and all(RFC3339_UTC.match(s) for s in stamps), proc.stderr


def test_status_exit_code_and_the_environment_moving(store: str, src: Path, tmp_path: Path) -> None:
    s = ("--store", store)
    ok(run(*s, "push", str(src), "--env", "dev"))
    assert run(*s, "status", str(src), "--env", "dev", "--exit-code").returncode == 0
    other = tmp_path / "other"
    ok(run(*s, "pull", str(other), "--env", "dev"))
    write(other, "theirs.json", {"t": 1})
    ok(run(*s, "push", str(other), "--env", "dev"))
    # Someone else's push is not a local addition: it is the env moving.
    st = json.loads(ok(run(*s, "--json", "status", str(src), "--env", "dev")))
    assert st["added"] == [] and st["clean"] and st["env_moved"]
    assert (st["synced_serial"], st["head_serial"]) == (1, 2)
    text = run(*s, "status", str(src), "--env", "dev", "--exit-code")
    assert text.returncode == DIFFERENCES
    assert "the environment has moved since (serial 1 → 2" in text.stdout
    assert "no local changes" in text.stdout
    ok(run(*s, "pull", str(src), "--env", "dev"))
    write(src, "mine.json", {"m": 1})
    proc = run(*s, "--json", "status", str(src), "--env", "dev", "--exit-code")
    assert proc.returncode == DIFFERENCES and json.loads(proc.stdout)["added"] == ["mine.json"]
    assert run(*s, "status", str(src), "--env", "dev").returncode == 0  # only when asked
    missing = run(*s, "status", str(tmp_path / "nope"), "--env", "dev", "--exit-code")
    assert missing.returncode == 1 and "no such folder" in missing.stderr  # errors keep their code


def test_diff_exit_code(store: str, src: Path) -> None:
    s = ("--store", store)
    first = json_lines(ok(run(*s, "--json", "push", str(src), "--env", "dev")))[-1]["snapshot"]
    assert run(*s, "diff", first, "dev", "--exit-code").returncode == 0
    write(src, "state.json", {"a": 2})
    ok(run(*s, "push", str(src), "--env", "dev"))
    proc = run(*s, "--json", "diff", first, "dev", "--exit-code")
    assert proc.returncode == DIFFERENCES
    assert json.loads(proc.stdout)["modified"] == {"state.json": ["/a"]}
    assert run(*s, "diff", first, "dev").returncode == 0
    assert run(*s, "diff", first, "no-such-env", "--exit-code").returncode == 1


def test_log_has_serial_id_merge_author_time_message_and_tags_columns(
    store: str, tmp_path: Path
) -> None:
    s = ("--store", store)
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "x.json", {"x": 1})
    ok(run(*s, "push", str(a), "--env", "dev", "-m", "first", "--tag", "team=core"))
    ok(run(*s, "pull", str(b), "--env", "dev"))
    write(a, "x.json", {"x": 2})
    ok(run(*s, "push", str(a), "--env", "dev", "-m", "word " * 30))
    write(b, "y.json", {"y": 1})
    ok(run(*s, "push", str(b), "--env", "dev", "--rebase", "-m", "merged"))
    header, *rows = ok(run(*s, "log", "--env", "dev")).splitlines()
    assert header.split() == ["SERIAL", "ID", "M", "AUTHOR", "TIME", "MESSAGE", "TAGS"]
    serials = [r.split()[0] for r in rows]
    assert serials == ["3", "2", "1"]
    top, middle, bottom = rows
    assert top.split()[2] == "M" and "merged" in top
    assert "…" in middle and "word " * 30 not in middle and len(middle) < 160
    assert bottom.rstrip().endswith("team=core") and "first" in bottom
    ids = [r.split()[1] for r in rows]
    assert all(len(i) == 12 for i in ids)
    entries = json.loads(ok(run(*s, "--json", "log", "--env", "dev")))["snapshots"]
    assert [e["serial"] for e in entries] == [3, 2, 1]
    assert [e["merge"] for e in entries] == [True, False, False]
    assert [e["snapshot"][:12] for e in entries] == ids


def test_envs_one_per_line(store: str, src: Path) -> None:
    for env in ("dev", "prod"):
        ok(run("--store", store, "push", str(src), "--env", env, "--force"))
    assert ok(run("--store", store, "envs")).splitlines() == ["dev", "prod"]


def test_pull_creates_parents_and_says_which_secrets_it_left_out(
    store: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write(src, "config.json", {"db": {"password": "hunter2-secret"}})
    write(src, "id_rsa", "PRIVATE KEY\n")
    ok(run("--store", store, "push", str(src), "--env", "dev"))
    target = tmp_path / "a" / "b" / "c"
    proc = run("--store", store, "pull", str(target), "--env", "dev")
    assert proc.returncode == 0, proc.stderr
    assert "hunter2" not in (target / "config.json").read_text()
    (note,) = proc.stderr.strip().splitlines()
    assert note.startswith("statesync: note: ") and "config.json" in note and "id_rsa" in note
    assert "--include-secrets" in note
    again = json.loads(ok(run("--store", store, "--json", "pull", str(target), "--env", "dev")))
    assert again["placeholders"] == ["config.json"] and again["secrets_left_out"] == ["id_rsa"]
    mine = run("--store", store, "pull", str(src), "--env", "dev")  # the machine that has them
    assert mine.returncode == 0 and mine.stderr == ""


def test_a_failed_pull_leaves_no_parents_behind(store: str, tmp_path: Path) -> None:
    proc = run("--store", store, "pull", str(tmp_path / "p" / "q" / "r"), "--env", "nothing")
    assert proc.returncode == 1
    assert not (tmp_path / "p").exists()


def test_progress_bar_only_on_a_terminal_stderr(store: str, src: Path) -> None:
    leader, follower = os.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "statesync.cli", "--store", store, "push", str(src)],
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=120,
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert proc.returncode == 0
    assert b"push [" in drawn and b"%" in drawn
    assert proc.stdout.startswith("pushed 2 files") and "[" not in proc.stdout
