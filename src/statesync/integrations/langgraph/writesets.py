"""Pending writes: one object per checkpoint, merged by conditional writes, batched.

``langgraph/threads/<thread>/<ns>/w/<checkpoint>`` holds every task's writes
against one checkpoint as rows ``[task, path, idx, channel, type, bytes]``. A
reader finds them with one GET (no listing). A write keeps a row already
stored for ``(task, idx)`` when ``idx >= 0`` (a retried task is not doubled)
and replaces it for special writes (negative ``idx``: error, interrupt, ...).

Writers of one checkpoint in this process queue their rows; whichever holds
the object's lock writes everything queued in one conditional write (from the
version it last wrote, so without reading first), and the others return once
their rows are in. Writers in other processes lose a conditional write now
and then, and merge again from what they read.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from statesync.backends.base import CREATE, Backend, PutMode, Update, Version
from statesync.errors import (
    AlreadyExists,
    IntegrityError,
    NotFound,
    PreconditionFailed,
    RefConflict,
)
from statesync.integrations.langgraph.cache import ByteLRU
from statesync.integrations.langgraph.frame import Sealer
from statesync.integrations.langgraph.threads import ATTEMPTS

Row = list[Any]
_STRIPES = 64


@dataclass(frozen=True)
class Stored:
    """A write set as last read or written: its bytes, version and record."""

    raw: bytes
    version: Version
    record: dict[str, Any]
    encrypted: bool


@dataclass
class _Request:
    rows: list[Row]
    sealed: bool
    done: bool = False
    error: BaseException | None = None


@dataclass
class _Queue:
    requests: list[_Request] = field(default_factory=list)


class WriteSets:
    """Reads and writes the pending-write objects of one store (thread-safe)."""

    def __init__(self, backend: Backend, sealer: Sealer) -> None:
        self.backend, self.sealer = backend, sealer
        self._stored: ByteLRU[Stored] = ByteLRU(16 * 1024 * 1024)
        self._queues: dict[str, _Queue] = {}
        self._mu = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]

    def read(self, key: str, owner: tuple[str, str, str]) -> list[Row]:
        """The rows at ``key`` (none if absent); ``owner`` is (thread id, ns, checkpoint id).

        Raises :class:`IntegrityError` if the object does not verify or belongs
        to another checkpoint.
        """
        got = self._get(key)
        if got is None:
            return []
        rec = got.record
        if (rec.get("thread"), rec.get("ns"), rec.get("cp")) != owner:
            raise IntegrityError(f"{key}: holds another checkpoint's writes (moved or tampered)")
        rows = rec.get("writes")
        if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 6 for r in rows):
            raise IntegrityError(f"{key}: malformed pending writes")
        return rows

    def add(self, key: str, base: dict[str, Any], rows: list[Row], *, sealed: bool) -> None:
        """Store ``rows`` in the write set at ``key`` (``base``: its thread, ns, cp fields)."""
        request = _Request(rows, sealed)
        with self._mu:
            self._queues.setdefault(key, _Queue()).requests.append(request)
        with self._stripes[hash(key) % _STRIPES]:
            if not request.done:
                with self._mu:
                    batch = self._queues.pop(key).requests
                try:
                    self._write(key, base, batch)
                except BaseException as exc:
                    for r in batch:
                        r.error = exc
                    raise
                finally:
                    for r in batch:
                        r.done = True
        if request.error is not None:
            raise request.error

    def forget(self, key: str) -> None:
        self._stored.discard(key)

    def _get(self, key: str) -> Stored | None:
        try:
            raw, version = self.backend.get(key)
        except NotFound:
            self._stored.discard(key)
            return None
        known = self._stored.get(key)
        if known is not None and known.raw == raw:
            return Stored(raw, version, known.record, known.encrypted)
        opened = self.sealer.decode(key, raw)
        got = Stored(raw, version, opened.record, opened.encrypted)
        self._stored.put(key, got, len(raw))
        return got

    def _write(self, key: str, base: dict[str, Any], batch: list[_Request]) -> None:
        new = [row for r in batch for row in r.rows]
        sealed = any(r.sealed for r in batch)
        current = self._stored.get(key)
        for _ in range(ATTEMPTS):
            merged = _merge(current.record["writes"] if current else [], new)
            if merged is None:
                return
            record = {**base, "writes": merged}
            sealed = sealed or bool(current and current.encrypted)
            data = self.sealer.encode(key, record, encrypt=sealed)
            mode: PutMode = Update(current.version) if current else CREATE
            try:
                version = self.backend.put(key, data, mode)
            except (PreconditionFailed, AlreadyExists):
                current = self._get(key)  # another process wrote: merge into theirs
                continue
            self._stored.put(key, Stored(data, version, record, sealed), len(data))
            return
        raise RefConflict(f"{key}: too many concurrent writers")


def _merge(stored: list[Row], new: list[Row]) -> list[Row] | None:
    """``stored`` with ``new`` rows added; None if nothing changes."""
    by_key = {(str(r[0]), int(r[2])): r for r in stored}
    changed = False
    for row in new:
        at = (str(row[0]), int(row[2]))
        if at[1] >= 0 and at in by_key:
            continue
        if by_key.get(at) != row:
            by_key[at] = row
            changed = True
    return list(by_key.values()) if changed else None
