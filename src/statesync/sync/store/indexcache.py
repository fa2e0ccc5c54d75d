"""A long-lived writer's chunk index (``statesync serve``): no listing of the store per commit.

:func:`~statesync.sync.store.chunkindex.load_index` lists ``index/`` and
``objects/`` and reads every index: its cost grows with history. A process
that commits again and again keeps an :class:`IndexCache` instead, and the
gc protocol (docs/ARCHITECTURE.md §9) says when what it believes may be used:

* Packs are deleted only by a gc, and only packs it condemned in a marker
  published *before* deleting, under a new generation; within one generation
  the condemned list only shrinks. So a belief "chunk X is in pack P", formed
  from a listing taken after reading marker (G, C) and with C left out, holds
  as long as the marker still says G. The cache is loaded (afresh: listings,
  plus the index bodies it has not read yet) whenever the writer's marker read
  shows another generation, and a commit confirms the generation again just
  before it moves its ref (``gc_marker.confirm``), as every writer does.
* Packs the process uploads and indexes itself are learnt at once
  (:meth:`IndexCache.learn`), only under the generation they were built in.
* Other writers' new chunks are learnt at the next load, at the latest
  ``refresh_seconds`` after the last one; until then a chunk they uploaded is
  uploaded again (a little space, never a missing chunk).

Index bodies are immutable and verified against their id when first read, so
they are kept in memory by id and never re-read. A pack lost to damage rather
than to gc is noticed at the next load, as a push notices it at its listing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from statesync.sync.store.chunkindex import ChunkIndex, PackEntries, learn, load_index
from statesync.sync.store.gc_marker import Marker
from statesync.sync.store.repo import Repo

#: Seconds after which another writer's chunks are learnt even without a gc.
REFRESH_SECONDS = 60.0


class IndexCache:
    """The store's chunks as this process last loaded them, valid within one gc generation.

    Thread-safe: builders on several threads share it. The index it hands out
    is only added to afterwards (never shrunk in place), so a builder holding
    it sees a consistent "present" answer for every chunk it asks about.
    """

    def __init__(
        self,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._mutex = threading.Lock()
        self._known: dict[str, ChunkIndex] = {}  # index id -> its verified rows
        self._index: ChunkIndex | None = None
        self._generation: int | None = None
        self._loaded_at = 0.0
        #: full loads so far (each lists the store); for tests and the bench
        self.loads = 0

    def index_for(self, repo: Repo, marker: Marker) -> ChunkIndex:
        """The chunk index to build under ``marker`` (just read, before this call).

        Loads it (listings first, then only the index bodies not read yet)
        when the marker's generation is not the cached one's or the cache is
        older than ``refresh_seconds``; otherwise answers from memory.
        """
        with self._mutex:
            now = self._clock()
            if (
                self._index is None
                or marker.generation != self._generation
                or now - self._loaded_at >= self.refresh_seconds
            ):
                self._index = load_index(repo, skip_packs=marker.condemned, known=self._known)
                # forget the bodies of indexes gc removed: memory stays the store's size
                listed = self._index.packs_by_index
                self._known = {i: part for i, part in self._known.items() if i in listed}
                self._generation = marker.generation
                self._loaded_at = now
                self.loads += 1
            return self._index

    def learn(self, generation: int | None, index_id: str | None, packs: PackEntries) -> None:
        """Add ``packs``, just uploaded and indexed as ``index_id`` by a builder of ``generation``.

        Ignored when the cache has moved to another generation since (the
        packs may be condemned there; the next load decides from listings).
        """
        if index_id is None or not packs:
            return
        with self._mutex:
            if self._index is None or generation != self._generation:
                return
            self._known[index_id] = learn(self._index, packs)

    def forget(self) -> None:
        """Drop every belief about which packs exist (the next build loads afresh)."""
        with self._mutex:
            self._index = None
