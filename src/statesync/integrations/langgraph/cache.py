"""A small thread-safe LRU bounded by bytes, for what the store cannot change under us.

Checkpoint objects are content-addressed (their key ends in the SHA-256 of
their bytes), so a record read and verified once, or written by this process,
is the record at that key for as long as the key exists: it is cached by key.
Whether the key still exists is never taken from here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")

#: Default budget: enough for the recent checkpoints of many busy threads.
DEFAULT_BYTES = 64 * 1024 * 1024


class ByteLRU(Generic[V]):
    """``key -> value`` with a size each; the least recently used go past ``budget``."""

    def __init__(self, budget: int = DEFAULT_BYTES) -> None:
        self.budget = budget
        self._items: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            got = self._items.get(key)
            if got is None:
                return None
            self._items.move_to_end(key)
            return got[0]

    def put(self, key: str, value: V, size: int) -> None:
        """Keep ``value`` (an item larger than the whole budget is not kept)."""
        if size > self.budget:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._used -= old[1]
            self._items[key] = (value, size)
            self._used += size
            while self._used > self.budget:
                _, (_, dropped) = self._items.popitem(last=False)
                self._used -= dropped

    def discard(self, key: str) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._used -= old[1]
