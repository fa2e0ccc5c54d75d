"""Unit tests of the torn-read guard: :func:`read_stable` and its whole-file form
:func:`read_stable_bytes` give one version of a file, or TornFile, or the OSError."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statesync.errors import TornFile
from statesync.sync.folder import stable
from statesync.sync.folder.stable import StableRead, read_stable, read_stable_bytes

Reader = Callable[[Path, str], StableRead[bytes]]


def _via_stream(path: Path, shown: str) -> StableRead[bytes]:
    return read_stable(path, lambda fh: fh.read(), shown)


READERS = pytest.mark.parametrize("read", [_via_stream, read_stable_bytes], ids=["stream", "bytes"])


def _aged(path: Path, data: bytes) -> Path:
    """``path`` holding ``data``, its stamps moved out of the racy window."""
    path.write_bytes(data)
    old = time.time_ns() - 10 * stable.RACY_NS
    os.utime(path, ns=(old, old))
    return path


@READERS
@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 1 << 20, (3 << 20) + 7])
def test_a_quiet_file_reads_whole_with_its_stat(read: Reader, size: int, tmp_path: Path) -> None:
    data = os.urandom(size)
    path = _aged(tmp_path / "f.bin", data)
    got = read(path, "f.bin")
    assert got.value == data
    assert stable.file_stamp(got.st) == stable.file_stamp(os.lstat(path))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=20_000))
def test_any_content_reads_back_exactly(data: bytes, tmp_path: Path) -> None:
    path = _aged(tmp_path / "doc.json", data)
    assert read_stable_bytes(path, "doc.json").value == data == _via_stream(path, "x").value


@READERS
def test_a_vanished_file_is_the_oserror(read: Reader, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read(tmp_path / "gone.json", "gone.json")


@READERS
def test_a_just_written_file_waits_out_the_racy_window(read: Reader, tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    path.write_bytes(b"{}")
    t0 = time.monotonic()
    got = read(path, "new.json")
    assert got.value == b"{}"
    # Its stamps are within RACY_NS of the read: the read waited until they were not.
    assert time.monotonic() - t0 >= stable.RACY_NS / 1e9 * 0.9


def _rewrite_during_first_read(
    monkeypatch: pytest.MonkeyPatch, path: Path, new: bytes, times: int = 1
) -> list[int]:
    """Make the first ``times`` reads of ``path`` race a writer that replaces it in place."""
    calls: list[int] = []
    real = stable._read_to_end

    def racing(fd: int, size: int) -> bytes:
        calls.append(size)
        data = real(fd, size)
        if len(calls) <= times:
            with open(path, "r+b") as fh:  # in place: same inode, new size and stamps
                fh.write(new + b" " * len(calls))
                fh.truncate()
        return data

    monkeypatch.setattr(stable, "_read_to_end", racing)
    monkeypatch.setattr(stable, "RACY_NS", 0)
    return calls


def test_bytes_a_read_raced_by_a_writer_is_read_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _aged(tmp_path / "state.json", b'{"v": 1}')
    calls = _rewrite_during_first_read(monkeypatch, path, b'{"v": 2, "more": true}')
    got = read_stable_bytes(path, "state.json")
    assert len(calls) == 2
    assert got.value == b'{"v": 2, "more": true} '  # the version after the write, whole
    assert got.st.st_size == len(got.value)


def test_bytes_a_file_that_never_settles_is_torn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _aged(tmp_path / "state.json", b'{"v": 1}')
    monkeypatch.setattr(stable, "_PAUSE", 0.001)
    calls = _rewrite_during_first_read(monkeypatch, path, b'{"v": 2}', times=stable.TRIES)
    with pytest.raises(TornFile, match=r"state\.json: the file kept changing"):
        read_stable_bytes(path, "state.json")
    assert len(calls) == stable.TRIES


def test_read_to_end_of_a_grown_file_stops_one_byte_past_the_stat(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    fd = os.open(path, os.O_RDONLY)
    try:  # the stat said 10: one read of 11 tells the count differs
        assert stable._read_to_end(fd, 10) == b"x" * 11
    finally:
        os.close(fd)


def test_read_to_end_after_a_short_read_reads_on(tmp_path: Path) -> None:
    # A pipe hands out what was written so far: the first read is short of the size.
    r, w = os.pipe()
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, time\n"
            "fd = int(sys.argv[1])\n"
            "os.write(fd, b'a' * 10)\n"
            "time.sleep(0.3)\n"
            "os.write(fd, b'b' * 5000)\n",
            str(w),
        ],
        pass_fds=(w,),
    )
    os.close(w)
    try:
        assert stable._read_to_end(r, 5010) == b"a" * 10 + b"b" * 5000
    finally:
        os.close(r)
        writer.wait(timeout=10)


def test_read_to_end_of_a_shrunk_file_is_short(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"y" * 7)
    fd = os.open(path, os.O_RDONLY)
    try:  # the stat said 4096: the count differs, so the caller reads again
        assert stable._read_to_end(fd, 4096) == b"y" * 7
    finally:
        os.close(fd)
