"""Upload new chunks packed together, in parallel, with bounded memory.

Small chunks must not be single objects (a PUT costs milliseconds of server
time each), so chunks are compressed by worker threads and appended to a pack;
a full pack (``pack_size``) is hashed and uploaded create-only under its own
id by the worker that filled it. At most ``workers * 2`` chunks are in flight,
so memory stays bounded whatever the dataset size.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from statesync.backends.base import CREATE
from statesync.errors import AlreadyExists
from statesync.sync import codec, layout
from statesync.sync.chunkindex import PackEntries
from statesync.sync.repo import Repo


class _Pack:
    def __init__(self) -> None:
        self.body = bytearray()
        self.rows: list[list[object]] = []

    def append(self, chunk_id: str, blob: bytes, size: int) -> None:
        self.rows.append([chunk_id, len(self.body), len(blob), size])
        self.body += blob


class PackUploader:
    """Accepts chunks from one producer thread; ``finish`` returns the pack entries.

    ``on_upload(n)`` is called with the stored bytes of each uploaded pack.
    Any worker failure is raised from the next ``add`` or from ``finish``.
    """

    def __init__(self, repo: Repo, workers: int = 4,
                 on_upload: Callable[[int], None] | None = None) -> None:
        self._repo = repo
        self._pack_size = repo.descriptor.pack_size
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pack")
        self._slots = threading.BoundedSemaphore(workers * 2)
        self._lock = threading.Lock()
        self._current = _Pack()
        self._done: PackEntries = {}
        self._futures: list[Future[None]] = []
        self._on_upload = on_upload
        self.stored_bytes = 0

    def add(self, chunk_id: str, data: bytes) -> None:
        """Queue one new chunk (the caller has already deduplicated it)."""
        self._raise_failures()
        self._slots.acquire()
        try:
            self._futures.append(self._pool.submit(self._work, chunk_id, data))
        except BaseException:
            self._slots.release()
            raise

    def finish(self) -> PackEntries:
        """Wait for every chunk, upload the last pack, and return all entries."""
        try:
            for fut in self._futures:
                fut.result()
            if self._current.rows:
                self._upload(self._current)
                self._current = _Pack()
            return self._done
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop workers without uploading the partial pack."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _raise_failures(self) -> None:
        pending = []
        for fut in self._futures:
            if fut.done():
                fut.result()
            else:
                pending.append(fut)
        self._futures = pending

    def _work(self, chunk_id: str, data: bytes) -> None:
        try:
            blob = codec.seal_blob(data)
            with self._lock:
                self._current.append(chunk_id, blob, len(data))
                full = None
                if len(self._current.body) >= self._pack_size:
                    full, self._current = self._current, _Pack()
            if full is not None:
                self._upload(full)
        finally:
            self._slots.release()

    def _upload(self, pack: _Pack) -> None:
        body = bytes(pack.body)
        pack_id = codec.sha256_hex(body)
        with contextlib.suppress(AlreadyExists):  # same bytes already stored
            self._repo.backend.put(layout.pack_key(pack_id), body, CREATE)
        with self._lock:
            self._done[pack_id] = pack.rows
            self.stored_bytes += len(body)
        if self._on_upload is not None:
            self._on_upload(len(body))
