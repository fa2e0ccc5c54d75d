"""Read a working-folder file so that what is read is one version of it, never a torn one.

An application may rewrite its files while a push reads them. A read counts
only if the file's identity and stamps (size, mtime_ns, ctime_ns, inode,
device) are the same before and after it, by ``fstat`` of the open
descriptor and ``lstat`` of the path (a rename over the path changes its
inode), the number of bytes read equals the size, and the file was last
changed at least :data:`RACY_NS` before the read began: file timestamps come
from a coarse clock, so a write in the same clock tick as the read would not
move them (git's "racily clean" problem), and a writer that has just
truncated the file may not have written its new bytes yet. Otherwise the file is read again,
after a short pause; after :data:`TRIES` reads it is :class:`TornFile`.

What no reader can see: a writer that pauses in the middle of writing for
longer than the racy window leaves a half-written file that is, to anyone
reading it then, that file's content. Applications should write atomically
(a temp file then a rename); this module makes sure a push never tears one.
"""

from __future__ import annotations

import operator
import os
import time
from collections.abc import Callable
from typing import BinaryIO, Generic, NamedTuple, TypeVar

from statesync.errors import TornFile

T = TypeVar("T")
#: A path as the ``os`` functions take it (a string is cheaper to make: workdir.LocalFile).
StrPath = str | os.PathLike[str]

#: Reads of one file before giving up.
TRIES = 5
#: A file changed this close to the start of a read may change again unseen:
#: file stamps come from a coarse clock (one tick, up to 10 ms), and a writer
#: that truncated the file may not have written its new bytes yet (a loaded
#: machine stalls it for tens of ms). Costs a push of just-written files one
#: wait of at most this long.
RACY_NS = 100_000_000
#: Pause before reading again, doubled each time (0.02 s .. 0.16 s).
_PAUSE = 0.02


#: What must stay the same across a read of one file, as one tuple (made 3 times a file:
#: a C getter, not a Python constructor).
file_stamp: Callable[[os.stat_result], tuple[int, int, int, int, int]] = operator.attrgetter(
    "st_size", "st_mtime_ns", "st_ctime_ns", "st_ino", "st_dev"
)


class _Counting:
    """A read-only stream that counts the bytes handed out."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self.count += len(data)
        return data

    def readinto(self, buf: bytearray | memoryview) -> int:
        n = self._fh.readinto(buf)  # type: ignore[attr-defined]
        self.count += int(n or 0)
        return int(n or 0)


class StableRead(NamedTuple, Generic[T]):
    """A value made from one consistent read, and the stat of the file it was read from."""

    value: T
    st: os.stat_result


class _Attempt(NamedTuple, Generic[T]):
    """One read of a file: what it made, the descriptor's stat around it, the bytes read."""

    value: T
    before: os.stat_result
    after: os.stat_result
    nread: int
    started: int  # time.time_ns() once the file had settled, before the first byte was read


def read_stable(path: StrPath, consume: Callable[[BinaryIO], T], shown: str) -> StableRead[T]:
    """``consume`` the open file until it reads one consistent version of it.

    ``consume`` may be called several times (each time on a fresh descriptor);
    whatever it produced from a read that did not count is dropped. Raises
    :class:`TornFile` naming ``shown`` after :data:`TRIES` reads, and passes
    :class:`OSError` through (the file vanished, is unreadable).
    """

    def once() -> _Attempt[T]:
        with open(path, "rb") as fh:
            before = os.fstat(fh.fileno())
            _settle(before)  # the stamps of the file opened, not of what the path named before
            started = time.time_ns()
            counting = _Counting(fh)
            value = consume(counting)  # type: ignore[arg-type]
            return _Attempt(value, before, os.fstat(fh.fileno()), counting.count, started)

    return _until_stable(path, once, shown)


def read_stable_bytes(path: StrPath, shown: str) -> StableRead[bytes]:
    """:func:`read_stable` of the file's whole content, on a bare descriptor.

    The same checks; no file object, no counting wrapper, and a file read in
    one ``read`` call when it holds the bytes its stat says (what a push of
    thousands of small documents spends its system calls on).
    """

    def once() -> _Attempt[bytes]:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            before = os.fstat(fd)
            _settle(before)
            started = time.time_ns()
            data = _read_to_end(fd, before.st_size)
            return _Attempt(data, before, os.fstat(fd), len(data), started)
        finally:
            os.close(fd)

    return _until_stable(path, once, shown)


def _read_to_end(fd: int, size: int) -> bytes:
    """The bytes from ``fd`` to its end; one ``read`` when the file holds ``size`` bytes.

    Asking for one byte more than ``size`` tells at once whether the file holds
    exactly ``size`` (a read of a regular file is short only at its end) or more
    (read no further: the count already differs from the stat, so the read is
    done again). A short read otherwise (over 2 GiB, a signal) reads on to the end.
    """
    first = os.read(fd, size + 1)
    if len(first) >= size:
        return first
    parts = [first]
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def _until_stable(path: StrPath, once: Callable[[], _Attempt[T]], shown: str) -> StableRead[T]:
    """Repeat ``once`` until a read counts (see the module), pausing between tries."""
    pause = _PAUSE
    for attempt in range(TRIES):
        read = once()
        now = os.lstat(path)
        if _unchanged(read.before, read.after, now, read.nread):
            if _last_change(read.after) < read.started - RACY_NS:
                return StableRead(read.value, read.after)
        elif attempt < TRIES - 1:
            time.sleep(pause)
            pause *= 2
    raise TornFile(
        f"{shown}: the file kept changing while it was read ({TRIES} tries); "
        "nothing was pushed (stop its writer, or write it atomically: temp + rename)"
    )


def _unchanged(
    before: os.stat_result, after: os.stat_result, now: os.stat_result, count: int
) -> bool:
    stamp = file_stamp(before)
    return file_stamp(after) == stamp == file_stamp(now) and count == before.st_size


def _settle(st: os.stat_result) -> None:
    """Wait until a change made after ``st`` would show in the file's stamps."""
    wait = _last_change(st) + RACY_NS - time.time_ns()
    if wait > 0:
        time.sleep(wait / 1e9)


def _last_change(st: os.stat_result) -> int:
    return max(st.st_mtime_ns, st.st_ctime_ns)
