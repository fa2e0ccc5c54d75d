"""Threads in the store: heads with conditional writes, checkpoints and write batches.

A thread's *head* (``langgraph/threads/<thread>/head``) names the newest
checkpoint of each namespace. It only moves forward, by the backend's
conditional write (the same ``Update(version)`` / ``CREATE`` that guards an
environment's ref): two processes putting checkpoints into one thread both
keep theirs, and the head ends at the newest. Checkpoints and write batches are
objects of their own, so a put writes one small object and the head, never a
manifest of the whole thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from statesync.backends.base import CREATE, OVERWRITE, Backend, PutMode, Update, Version
from statesync.errors import AlreadyExists, NotFound, PreconditionFailed, RefConflict
from statesync.integrations.langgraph.frame import Sealer
from statesync.sync.store import layout

#: How often a conditional write is retried against other writers before giving up.
_ATTEMPTS = 100


@dataclass(frozen=True)
class Head:
    """A thread's head as read: its version, the newest checkpoint per namespace."""

    version: Version
    thread_id: str
    latest: dict[str, str]
    encrypted: bool


@dataclass
class Listing:
    """The keys one listing found: checkpoints, and write batches by checkpoint."""

    checkpoints: list[tuple[layout.LangGraphKey, str]] = field(default_factory=list)
    writes: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    heads: list[str] = field(default_factory=list)

    def writes_of(self, k: layout.LangGraphKey) -> list[str]:
        return self.writes.get((k.thread, k.ns, k.checkpoint_id), [])


