"""Write a snapshot's file contents into a folder, verifying every byte.

Reads are grouped by pack: one ranged GET per pack covers every chunk needed
from it, so a restore of many small files costs few requests. Each chunk is
checked against its id after decompression, then each file against its digest.
Nothing is ever written through a link (:mod:`statesync.sync.folder.nofollow`).
"""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from statesync.errors import IntegrityError
from statesync.fsutil import sha256_file
from statesync.sync.folder import nofollow
from statesync.sync.progress import Meter
from statesync.sync.store import layout
from statesync.sync.store.chunkindex import ChunkIndex, Location
from statesync.sync.store.content import open_chunk
from statesync.sync.store.manifest import Entry
from statesync.sync.store.repo import Repo
from statesync.sync.store.reread import reread_once

_Targets = dict[str, list[tuple[Path, str, int]]]


def download_entries(
    repo: Repo,
    index: ChunkIndex,
    entries: list[Entry],
    root: Path,
    progress: Meter,
    workers: int = 4,
) -> int:
    """Write ``entries`` (regular files) under ``root``; return stored bytes read.

    Raises :class:`IntegrityError` naming the object on any mismatch, or if
    a component of a path is a link (nothing is written through one); files
    written so far are left for the caller (a staging folder) to discard.
    """
    targets: _Targets = defaultdict(list)
    for e in entries:
        nofollow.create_file(root, e.path, e.size)
        offset = 0
        for cid, size in e.chunks:
            targets[cid].append((root, e.path, offset))
            offset += int(size)
    by_pack: dict[str, list[tuple[str, Location]]] = defaultdict(list)
    for cid in targets:
        loc = index.locate(cid)
        by_pack[loc.pack].append((cid, loc))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
        done = pool.map(lambda p: _fetch_pack(repo, p, by_pack[p], targets, progress), by_pack)
        read = sum(done)
    for e in entries:
        # A one-chunk file named by its plain SHA-256 was verified with its chunk.
        if not (len(e.chunks) == 1 and e.chunks[0].cid == e.digest):
            verify_file(root / e.path, e)
    return read


def _fetch_pack(
    repo: Repo, pack: str, chunks: list[tuple[str, Location]], targets: _Targets, progress: Meter
) -> int:
    start = min(loc.offset for _, loc in chunks)
    end = max(loc.offset + loc.length for _, loc in chunks)
    where = layout.pack_key(pack)
    return reread_once(
        where,
        lambda: repo.backend.get_range(where, start, end - start),
        lambda span: _write_span(repo, where, start, span, end - start, chunks, targets, progress),
    )


def _write_span(
    repo: Repo,
    where: str,
    start: int,
    span: bytes,
    expected: int,
    chunks: list[tuple[str, Location]],
    targets: _Targets,
    progress: Meter,
) -> int:
    """Verify each chunk of ``span`` (a pack's bytes from ``start``) and write it to its targets.

    Safe to run again on a fresh read: every write lands at a fixed offset, and
    ``progress`` counts the span's bytes only once the whole span is written.
    Raises :class:`IntegrityError` for a short span or a chunk that fails its check.
    """
    if len(span) != expected:
        raise IntegrityError(f"{where}: pack is truncated")
    written = 0
    for cid, loc in chunks:
        blob = span[loc.offset - start : loc.offset - start + loc.length]
        data = open_chunk(repo, loc, cid, blob, where)
        for root, rel, offset in targets[cid]:
            fd = nofollow.open_file(root, rel, os.O_WRONLY)
            try:
                os.pwrite(fd, data, offset)
            finally:
                os.close(fd)
            written += len(data)
    progress.update(written)
    return len(span)


def verify_file(path: Path, entry: Entry) -> None:
    """Re-read a written file and check its digest; :class:`IntegrityError` if it differs."""
    if sha256_file(path) != entry.digest:
        raise IntegrityError(f"{entry.path}: restored content does not match the snapshot digest")
