"""The coding agent's state folder (state.json, tasks/, sessions/, logs/, reports/) kept
by statesync instead of hand-rolled autosave, backups and corruption recovery
(the README recipe "Coding-agent state folder")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from statesync.api import Store
from tests.helpers import tree, write


def _state(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    done = [t for t in tasks if t["status"] == "completed"]
    return {
        "tasks": tasks,
        "sessions": [{"id": "session_1", "tool": "CLAUDECODE"}],
        "metrics": {
            "total_tasks": len(tasks),
            "completed_tasks": len(done),
            "failed_tasks": 0,
            "average_completion_time": 5400,
        },
        "last_saved": "2024-01-01T11:30:00Z",
    }


def _save(store: Store, folder: Path, tasks: list[dict[str, Any]], why: str) -> str:
    """The agent's saveState + saveTask: write the files, then one push (the autosave)."""
    write(folder, "state.json", _state(tasks))
    for task in tasks:
        write(folder, f"tasks/{task['id']}.json", task)
    return store.push(folder, "agent", message=why).snapshot


def test_push_per_change_history_as_backups_and_recovery(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    store = Store.init(url)
    folder = tmp_path / "coding-agent-state"
    (folder / "sessions").mkdir(parents=True)
    task: dict[str, Any] = {
        "id": "task_1",
        "description": "Implement authentication",
        "status": "pending",
        "tool": "CLAUDECODE",
        "created_at": "2024-01-01T10:00:00Z",
        "logs": [],
    }
    first = _save(store, folder, [task], "task created")
    task = {**task, "status": "completed", "result": {"files_created": ["auth.js"]}}
    write(folder, "logs/session_1.log", "10:05 task started\n11:30 task done\n")
    write(folder, "reports/report_1.json", {"task": "task_1", "tests_passed": True})
    _save(store, folder, [task], "task completed")
    good = tree(folder)

    # a crash mid-write leaves a torn state.json: the store has the last good one
    (folder / "state.json").write_text('{"tasks": [{"id": "task_1", "sta')
    with pytest.raises(json.JSONDecodeError):
        json.loads((folder / "state.json").read_text())
    assert store.status(folder, "agent").modified == ["state.json"]
    store.pull(folder, "agent", force=True)
    assert (
        tree(folder) == good
        and json.loads((folder / "state.json").read_text())["metrics"]["completed_tasks"] == 1
    )
    good_snapshot = store.log("agent")[0].snapshot

    # torn again, and an autosave pushed it before anyone noticed: roll back to the good one
    (folder / "state.json").write_text('{"tasks": [')
    store.push(folder, "agent", message="autosave")
    store.rollback("agent", good_snapshot, "recover torn state.json")
    store.pull(folder, "agent", force=True)
    assert tree(folder) == good

    # the backups are the environment's history: any earlier save, from any machine
    log = store.log("agent")
    assert [e.message for e in log][2:] == ["task completed", "task created"]
    assert log[-1].snapshot == first
    old = tmp_path / "restore"
    env = {
        **os.environ,
        "HOME": str(tmp_path / "other-machine"),
        "XDG_DATA_HOME": str(tmp_path / "other-machine/data"),
        "XDG_CONFIG_HOME": str(tmp_path / "other-machine/config"),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "statesync.cli",
            "--store",
            url,
            "pull",
            str(old),
            "--snapshot",
            first[:12],
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((old / "tasks/task_1.json").read_text())["status"] == "pending"
    assert not (old / "reports").exists()
