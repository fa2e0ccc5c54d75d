"""Threads in the store: heads with conditional writes, content-addressed checkpoints.

A thread's *head* (``langgraph/threads/<thread>/head``) names the newest
checkpoint of each namespace, by id and by content address, and carries a
serial that grows with every write. It only moves forward, by the backend's
conditional write (the same ``Update(version)`` / ``CREATE`` that guards an
environment's ref): two processes putting checkpoints into one thread both
keep theirs, and the head ends at the newest. Deleting never removes a head:
it is replaced by an empty one with the next serial, so a reader that saw a
serial never accepts a lower one (a replayed head) from then on.

Checkpoints are immutable objects named by the SHA-256 of their bytes
(:func:`layout.langgraph_checkpoint_key`), so a put writes one small object and
the head, never a manifest of the whole thread, and a checkpoint read (or
written) once is cached by its key. Pending writes live in one object per
checkpoint (:mod:`statesync.integrations.langgraph.writesets`).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from datetime import datetime
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
from statesync.integrations.langgraph.frame import Opened, Sealer
from statesync.sync.store import codec, layout

#: How often a conditional write is retried against other writers before giving up.
ATTEMPTS = 100


@dataclass(frozen=True)
class Head:
    """A thread's head as read: newest ``(checkpoint id, digest)`` per namespace."""

    version: Version
    thread_id: str
    latest: dict[str, tuple[str, str]]
    encrypted: bool
    serial: int
    raw: bytes  # the stored bytes: an unchanged head is recognised, not verified again


@dataclass(frozen=True)
class Prepared:
    """A checkpoint encoded for the store: its content-addressed key and bytes."""

    key: str
    digest: str
    data: bytes
    record: dict[str, Any]
    sealed: bool


@dataclass(frozen=True)
class Listed:
    """A checkpoint object a listing found."""

    k: layout.LangGraphKey
    key: str
    modified: datetime | None


@dataclass
class Listing:
    """The keys one listing found: checkpoints, write sets by checkpoint, heads."""

    checkpoints: list[Listed] = field(default_factory=list)
    writes: dict[tuple[str, str, str], str] = field(default_factory=dict)
    heads: list[str] = field(default_factory=list)

    def writes_of(self, k: layout.LangGraphKey) -> str | None:
        return self.writes.get((k.thread, k.ns, k.checkpoint_id))

    def unique(self) -> list[Listed]:
        """One object per checkpoint id (the newest written, should one be put twice)."""
        best: dict[tuple[str, str, str], Listed] = {}
        for item in self.checkpoints:
            at = (item.k.thread, item.k.ns, item.k.checkpoint_id)
            kept = best.get(at)
            if kept is None or _newer(item, kept):
                best[at] = item
        return list(best.values())


def _newer(a: Listed, b: Listed) -> bool:
    if a.modified is None or b.modified is None:
        return a.key > b.key
    return (a.modified, a.key) > (b.modified, b.key)


