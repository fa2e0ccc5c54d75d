"""The folder's record after push, pull and rebase: one shape, written by one function."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from statesync.api import Store
from statesync.sync.folder.workdir import WorkRecord, scan_folder
from statesync.sync.secrets.policy import SecretPolicy
from tests.helpers import write

FIELDS = {"snapshot", "serial", "files", "written_at_ns", "secrets_included", "sealing"}


def _record(folder: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((folder / ".statesync" / "state.json").read_text())
    return doc


def _env(folder: Path, store: Store, env: str) -> dict[str, Any]:
    rec: dict[str, Any] = _record(folder)["envs"][f"{store.store_id}/{env}"]
    return rec


def _check_rows(folder: Path, rec: dict[str, Any], paths: set[str]) -> None:
    assert set(rec["files"]) == paths
    for path, row in rec["files"].items():
        st = (folder / path).lstat()
        assert row[:3] == [st.st_size, st.st_mtime_ns, st.st_ino]
        assert row[3]["path"] == path and isinstance(row[3]["chunks"], list)


def test_push_pull_and_rebase_write_the_same_record(tmp_path: Path) -> None:
    store = Store.init(str(tmp_path / "store"))
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "state.json", {"x": 1})
    write(a, "notes.txt", "hi\n")
    pushed = store.push(a, "dev")
    rec = _env(a, store, "dev")
    assert set(rec) == FIELDS
    assert (rec["snapshot"], rec["serial"]) == (pushed.snapshot, 1)
    assert rec["secrets_included"] is False and rec["sealing"] == {}
    assert rec["written_at_ns"] > 0
    assert _record(a)["serials"][f"{store.store_id}/dev"] == 1
    _check_rows(a, rec, {"state.json", "notes.txt"})

    store.pull(b, "dev")
    rec_b = _env(b, store, "dev")
    assert set(rec_b) == FIELDS and (rec_b["snapshot"], rec_b["serial"]) == (pushed.snapshot, 1)
    _check_rows(b, rec_b, {"state.json", "notes.txt"})

    write(b, "other.txt", "from b\n")
    store.push(b, "dev")
    write(a, "mine.txt", "from a\n")
    merged = store.push(a, "dev", rebase=True)
    rec = _env(a, store, "dev")
    assert set(rec) == FIELDS and (rec["snapshot"], rec["serial"]) == (merged.snapshot, 3)
    _check_rows(a, rec, {"state.json", "notes.txt", "other.txt", "mine.txt"})
    assert _record(a)["serials"][f"{store.store_id}/dev"] == 3


def test_is_unchanged_agrees_with_cached_entry_file_by_file(tmp_path: Path) -> None:
    """The cheap stat-cache test (no entry built) says what ``cached_entry`` says."""
    store = Store.init(str(tmp_path / "store"))
    a = tmp_path / "a"
    for name in ("one.json", "two.txt", "three.bin"):
        write(a, name, {"n": name} if name.endswith(".json") else name)
        os.utime(a / name, ns=(time.time_ns() - 60 * 10**9,) * 2)  # older than the racy window
    store.push(a, "dev")
    write(a, "two.txt", "changed, and longer than before")
    write(a, "new.txt", "not recorded")
    rec = WorkRecord.load(a).get(store.store_id, "dev")
    assert rec is not None
    scan = scan_folder(a, SecretPolicy())
    verdicts = {p: rec.is_unchanged(f) for p, f in scan.files.items()}
    assert verdicts == {"one.json": True, "two.txt": False, "three.bin": True, "new.txt": False}
    for p, f in scan.files.items():
        assert (rec.cached_entry(f) is not None) is verdicts[p]
