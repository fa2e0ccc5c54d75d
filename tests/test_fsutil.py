"""The one atomic writer: old bytes or new ones, mode set before the rename, no temp left."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from statesync import fsutil


def test_write_replaces_the_file_with_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old")
    target.chmod(0o644)
    fsutil.write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["f.json"]


def test_a_failure_midway_keeps_the_old_bytes_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), fsutil.atomic_writer(target) as out:
        out.write(b"half of the new")
        raise RuntimeError("disk full, say")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["record.json"]


def test_a_failing_rename_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "record.json"
    target.write_bytes(b"old")

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        fsutil.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["record.json"]


def test_the_mode_is_set_before_the_first_byte(tmp_path: Path) -> None:
    target = tmp_path / "key"
    with fsutil.atomic_writer(target, mode=0o640) as out:
        assert os.fstat(out.fileno()).st_mode & 0o777 == 0o640
        out.write(b"k")
    assert target.stat().st_mode & 0o777 == 0o640


def test_exclusive_never_replaces_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "signing.key"
    fsutil.write_atomic(target, b"first", exclusive=True)
    with pytest.raises(FileExistsError):
        fsutil.write_atomic(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["signing.key"]


def test_make_parents_creates_private_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "trust.json"
    fsutil.write_atomic(target, b"{}", make_parents=True)
    assert target.read_bytes() == b"{}"
    assert (tmp_path / "a" / "b").stat().st_mode & 0o777 == 0o700


def test_sha256_file_reads_in_blocks(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert fsutil.sha256_file(path) == hashlib.sha256(data).hexdigest()