class ThreadStore:
    """Reads and writes the LangGraph objects of one store (thread-safe).

    ``encrypt`` seals every object this store writes; a thread whose head is
    sealed stays sealed whatever ``encrypt`` says (as ``--encrypt all`` is sticky).
    """

    def __init__(self, backend: Backend, sealer: Sealer, *, encrypt: bool) -> None:
        self.backend = backend
        self.sealer = sealer
        self.encrypt = encrypt
        #: The last head seen per thread (None: seen absent), so a put need not read it.
        self._heads: dict[str, Head | None] = {}
        self._lock = threading.Lock()

    # --- objects -------------------------------------------------------------

    def read(self, key: str) -> tuple[dict[str, Any], Version, bool] | None:
        """``(record, version, encrypted)`` at ``key``, or None if it is absent."""
        try:
            data, version = self.backend.get(key)
        except NotFound:
            return None
        record, encrypted = self.sealer.decode(key, data)
        return record, version, encrypted

    def write(
        self, key: str, record: dict[str, Any], *, sealed: bool, mode: PutMode = OVERWRITE
    ) -> Version:
        return self.backend.put(key, self.sealer.encode(key, record, encrypt=sealed), mode)

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.backend.delete(key)

    def listing(self, prefix: str) -> Listing:
        """Every LangGraph object under ``prefix``, by kind."""
        found = Listing()
        for meta in self.backend.list(prefix):
            k = layout.parse_langgraph_key(meta.key)
            if k is None:
                continue
            if k.kind == "checkpoint":
                found.checkpoints.append((k, meta.key))
            elif k.kind == "writes":
                found.writes.setdefault((k.thread, k.ns, k.checkpoint_id), []).append(meta.key)
            else:
                found.heads.append(meta.key)
        return found

    # --- heads ---------------------------------------------------------------

    def read_head(self, thread: str) -> Head | None:
        """The thread's head as it is now in the store (and remember it)."""
        got = self.read(layout.langgraph_head_key(thread))
        if got is None:
            with self._lock:
                self._heads[thread] = None
            return None
        record, version, encrypted = got
        head = Head(version, str(record["thread"]), dict(record["latest"]), encrypted)
        with self._lock:
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

    def advance_head(self, thread: str, thread_id: str, ns: str, checkpoint_id: str) -> None:
        """Make the head name ``checkpoint_id`` for ``ns`` unless it names a newer one.

        Raises :class:`RefConflict` if other writers win every attempt.
        """
        for _ in range(_ATTEMPTS):
            with self._lock:
                head = self._heads.get(thread)
            if head and head.latest.get(ns, "") >= checkpoint_id:
                return
            if self._swap_head(thread, thread_id, head, {ns: checkpoint_id}):
                return
            self.read_head(thread)
        raise RefConflict(f"thread head {thread[:12]}: too many concurrent writers")

    def replace_head(self, thread: str, thread_id: str, latest: dict[str, str]) -> None:
        """Set the head to exactly ``latest`` (after a deletion); none left: delete it."""
        key = layout.langgraph_head_key(thread)
        for _ in range(_ATTEMPTS):
            head = self.read_head(thread)
            try:
                if not latest:
                    if head:
                        self.backend.delete(key, head.version)
                    return
                if self._swap_head(thread, thread_id, head, latest, merge=False):
                    return
            except (PreconditionFailed, NotFound):
                continue
            finally:
                with self._lock:
                    self._heads.pop(thread, None)
        raise RefConflict(f"thread head {thread[:12]}: too many concurrent writers")

    def forget(self, thread: str) -> None:
        with self._lock:
            self._heads.pop(thread, None)

    def _swap_head(
        self,
        thread: str,
        thread_id: str,
        head: Head | None,
        latest: dict[str, str],
        *,
        merge: bool = True,
    ) -> bool:
        """One conditional write of the head; False if another writer moved it first."""
        new = {**head.latest, **latest} if head and merge else dict(latest)
        sealed = self.encrypt or bool(head and head.encrypted)
        mode: PutMode = Update(head.version) if head else CREATE
        try:
            version = self.write(
                layout.langgraph_head_key(thread),
                {"thread": thread_id, "latest": new},
                sealed=sealed,
                mode=mode,
            )
        except (PreconditionFailed, AlreadyExists):
            return False
        with self._lock:
            self._heads[thread] = Head(version, thread_id, new, sealed)
        return True

    # --- write batches -------------------------------------------------------

    def add_writes(
        self, key: str, base: dict[str, Any], entries: list[list[Any]], *, sealed: bool
    ) -> None:
        """Store a task's writes; an index already stored (>= 0) is kept, not repeated.

        Special writes (negative indexes: error, interrupt, ...) replace the
        stored one. Concurrent callers merge through conditional writes.
        """
        try:
            self.write(key, {**base, "writes": entries}, sealed=sealed, mode=CREATE)
            return
        except AlreadyExists:
            pass
        for _ in range(_ATTEMPTS):
            got = self.read(key)
            if got is None:
                try:
                    self.write(key, {**base, "writes": entries}, sealed=sealed, mode=CREATE)
                    return
                except AlreadyExists:
                    continue
            record, version, was_sealed = got
            merged = _merge(record["writes"], entries)
            if merged is None:
                return
            try:
                self.write(
                    key,
                    {**record, "writes": merged},
                    sealed=sealed or was_sealed,
                    mode=Update(version),
                )
                return
            except PreconditionFailed:
                continue
        raise RefConflict(f"{key}: too many concurrent writers")

    def read_all(self, keys: Iterable[str]) -> Iterator[dict[str, Any]]:
        for key in keys:
            got = self.read(key)
            if got is not None:
                yield got[0]


def _merge(stored: list[list[Any]], new: list[list[Any]]) -> list[list[Any]] | None:
    """``stored`` with ``new`` entries ``[idx, channel, type, bytes]`` added; None: no change."""
    by_idx = {int(e[0]): e for e in stored}
    changed = False
    for entry in new:
        idx = int(entry[0])
        if idx >= 0 and idx in by_idx:
            continue
        if by_idx.get(idx) != entry:
            by_idx[idx] = entry
            changed = True
    return list(by_idx.values()) if changed else None
