"""Damage the corruption suites did not cover yet: a deleted descriptor, a duplicated pack.

(Flips, truncations, swaps and deletions of packs, indexes, manifests, refs,
leases and keyrings are in tests/sync/test_{damage,repair,repair_packs,verify,
integrity}.py, tests/e2e/test_cli_{damage,repair,lease_damage}.py and
tests/e2e/test_attacker.py; see docs/RELIABILITY.md.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import tree, write
from tests.sync.crashlib import snapshot_bytes


def _pushed(tmp_path: Path) -> tuple[str, Path, Path]:
    url = (tmp_path / "store").as_uri()
    src = tmp_path / "src"
    write(src, "a.json", {"a": 1})
    write(src, "b.bin", os.urandom(200_000))
    assert run("--store", url, "init").returncode == 0
    assert run("--store", url, "push", str(src), "--env", "dev").returncode == 0
    target = tmp_path / "target"
    assert run("--store", url, "pull", str(target), "--env", "dev").returncode == 0
    return url, src, target


def test_a_deleted_descriptor_stops_every_command_and_nothing_is_written(tmp_path: Path) -> None:
    url, src, target = _pushed(tmp_path)
    store = tmp_path / "store"
    (store / "statesync.json").unlink()
    before, before_target = snapshot_bytes(store), snapshot_bytes(target)
    write(src, "a.json", {"a": 2})
    for args in (
        ("verify", "--read-data"),
        ("pull", str(target), "--env", "dev", "--force"),
        ("push", str(src), "--env", "dev"),
        ("repair",),
    ):
        assert_one_line_error(run("--store", url, *args), 1, "no statesync store")
    assert snapshot_bytes(store) == before
    assert snapshot_bytes(target) == before_target


def test_a_pack_duplicated_under_another_name_harms_nothing(tmp_path: Path) -> None:
    url, src, _ = _pushed(tmp_path)
    pack = next(p for p in (tmp_path / "store" / "objects").rglob("*") if p.is_file())
    twin = pack.with_name(("0" if pack.name[0] != "0" else "1") + pack.name[1:])
    shutil.copyfile(pack, twin)
    checked = run("--store", url, "verify", "--read-data")
    assert checked.returncode == 0, checked.stderr
    out = tmp_path / "out"
    assert run("--store", url, "pull", str(out), "--env", "dev").returncode == 0
    assert tree(out) == tree(src)