class ThreadStore:
    """Reads and writes the heads and checkpoints of one store (thread-safe).

    ``encrypt`` seals every object this store writes; a thread whose head is
    sealed stays sealed whatever ``encrypt`` says (as ``--encrypt all`` is sticky).
    """

    def __init__(self, backend: Backend, sealer: Sealer, *, encrypt: bool) -> None:
        self.backend = backend
        self.sealer = sealer
        self.encrypt = encrypt
        #: The last head seen per thread (None: seen absent), so a put need not read it.
        self._heads: dict[str, Head | None] = {}
        #: The highest head serial seen per thread: a lower one is a replayed head.
        self._floor: dict[str, int] = {}
        self._checkpoints: ByteLRU[tuple[dict[str, Any], bool]] = ByteLRU()
        self._lock = threading.Lock()

    # --- checkpoints -----------------------------------------------------------

    def prepare_checkpoint(
        self, k: layout.LangGraphKey, record: dict[str, Any], *, sealed: bool
    ) -> Prepared:
        """The stored form of ``record`` as checkpoint ``k`` (whose digest is ignored)."""
        name = layout.langgraph_checkpoint_name(k.checkpoint_id)
        data = self.sealer.encode(
            layout.langgraph_checkpoint_slot(k.thread, k.ns, name), record, encrypt=sealed
        )
        digest = codec.sha256_hex(data)
        key = layout.langgraph_checkpoint_key(k.thread, k.ns, name, digest)
        return Prepared(key, digest, data, record, sealed)

    def store_checkpoint(self, prepared: Prepared) -> None:
        """Write a prepared checkpoint (create-only: the same name is the same bytes)."""
        with contextlib.suppress(AlreadyExists):  # written before: a retried put, a copy
            self.backend.put(prepared.key, prepared.data, CREATE)
        self._checkpoints.put(prepared.key, (prepared.record, prepared.sealed), len(prepared.data))

    def put_checkpoint(
        self, k: layout.LangGraphKey, record: dict[str, Any], *, sealed: bool
    ) -> str:
        """Store ``record`` as checkpoint ``k``; returns its digest."""
        prepared = self.prepare_checkpoint(k, record, sealed=sealed)
        self.store_checkpoint(prepared)
        return prepared.digest

    def checkpoint(
        self, k: layout.LangGraphKey, expect: tuple[str, str] | None = None
    ) -> tuple[dict[str, Any], bool] | None:
        """``(record, encrypted)`` of checkpoint object ``k``, or None if it is absent.

        The bytes must hash to the key's digest and verify at the key's slot,
        and the record must name ``expect`` (thread id, namespace), or the
        thread and namespace the key's names hash: :class:`IntegrityError`.
        """
        name = layout.langgraph_checkpoint_name(k.checkpoint_id)
        key = layout.langgraph_checkpoint_key(k.thread, k.ns, name, k.digest)
        cached = self._checkpoints.get(key)
        if cached is not None:
            return cached
        try:
            data, _ = self.backend.get(key)
        except NotFound:
            return None
        if codec.sha256_hex(data) != k.digest:
            raise IntegrityError(f"{key}: content does not match its name (damaged or swapped)")
        opened = self.sealer.decode(layout.langgraph_checkpoint_slot(k.thread, k.ns, name), data)
        _check_names(key, opened.record, k, expect)
        got = (opened.record, opened.encrypted)
        self._checkpoints.put(key, got, len(data))
        return got

    def forget_checkpoint(self, key: str) -> None:
        self._checkpoints.discard(key)

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._checkpoints.discard(key)
            self.backend.delete(key)

    def listing(self, prefix: str) -> Listing:
        """Every LangGraph object under ``prefix``, by kind."""
        found = Listing()
        for meta in self.backend.list(prefix):
            k = layout.parse_langgraph_key(meta.key)
            if k is None:
                continue
            if k.kind == "checkpoint":
                found.checkpoints.append(Listed(k, meta.key, meta.modified))
            elif k.kind == "writes":
                found.writes[(k.thread, k.ns, k.checkpoint_id)] = meta.key
            else:
                found.heads.append(meta.key)
        return found

    # --- heads -------------------------------------------------------------------

    def read_head(self, thread: str) -> Head | None:
        """The thread's head as it is now in the store (and remember it).

        Raises :class:`IntegrityError` for a head that does not verify, belongs
        to another thread, or has a lower serial than one seen before.
        """
        key = layout.langgraph_head_key(thread)
        try:
            raw, version = self.backend.get(key)
        except NotFound:
            with self._lock:
                self._heads[thread] = None
            return None
        with self._lock:
            known = self._heads.get(thread)
        if known is not None and known.raw == raw:
            head = Head(version, known.thread_id, known.latest, known.encrypted, known.serial, raw)
        else:
            head = _parse_head(key, thread, self.sealer.decode(key, raw), version, raw)
        with self._lock:
            if head.serial < self._floor.get(thread, 0):
                raise IntegrityError(
                    f"{key}: serial {head.serial} is lower than {self._floor[thread]}, "
                    "seen before (a replayed or rolled-back head)"
                )
            self._floor[thread] = head.serial
            self._heads[thread] = head
        return head

    def sealed(self, thread: str) -> bool:
        """Whether objects of ``thread`` are written sealed."""
        if self.encrypt:
            return True
        with self._lock:
            known, head = thread in self._heads, self._heads.get(thread)
        if not known:
            head = self.read_head(thread)
        return bool(head and head.encrypted)

    def advance_head(
        self, thread: str, thread_id: str, ns: str, checkpoint: tuple[str, str]
    ) -> None:
        """Make the head name ``checkpoint`` (id, digest) for ``ns`` unless it names a newer one.

        Raises :class:`RefConflict` if other writers win every attempt.
        """
        fresh = False
        for _ in range(ATTEMPTS):
            with self._lock:
                head = self._heads.get(thread)
            if head and head.latest.get(ns, ("", ""))[0] >= checkpoint[0]:
                if fresh:
                    return
                # A head remembered newer may have been moved back since (a deletion).
                self.read_head(thread)
                fresh = True
                continue
            if self._swap_head(thread, thread_id, head, {**_latest(head), ns: checkpoint}):
                return
            self.read_head(thread)
            fresh = True
        raise RefConflict(f"thread head {thread[:12]}: too many concurrent writers")

    def replace_head(self, thread: str, thread_id: str, latest: dict[str, tuple[str, str]]) -> None:
        """Set the head to exactly ``latest`` (after a deletion; empty: nothing left)."""
        for _ in range(ATTEMPTS):
            head = self.read_head(thread)
            if head is None and not latest:
                return
            if self._swap_head(thread, thread_id if latest else "", head, latest):
                return
        raise RefConflict(f"thread head {thread[:12]}: too many concurrent writers")

    def _swap_head(
        self, thread: str, thread_id: str, head: Head | None, latest: dict[str, tuple[str, str]]
    ) -> bool:
        """One conditional write of the head; False if another writer moved it first."""
        key = layout.langgraph_head_key(thread)
        sealed = self.encrypt or bool(head and head.encrypted)
        with self._lock:
            serial = max(head.serial if head else 0, self._floor.get(thread, 0)) + 1
        record = {
            "thread": thread_id,
            "latest": {ns: list(v) for ns, v in latest.items()},
            "serial": serial,
        }
        data = self.sealer.encode(key, record, encrypt=sealed)
        mode: PutMode = Update(head.version) if head else CREATE
        try:
            version = self.backend.put(key, data, mode)
        except (PreconditionFailed, AlreadyExists):
            return False
        with self._lock:
            self._heads[thread] = Head(version, thread_id, dict(latest), sealed, serial, data)
            self._floor[thread] = max(self._floor.get(thread, 0), serial)
        return True


