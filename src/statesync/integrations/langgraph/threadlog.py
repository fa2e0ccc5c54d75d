"""Threads on a local store: one append-only, checksummed log file per thread.

On a ``file://`` store a thread's checkpoints and pending writes are records of
one file, ``langgraph/threads/<thread>/log`` (the thread's name from
:func:`layout.langgraph_name`), instead of one object per checkpoint plus a
head (:mod:`statesync.integrations.langgraph.threads`, kept for every other
backend). A put is one ``pwrite`` and one ``fdatasync`` of a file that already
exists, as sqlite's WAL commit is; only the first record of a thread creates
the file (and fsyncs its folders up to the store's root).

Record layout, back to back from offset 0::

    length (4, big-endian: of the frame) | serial (8, big-endian)
    | CRC-32 of length+serial (4) | CRC-32 of the frame (4) | frame

``frame`` is the signed (and, for an encrypted thread, sealed) object of
:mod:`statesync.integrations.langgraph.frame`, whose *slot* is
``langgraph/threads/<thread>/log/<serial>``: a record moved to another thread,
store or position does not verify. Its msgpack record has ``t``: ``"c"`` (a
checkpoint: ``thread``, ``ns``, ``id``, ``parent``, ``run``, ``cp``, ``meta``),
``"w"`` (pending writes of one checkpoint: ``thread``, ``ns``, ``cp``,
``writes`` rows ``[task, path, idx, channel, type, bytes]``) or ``"r"`` (a
reset: the first record of a rewritten log). Serials grow by one per record,
and a rewrite continues them, so a reader that saw serial *n* refuses a log
whose last serial is lower (a rolled-back or replayed file):
:class:`IntegrityError`.

Writers take an exclusive ``flock`` on the file (checking, once they hold it,
that the path still names the file they locked: a rewrite renames a new file
over it), read any records other processes appended since, append theirs and
``fdatasync`` before releasing: two processes writing one thread both land.
A *torn tail* (what a crash leaves of a write it interrupted, never
acknowledged) is ignored by readers and cut off by the next writer under the
lock: fewer bytes than a header; a valid header whose frame runs past the end
of the file; a valid header whose frame fails its CRC and ends exactly at the
end of the file; or zero bytes to the end of the file. Anything else is damage:
a header failing its CRC (a flipped length cannot make later records vanish as
a torn tail), a frame failing its CRC before the last record, a valid header
with an absurd length, a record whose CRCs hold but whose frame does not
verify: :class:`IntegrityError`, never a skipped or cut record.

Readers keep an index per thread (the offset of each checkpoint's newest
record, the merged pending writes) and refresh it by reading only the bytes
past the size they indexed (``stat``: same file, larger); a file replaced by a
rewrite is read again from the start. Records this process wrote or verified
are kept decoded in a byte-bounded LRU; others are read again by offset and
verified. Deleting, pruning and ``delete_for_runs`` rewrite the log (kept
records re-encoded after a reset record, into a temporary file fsynced and
renamed over the log under its lock); ``copy_thread`` appends to the target's.

A thread the object layout holds on the same store (written before thread
logs existed) is copied into its log on first use, once
(:func:`statesync.integrations.langgraph.maintenance.migrate_to_log`).

Pending writes merge as the object layout's do: a row already stored for
``(task, idx)`` is kept when ``idx >= 0``, replaced for special writes; a
``put_writes`` that changes nothing appends nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statesync.backends.base import Backend
from statesync.backends.local import LocalBackend
from statesync.errors import BackendUnavailable, IntegrityError, ObjectChanged
from statesync.fsutil import fsync_dir
from statesync.integrations.langgraph.cache import ByteLRU
from statesync.integrations.langgraph.frame import Sealer
from statesync.sync.store import layout

Row = list[Any]
_HEADER = struct.Struct(">IQII")  # length, serial, header CRC, frame CRC
_LENSERIAL = struct.Struct(">IQ")
#: The largest frame a reader accepts (a checkpoint holds the graph's whole state).
MAX_FRAME = 1 << 30
LOG_NAME = "log"


def local_root(backend: Backend) -> Path | None:
    """The folder of a local store under any wrappers (retries, faults); None otherwise."""
    seen = 0
    while not isinstance(backend, LocalBackend):
        inner = getattr(backend, "inner", None)
        if not isinstance(inner, Backend) or seen > 8:
            return None
        backend, seen = inner, seen + 1
    return backend.root


def log_key(thread: str) -> str:
    """The store key of a thread's log."""
    return f"{layout.langgraph_thread_prefix(thread)}{LOG_NAME}"


