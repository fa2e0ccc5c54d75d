"""An environment's history, one page at a time, reading only what the page needs.

Pages follow first parents from the trusted head. The next page is reached by
a cursor (its first snapshot), so a page reads its own 50 manifests and no
others; a page asked by number alone walks from the head, through a cache of
history lines. The cache is safe: a manifest is immutable and its id is the
hash of its bytes, so a line read once stays true.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from statesync import api
from statesync.api import LogEntry, Store
from statesync.errors import ViewNotFound

PAGE_SIZE = 50
#: History lines kept in memory (a few hundred bytes each).
CACHE_LINES = 50_000


@dataclass(frozen=True)
class HistoryPage:
    """Page ``number`` of ``env``'s history; ``next_at`` starts the next page (None: last)."""

    env: str
    number: int
    serial: int
    entries: tuple[LogEntry, ...]
    next_at: str | None


class LineCache:
    """A bounded, thread-safe LRU of history lines by (store id, snapshot id)."""

    def __init__(self, size: int = CACHE_LINES) -> None:
        self._lines: OrderedDict[tuple[str, str], LogEntry] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def line(self, store: Store, snapshot: str) -> LogEntry:
        """The history line of ``snapshot`` (read from the store once)."""
        key = (store.store_id, snapshot)
        with self._lock:
            if key in self._lines:
                self._lines.move_to_end(key)
                return self._lines[key]
        entry = api.log_entry(store, snapshot)  # outside the lock: reads may be slow
        with self._lock:
            self._lines[key] = entry
            while len(self._lines) > self._size:
                self._lines.popitem(last=False)
        return entry


def _first_parent(entry: LogEntry) -> str | None:
    return entry.parents[0] if entry.parents else None


def _skip(store: Store, cache: LineCache, head: str, count: int) -> str | None:
    """The snapshot ``count`` first-parent steps below ``head`` (None: history is shorter)."""
    snap: str | None = head
    for _ in range(count):
        if snap is None:
            return None
        snap = _first_parent(cache.line(store, snap))
    return snap


def _start(store: Store, env: str, at: str) -> str:
    """A cursor checked as ``show`` would check it, and that it belongs to ``env``."""
    snap = api.resolve_snapshot(store, at)
    if api.snapshot_manifest(store, snap).env != env:
        raise ViewNotFound(f"snapshot {snap[:12]} is not in {env}'s history")
    return snap


def history_page(
    store: Store, cache: LineCache, env: str, number: int, at: str | None = None
) -> HistoryPage:
    """Page ``number`` (from 1) of ``env``'s history, starting at cursor ``at`` if given.

    Raises :class:`EnvNotFound`, :class:`ViewNotFound` past the end, and
    :class:`IntegrityError` for a damaged or untrusted head or manifest.
    """
    ref = api.head_ref(store, env)
    start = (
        _start(store, env, at)
        if at
        else _skip(store, cache, ref.snapshot, (number - 1) * PAGE_SIZE)
    )
    if start is None:
        raise ViewNotFound(f"{env}'s history has no page {number}")
    entries: list[LogEntry] = []
    snap: str | None = start
    while snap is not None and len(entries) < PAGE_SIZE:
        entries.append(cache.line(store, snap))
        snap = _first_parent(entries[-1])
    return HistoryPage(env, number, ref.serial, tuple(entries), snap)