def _latest(head: Head | None) -> dict[str, tuple[str, str]]:
    return dict(head.latest) if head else {}


def _parse_head(key: str, thread: str, opened: Opened, version: Version, raw: bytes) -> Head:
    """A head record, checked field by field (anything a store writer can change)."""
    rec = opened.record
    try:
        thread_id, serial, latest = rec["thread"], rec["serial"], rec["latest"]
        if not (isinstance(thread_id, str) and type(serial) is int and serial > 0):
            raise TypeError
        parsed = {
            str(ns): (str(v[0]), str(v[1]))
            for ns, v in latest.items()
            if isinstance(ns, str) and len(v) == 2 and layout.is_object_id(str(v[1]))
        }
        if len(parsed) != len(latest):
            raise TypeError
    except (KeyError, TypeError, AttributeError):
        raise IntegrityError(f"{key}: malformed thread head") from None
    if parsed and layout.langgraph_name(thread_id) != thread:
        raise IntegrityError(f"{key}: holds another thread's head (moved or tampered)")
    return Head(version, thread_id, parsed, opened.encrypted, serial, raw)


def _check_names(
    key: str, record: dict[str, Any], k: layout.LangGraphKey, expect: tuple[str, str] | None
) -> None:
    """The record's own ids must be those its key was made from (else: moved, swapped)."""
    try:
        thread_id, ns, cp_id = str(record["thread"]), str(record["ns"]), str(record["id"])
    except KeyError:
        raise IntegrityError(f"{key}: not a checkpoint record") from None
    ok = (
        cp_id == k.checkpoint_id
        and layout.langgraph_name(thread_id) == k.thread
        and layout.langgraph_name(ns) == k.ns
        and (expect is None or expect == (thread_id, ns))
    )
    if not ok:
        raise IntegrityError(f"{key}: holds another checkpoint (moved or tampered)")