@dataclass
class _Entry:
    """Where the newest record of one checkpoint is."""

    offset: int
    length: int
    serial: int
    run: str | None


@dataclass
class _Index:
    """What this process knows of one thread's log (all guarded by the thread's lock)."""

    ino: int = -1
    size: int = 0  # bytes indexed: the end of the last good record
    serial: int = 0  # the last record's serial
    encrypted: bool = False
    thread_id: str = ""
    checkpoints: dict[str, dict[str, _Entry]] = field(default_factory=dict)  # ns -> id -> entry
    newest: dict[str, str] = field(default_factory=dict)  # ns -> highest checkpoint id
    writes: dict[tuple[str, str], dict[tuple[str, int], Row]] = field(default_factory=dict)

    def clear(self) -> None:
        self.checkpoints.clear()
        self.newest.clear()
        self.writes.clear()


@dataclass(frozen=True)
class Found:
    """One checkpoint record (verified) with its merged pending writes."""

    record: dict[str, Any]
    rows: list[Row]


class ThreadLogs:
    """Reads and writes thread logs under a local store's folder (thread-safe)."""

    def __init__(self, root: Path, sealer: Sealer, *, encrypt: bool) -> None:
        self.root, self.sealer, self.encrypt = root, sealer, encrypt
        self._indexes: dict[str, _Index] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._floor: dict[str, int] = {}
        self._mu = threading.Lock()
        self._records: ByteLRU[dict[str, Any]] = ByteLRU()
        self._paths: dict[str, Path] = {}

    # --- paths and locks ---------------------------------------------------------

    def _path(self, thread: str) -> Path:
        path = self._paths.get(thread)
        if path is None:
            path = self._paths[thread] = self.root.joinpath(*log_key(thread).split("/"))
        return path

    def _lock(self, thread: str) -> threading.Lock:
        with self._mu:
            return self._locks.setdefault(thread, threading.Lock())

    def _index(self, thread: str) -> _Index:
        idx = self._indexes.get(thread)
        if idx is None:
            idx = self._indexes[thread] = _Index()
        return idx

    def exists(self, thread: str) -> bool:
        """Whether the thread has a log."""
        return self._path(thread).is_file()

    def adopt(self, thread: str, records: list[dict[str, Any]], *, seal: bool) -> None:
        """Append ``records`` only if the log has none yet (a migration: whoever takes
        the lock first writes them, once)."""
        self._append(thread, lambda idx: records if idx.serial == 0 else [], seal=seal)

    def threads(self) -> list[str]:
        """The names of every thread that has a log."""
        base = self.root.joinpath(*layout.LANGGRAPH.rstrip("/").split("/"))
        try:
            names = os.listdir(base)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if (base / n / LOG_NAME).is_file())

    # --- reading -------------------------------------------------------------------

    def refresh(self, thread: str) -> _Index:
        """The thread's index, brought up to date with the file (absent: empty)."""
        with self._guarded(thread):
            return self._refresh(thread)

    def _refresh(self, thread: str) -> _Index:
        idx = self._index(thread)
        path = self._path(thread)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if idx.ino != -1:  # the log went away: only a rewrite replaces it
                raise IntegrityError(
                    f"{log_key(thread)}: thread log removed from the store"
                ) from None
            return idx
        if st.st_ino == idx.ino and st.st_size == idx.size:
            return idx
        with _opened(path, os.O_RDONLY) as fd:
            self._catch_up(thread, idx, fd)
        return idx

    def _catch_up(self, thread: str, idx: _Index, fd: int) -> int:
        """Index the records past ``idx.size`` in open file ``fd``; returns the file size."""
        st = os.fstat(fd)
        if st.st_ino != idx.ino or st.st_size < idx.size:
            idx.ino, idx.size, idx.serial = st.st_ino, 0, 0
            idx.clear()
        if st.st_size == idx.size:
            return st.st_size
        data = os.pread(fd, st.st_size - idx.size, idx.size)
        for offset, serial, frame in _records(log_key(thread), data, idx.size, idx.serial):
            self._index_record(thread, idx, offset, serial, frame)
        floor = self._floor.get(thread, 0)
        if idx.serial < floor:
            raise IntegrityError(
                f"{log_key(thread)}: last serial {idx.serial} is lower than {floor}, "
                "seen before (a replayed or rolled-back log)"
            )
        self._floor[thread] = idx.serial
        return st.st_size

    def _index_record(
        self, thread: str, idx: _Index, offset: int, serial: int, frame: bytes
    ) -> None:
        opened = self.sealer.decode(_slot(thread, serial), frame)
        rec = opened.record
        self._check_thread(thread, rec)
        if offset == 0 and serial != 1 and rec.get("t") != "r":
            raise IntegrityError(
                f"{log_key(thread)}: starts at serial {serial} (its first records removed)"
            )
        idx.encrypted = idx.encrypted or opened.encrypted
        self._apply(thread, idx, rec, offset, len(frame), serial)
        idx.size = offset + _HEADER.size + len(frame)
        idx.serial = serial

    def _apply(
        self, thread: str, idx: _Index, rec: dict[str, Any], offset: int, length: int, serial: int
    ) -> None:
        """Fold one verified record into the index."""
        kind = rec.get("t")
        idx.thread_id = str(rec.get("thread", idx.thread_id))
        if kind == "r":
            idx.clear()
        elif kind == "c":
            ns, cp = str(rec["ns"]), str(rec["id"])
            run = rec.get("run")
            entry = _Entry(offset, length, serial, None if run is None else str(run))
            idx.checkpoints.setdefault(ns, {})[cp] = entry
            if cp > idx.newest.get(ns, ""):
                idx.newest[ns] = cp
            self._records.put(_rkey(thread, serial), rec, length)
        elif kind == "w":
            rows = rec.get("writes")
            if not isinstance(rows, list) or not all(
                isinstance(r, list) and len(r) == 6 for r in rows
            ):
                raise IntegrityError(f"{log_key(thread)}: malformed pending writes")
            _merge(idx.writes.setdefault((str(rec["ns"]), str(rec["cp"])), {}), rows)
        else:
            raise IntegrityError(f"{log_key(thread)}: unknown record kind {kind!r}")

    def _check_thread(self, thread: str, rec: dict[str, Any]) -> None:
        """A record must name this thread, and carry the ids its kind needs."""
        need = {"c": ("ns", "id"), "w": ("ns", "cp")}.get(str(rec.get("t")), ())
        ok = isinstance(rec.get("thread"), str) and all(isinstance(rec.get(f), str) for f in need)
        if not ok or layout.langgraph_name(str(rec["thread"])) != thread:
            raise IntegrityError(
                f"{log_key(thread)}: holds another thread's record (moved or tampered)"
            )

    def _record(self, thread: str, entry: _Entry, ino: int) -> dict[str, Any]:
        """The checkpoint record at ``entry`` of file ``ino`` (kept, or read again and
        verified); :class:`ObjectChanged` if the log is another file now (rewritten)."""
        got = self._records.get(_rkey(thread, entry.serial))
        if got is not None:
            return got
        with _opened(self._path(thread), os.O_RDONLY) as fd:
            if os.fstat(fd).st_ino != ino:
                raise ObjectChanged(f"{log_key(thread)}: rewritten since it was indexed")
            raw = os.pread(fd, _HEADER.size + entry.length, entry.offset)
        found = list(_records(log_key(thread), raw, entry.offset, entry.serial - 1))
        if len(found) != 1 or found[0][1] != entry.serial:
            raise IntegrityError(f"{log_key(thread)}: record at {entry.offset} is damaged")
        opened = self.sealer.decode(_slot(thread, entry.serial), found[0][2])
        self._check_thread(thread, opened.record)
        self._records.put(_rkey(thread, entry.serial), opened.record, entry.length)
        return opened.record

    def latest(self, thread: str, ns: str) -> Found | None:
        """The newest checkpoint (by id) of ``ns`` in the thread, or None."""
        with self._guarded(thread):
            idx = self._refresh(thread)
            newest = idx.newest.get(ns)
            return None if newest is None else self._found(thread, idx, ns, newest)

    def get(self, thread: str, ns: str, checkpoint_id: str) -> Found | None:
        """Checkpoint ``checkpoint_id`` of ``ns`` in the thread, or None."""
        with self._guarded(thread):
            idx = self._refresh(thread)
            if checkpoint_id not in idx.checkpoints.get(ns, {}):
                return None
            return self._found(thread, idx, ns, checkpoint_id)

    def _found(self, thread: str, idx: _Index, ns: str, cp: str) -> Found | None:
        """Checkpoint ``cp`` of ``ns`` by the index (read again if the log was rewritten
        since it was indexed: the checkpoint may be gone)."""
        while True:
            entry = idx.checkpoints.get(ns, {}).get(cp)
            if entry is None:
                return None
            try:
                rec = self._record(thread, entry, idx.ino)
            except ObjectChanged:
                idx = self._refresh(thread)
                continue
            return Found(rec, list(idx.writes.get((ns, cp), {}).values()))

    def entries(self, thread: str) -> list[tuple[str, str, _Entry]]:
        """``(ns, checkpoint id, entry)`` of every checkpoint in the thread."""
        with self._guarded(thread):
            idx = self._refresh(thread)
            return [(ns, cp, e) for ns, cps in idx.checkpoints.items() for cp, e in cps.items()]

    def found(self, thread: str, ns: str, cp: str) -> Found | None:
        """Like :meth:`get`, without refreshing the index (for ``list``)."""
        with self._guarded(thread):
            idx = self._index(thread)
            if cp not in idx.checkpoints.get(ns, {}):
                return None
            return self._found(thread, idx, ns, cp)

    def sealed(self, thread: str) -> bool:
        """Whether records of ``thread`` are written sealed (sticky once one is)."""
        return self.encrypt or self.refresh(thread).encrypted

    # --- writing -------------------------------------------------------------------

    def put_checkpoint(self, thread: str, record: dict[str, Any]) -> None:
        """Append one checkpoint record (``t`` is set here)."""
        self._append(thread, lambda idx: [{**record, "t": "c"}])

    def put_writes(self, thread: str, base: dict[str, Any], rows: list[Row]) -> None:
        """Append the rows that change the checkpoint's pending writes (none: nothing)."""
        key = (str(base["ns"]), str(base["cp"]))

        def build(idx: _Index) -> list[dict[str, Any]]:
            changed = _merge(dict(idx.writes.get(key, {})), rows)
            return [{**base, "t": "w", "writes": changed}] if changed else []

        self._append(thread, build)

    def append_records(self, thread: str, records: list[dict[str, Any]], *, seal: bool) -> None:
        """Append finished records (each with its ``t``) in one durable write
        (``seal``: sealed even if the thread is not yet)."""
        self._append(thread, lambda idx: records, seal=seal)

    def _append(
        self, thread: str, build: Callable[[_Index], list[dict[str, Any]]], *, seal: bool = False
    ) -> None:
        with (
            self._os_errors(thread),
            self._lock(thread),
            self._locked_file(thread) as (fd, created),
        ):
            idx = self._index(thread)
            size = self._catch_up(thread, idx, fd)
            if size > idx.size:  # a torn tail: cut it
                os.ftruncate(fd, idx.size)
            records = build(idx)
            if not records:
                return
            sealed = seal or self.encrypt or idx.encrypted
            parts, placed, at, serial = [], [], idx.size, idx.serial
            for rec in records:
                serial += 1
                frame = self.sealer.encode(_slot(thread, serial), rec, encrypt=sealed)
                parts.append(_frame_header(serial, frame))
                parts.append(frame)
                placed.append((rec, at, len(frame), serial))
                at += _HEADER.size + len(frame)
            _write_all(fd, b"".join(parts), idx.size)
            os.fdatasync(fd)
            if created or idx.size == 0:
                # The log's first record: its name (and its folders', which a writer
                # that died may have made without syncing) must be durable too.
                _fsync_chain(self._path(thread).parent, self.root)
            for rec, offset, length, s in placed:
                self._apply(thread, idx, rec, offset, length, s)
            idx.size, idx.serial, idx.encrypted = at, serial, sealed
            self._floor[thread] = serial

    @contextlib.contextmanager
    def _os_errors(self, thread: str) -> Iterator[None]:
        """What the OS refuses on a log: one-line :class:`BackendUnavailable`."""
        try:
            yield
        except OSError as exc:
            raise BackendUnavailable(
                f"cannot use {log_key(thread)} in store {self.root}: {exc.strerror or exc}"
            ) from None

    @contextlib.contextmanager
    def _guarded(self, thread: str) -> Iterator[None]:
        """The thread's lock in this process, OS errors as one-line errors."""
        with self._os_errors(thread), self._lock(thread):
            yield

    @contextlib.contextmanager
    def _locked_file(self, thread: str) -> Iterator[tuple[int, bool]]:
        """The thread's log, open and ``flock``ed (made if absent): ``(fd, made now)``."""
        path = self._path(thread)
        while True:
            created = False
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                _make_dirs(path.parent)
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                    created = True
                except FileExistsError:
                    continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    same = os.stat(path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    yield fd, created
                    return
            finally:
                os.close(fd)

    def rewrite(self, thread: str, keep: Callable[[str, str, dict[str, Any], str], bool]) -> None:
        """Rewrite the log with only the checkpoints ``keep(ns, id, record, newest id of
        ns)`` accepts
        (and their pending writes), after a reset record; absent log: nothing."""
        if not self._path(thread).is_file():
            return
        with self._os_errors(thread), self._lock(thread), self._locked_file(thread) as (fd, _):
            idx = self._index(thread)
            self._catch_up(thread, idx, fd)
            if idx.serial == 0:
                return  # an empty log (its first writer died): nothing to keep or drop
            records: list[dict[str, Any]] = [{"t": "r", "thread": idx.thread_id}]
            for ns, cps in idx.checkpoints.items():
                newest = max(cps, default="")
                for cp in sorted(cps):
                    rec = self._record(thread, cps[cp], idx.ino)
                    if not keep(ns, cp, rec, newest):
                        continue
                    records.append(rec)
                    rows = list(idx.writes.get((ns, cp), {}).values())
                    if rows:
                        records.append(
                            {"t": "w", "thread": idx.thread_id, "ns": ns, "cp": cp, "writes": rows}
                        )
            self._replace(thread, idx, records)

    def _replace(self, thread: str, idx: _Index, records: list[dict[str, Any]]) -> None:
        path = self._path(thread)
        sealed = self.encrypt or idx.encrypted
        serial, parts = idx.serial, []
        for rec in records:
            serial += 1
            frame = self.sealer.encode(_slot(thread, serial), rec, encrypt=sealed)
            parts += [_frame_header(serial, frame), frame]
        tmpdir = self.root / ".tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        tfd, tmp = tempfile.mkstemp(dir=tmpdir)
        try:
            _write_all(tfd, b"".join(parts), 0)
            os.fsync(tfd)
            os.rename(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        finally:
            os.close(tfd)
        fsync_dir(path.parent, strict=True)
        self._floor[thread] = serial
        idx.ino = -2  # read the new file from its start on the next refresh
        with contextlib.suppress(OSError):
            self._refresh(thread)


def _merge(state: dict[tuple[str, int], Row], rows: list[Row]) -> list[Row]:
    """Fold ``rows`` into ``state``; returns the rows that changed it."""
    changed = []
    for row in rows:
        at = (str(row[0]), int(row[2]))
        if at[1] >= 0 and at in state:
            continue
        if state.get(at) != row:
            state[at] = row
            changed.append(row)
    return changed


def _slot(thread: str, serial: int) -> str:
    return f"{log_key(thread)}/{serial}"


def _rkey(thread: str, serial: int) -> str:
    """Cache key of a record: serials never repeat in a thread (rewrites continue them),
    offsets do (a rewritten log puts other records at the same offsets)."""
    return f"{thread}#{serial}"


def _frame_header(serial: int, frame: bytes) -> bytes:
    head = _LENSERIAL.pack(len(frame), serial)
    return head + struct.pack(">II", zlib.crc32(head), zlib.crc32(frame))


def _records(where: str, data: bytes, base: int, serial: int) -> Iterator[tuple[int, int, bytes]]:
    """``(offset, serial, frame)`` of each whole record of ``data`` (read at ``base``),
    stopping at a torn tail; damage before the tail raises :class:`IntegrityError`."""
    at, end = 0, len(data)
    while end - at >= _HEADER.size:
        length, got, hcrc, fcrc = _HEADER.unpack_from(data, at)
        if zlib.crc32(data[at : at + _LENSERIAL.size]) != hcrc:
            if not data[at:].strip(b"\0"):
                return  # torn: a tail of zeros (a size extended before its data)
            raise IntegrityError(f"{where}: record header at byte {base + at} is damaged")
        stop = at + _HEADER.size + length
        if length > MAX_FRAME:
            raise IntegrityError(f"{where}: record at byte {base + at} is too large")
        if stop > end:
            return  # torn: the header promises more than was written
        frame = data[at + _HEADER.size : stop]
        if zlib.crc32(frame) != fcrc:
            if stop == end:
                return  # the last record, torn by a crash
            raise IntegrityError(f"{where}: record at byte {base + at} is damaged (checksum)")
        if serial and got != serial + 1:
            raise IntegrityError(
                f"{where}: record at byte {base + at} has serial {got}, "
                f"expected {serial + 1} (records removed or reordered)"
            )
        yield base + at, got, frame
        serial, at = got, stop


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


@contextlib.contextmanager
def _opened(path: Path, flags: int) -> Iterator[int]:
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise BackendUnavailable(f"cannot open thread log {path}: {exc.strerror}") from None
    try:
        yield fd
    finally:
        os.close(fd)


def _make_dirs(path: Path) -> None:
    """Make ``path`` and its parents (synced by :func:`_fsync_chain` with the first record)."""
    path.mkdir(parents=True, exist_ok=True)


def _fsync_chain(path: Path, root: Path) -> None:
    """fsync ``path`` and each folder above it up to ``root`` (included)."""
    p = path
    while True:
        fsync_dir(p, strict=True)
        if p == root or p.parent == p:
            return
        p = p.parent
