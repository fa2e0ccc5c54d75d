"""Turn file contents into manifest entries, uploading only chunks the store lacks."""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO

from statesync.sync.progress import Meter, quiet
from statesync.sync.store import codec, gc_marker
from statesync.sync.store.chunker import Chunker
from statesync.sync.store.chunkindex import ChunkIndex, load_index, write_index
from statesync.sync.store.indexcache import IndexCache
from statesync.sync.store.manifest import ChunkRef, Entry, is_document
from statesync.sync.store.packs import PackUploader
from statesync.sync.store.repo import Repo
from statesync.sync.store.sealing import EnvKeys

_SNIFF = 8192


def looks_text(head: bytes) -> bool:
    """True if ``head`` is UTF-8 text without NUL bytes (a cut character at the end is fine)."""
    sample = head[:_SNIFF]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(sample) - 3 and len(sample) == _SNIFF
    return True


class _FileDigest:
    """A file's SHA-256 fed chunk by chunk, reusing the chunk id of a one-chunk file.

    With plain (unkeyed) SHA-256 chunk ids, a file of one chunk has that
    chunk's id as its digest: most state files are one chunk, so this saves
    hashing them twice. The first chunk is held until a second one arrives.
    """

    def __init__(self, plain_ids: bool) -> None:
        self._plain = plain_ids
        self._sha = hashlib.sha256()
        self._first: tuple[bytes, str] | None = None
        self._count = 0

    def update(self, chunk: bytes, chunk_id: str) -> None:
        self._count += 1
        if self._plain and self._count == 1:
            self._first = (chunk, chunk_id)
            return
        if self._first is not None:
            self._sha.update(self._first[0])
            self._first = None
        self._sha.update(chunk)

    def hexdigest(self) -> str:
        if self._first is not None:
            return self._first[1]
        return self._sha.hexdigest()


class SnapshotBuilder:
    """Chunks, deduplicates and uploads; call :meth:`finish` before using entries.

    ``uploaded_bytes`` counts stored (compressed) bytes sent; ``reused_bytes``
    counts file bytes whose chunks the store (or this push) already had.
    """

    def __init__(
        self,
        repo: Repo,
        progress: Meter | None = None,
        workers: int = 4,
        keys: EnvKeys | None = None,
        index_cache: IndexCache | None = None,
    ) -> None:
        """``keys``: seal every chunk with this environment's key (``--encrypt all``).

        ``index_cache``: a long-lived writer's chunk index, used instead of
        listing the store when the gc generation allows it (and taught what
        this builder uploads).
        """
        self.repo = repo
        self._cache = index_cache
        self._name = keys.chunk_id if keys else codec.sha256_hex
        self._sealed_for = keys.env if keys else None
        self.chunker = Chunker(repo.descriptor)
        self.progress = progress or quiet()
        self._index: ChunkIndex | None = None
        self._seen: set[str] = set()
        self._uploader = PackUploader(repo, workers, keys=keys)
        self._keys = keys
        self.reused_bytes = 0
        #: gc generation read before the index was listed (None: not listed yet)
        self.gc_generation: int | None = None

    @property
    def index(self) -> ChunkIndex:
        """The store's chunks, minus packs a running gc condemned (read before the listing)."""
        if self._index is None:
            marker = gc_marker.read_marker(self.repo)
            self.gc_generation = marker.generation
            self._uploader.avoid = marker.condemned
            if self._cache is not None:
                self._index = self._cache.index_for(self.repo, marker)
            else:
                self._index = load_index(self.repo, skip_packs=marker.condemned)
        return self._index

    @property
    def uploaded_bytes(self) -> int:
        return self._uploader.stored_bytes

    def has_chunks(self, entry: Entry) -> bool:
        """True if every chunk of ``entry`` is already in the store, stored as we store it.

        Under ``--encrypt all`` a chunk counts only if its pack is sealed with
        this environment's key: a plaintext pack never stands in for a sealed one.
        """
        locations = self.index.locations
        return all(
            cid in locations
            and (
                self._sealed_for is None or (locations[cid].sealed or ("",))[0] == self._sealed_for
            )
            for cid, _ in entry.chunks
        )

    def reuse(self, entry: Entry) -> Entry:
        """Count an unchanged entry's bytes as reused and return it."""
        self.reused_bytes += entry.size
        return entry

    def add_bytes(self, path: str, data: bytes, mode: int) -> Entry:
        """Build an entry for in-memory content."""
        return self.add_stream(path, io.BytesIO(data), mode)

    def add_stream(self, path: str, stream: BinaryIO, mode: int) -> Entry:
        """Chunk ``stream`` to its end and queue every chunk the store lacks."""
        digest = _FileDigest(plain_ids=self._name is codec.sha256_hex)
        chunks: list[ChunkRef] = []
        size = 0
        text = True
        for chunk in self.chunker.chunks(stream):
            if not chunks:
                text = looks_text(chunk)
            cid = self._name(chunk)
            digest.update(chunk, cid)
            chunks.append(ChunkRef(cid, len(chunk)))
            size += len(chunk)
            self._queue(cid, chunk)
            self.progress.update(len(chunk))
        kind = "document" if is_document(path) or text else "binary"
        return Entry(
            path=path,
            kind=kind,
            mode=mode & 0o777,
            size=size,
            digest=digest.hexdigest(),
            chunks=chunks,
        )

    def _queue(self, cid: str, chunk: bytes) -> None:
        if cid in self._seen or cid in self.index:
            self.reused_bytes += len(chunk)
            return
        self._seen.add(cid)
        self._uploader.add(cid, chunk)

    def finish(self) -> None:
        """Upload the last pack and the index for everything uploaded."""
        packs = self._uploader.finish()
        index_id = write_index(self.repo, packs, self._keys)
        if self._cache is not None:
            self._cache.learn(self.gc_generation, index_id, packs)

    def abort(self) -> None:
        """Stop without writing an index (uploaded packs stay unreferenced for gc)."""
        self._uploader.abort()


def symlink_entry(path: str, target: str) -> Entry:
    """An entry for a symbolic link (its target is its content)."""
    return Entry(
        path=path,
        kind="symlink",
        mode=0o777,
        size=0,
        digest=codec.sha256_hex(target.encode()),
        target=target,
    )
