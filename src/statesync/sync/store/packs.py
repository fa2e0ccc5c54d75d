"""Upload new chunks packed together, in parallel, with bounded memory.

Small chunks must not be single objects (a PUT costs milliseconds of server
time each), so chunks are compressed by worker threads and appended to a pack;
a full pack (``pack_size``) is hashed and uploaded create-only under its own
id by the worker that filled it. Small chunks are handed to the workers in
batches of about :data:`BATCH_BYTES` (one hand-off per batch, not per chunk:
for a 2 KiB file the hand-off between threads cost more than compressing it),
and a worker compresses its batch in one zstd call (:func:`codec.seal_blobs`).
At most ``workers + 2`` batches are in flight, so memory stays bounded
whatever the dataset size.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from statesync.backends.base import CREATE, Digested
from statesync.errors import AlreadyExists
from statesync.sync.store import codec, layout
from statesync.sync.store.chunkindex import PackEntries
from statesync.sync.store.repo import Repo
from statesync.sync.store.sealing import EnvKeys

#: Chunks are queued until they add up to this many bytes, then compressed by one worker.
BATCH_BYTES = 256 * 1024
#: ... or until this many are queued (bounds the latency of a batch of tiny chunks).
BATCH_CHUNKS = 256

_Batch = list[tuple[str, bytes]]


class _Pack:
    """Blobs appended in order, hashed as they come (the pack's id is its SHA-256).

    Never joined here: the local store writes them one after another, and a
    cloud driver joins them only for the request.
    """

    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self.size = 0
        self.rows: list[list[object]] = []
        self.hasher = hashlib.sha256()

    def append(self, chunk_id: str, blob: bytes, size: int) -> None:
        self.rows.append([chunk_id, self.size, len(blob), size])
        self.blobs.append(blob)
        self.hasher.update(blob)
        self.size += len(blob)


class PackUploader:
    """Accepts chunks from one producer thread; ``finish`` returns the pack entries.

    Any worker failure is raised from the next ``add`` or from ``finish``.
    """

    def __init__(self, repo: Repo, workers: int = 4, keys: EnvKeys | None = None) -> None:
        self._repo = repo
        self._keys = keys
        self._pack_size = repo.descriptor.pack_size
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pack")
        self._slots = threading.BoundedSemaphore(workers + 2)
        # Full packs waiting for or in upload: bounds memory at about
        # (uploads + 1) packs plus the chunks in flight, whatever the data size.
        self._uploads = threading.BoundedSemaphore(max(1, min(workers - 1, 2)))
        self._lock = threading.Lock()
        self._current = _Pack()
        self._done: PackEntries = {}
        self._futures: list[Future[None]] = []
        self._batch: _Batch = []
        self._batch_bytes = 0
        self.stored_bytes = 0
        #: Packs a running gc condemned: a new pack never takes one's name (see _upload).
        self.avoid: frozenset[str] = frozenset()

    def add(self, chunk_id: str, data: bytes) -> None:
        """Queue one new chunk (the caller has already deduplicated it)."""
        self._batch.append((chunk_id, data))
        self._batch_bytes += len(data)
        if self._batch_bytes >= BATCH_BYTES or len(self._batch) >= BATCH_CHUNKS:
            self._submit()

    def _submit(self) -> None:
        """Hand the queued chunks to a worker (waits while too many batches are in flight)."""
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        self._raise_failures()
        self._slots.acquire()
        try:
            self._futures.append(self._pool.submit(self._work, batch))
        except BaseException:
            self._slots.release()
            raise

    def finish(self) -> PackEntries:
        """Wait for every chunk, upload the last pack, and return all entries."""
        try:
            if self._batch:
                self._submit()
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

    def _work(self, batch: _Batch) -> None:
        try:
            stored = codec.seal_blobs([data for _, data in batch])
            blobs = [
                (cid, self._seal(cid, blob), len(data))
                for (cid, data), blob in zip(batch, stored, strict=True)
            ]
            full: list[_Pack] = []
            with self._lock:
                for cid, blob, size in blobs:
                    self._current.append(cid, blob, size)
                    if self._current.size >= self._pack_size:
                        full.append(self._current)
                        self._current = _Pack()
            for pack in full:
                self._upload(pack)
        finally:
            self._slots.release()

    def _seal(self, chunk_id: str, blob: bytes) -> bytes:
        """A compressed chunk as the pack holds it: sealed under ``--encrypt all``."""
        return blob if self._keys is None else self._keys.seal_chunk(chunk_id, blob)

    def _upload(self, pack: _Pack) -> None:
        # The same bytes as a condemned pack would "already exist" and then be deleted by
        # gc: repeating the first blob (a harmless duplicate row) gives the pack another id.
        while pack.hasher.hexdigest() in self.avoid:
            pack.append(str(pack.rows[0][0]), pack.blobs[0], int(str(pack.rows[0][3])))
        pack_id = pack.hasher.hexdigest()
        with self._uploads, contextlib.suppress(AlreadyExists):  # AlreadyExists: same bytes
            body, pack.blobs = Digested(pack.blobs, pack_id), []  # the body owns the blobs now
            self._repo.backend.put(layout.pack_key(pack_id), body, CREATE)
        with self._lock:
            keys = self._keys
            self._done[pack_id] = (
                {"rows": pack.rows, "key": [keys.env, keys.generation]} if keys else pack.rows
            )
            self.stored_bytes += pack.size
