"""Read a pack's own bytes back into index rows, for when its index is lost.

A plain pack is a run of zstd frames, one per chunk, and a plain chunk is
named by the SHA-256 of its content: so the frames themselves say which
chunks a pack holds and where. This is how ``repair`` (and a read that meets
a damaged index) rebuilds locations without any index. Chunks sealed under
``--encrypt all`` are not zstd frames and cannot be recovered this way.
"""

from __future__ import annotations

import zstandard

from statesync.errors import IntegrityError
from statesync.sync.store import codec

#: One row per chunk: ``[chunk id, offset, length, size]``, as in an index.
Row = list[object]

_MAGIC = b"\x28\xb5\x2f\xfd"
_BLOCK_HEADER = 3
_CHECKSUM = 4


def scan_pack(body: bytes, where: str) -> list[Row]:
    """Rows for every chunk of a plain pack; :class:`IntegrityError` if it is not one."""
    view = memoryview(body)
    rows: list[Row] = []
    offset = 0
    while offset < len(view):
        length = frame_length(view[offset:], where)
        frame = view[offset : offset + length]
        try:
            data = _content(frame)
        except zstandard.ZstdError:
            raise IntegrityError(f"{where}: chunk at offset {offset} is corrupt") from None
        rows.append([codec.sha256_hex(data), offset, length, len(data)])
        offset += length
    return rows


def salvage_rows(body: bytes, where: str) -> list[Row]:
    """Rows for every chunk of a damaged plain pack that still decodes; the rest are skipped.

    After a frame that cannot be walked or decoded, the scan resumes at the
    next zstd magic number. Every row is named by the SHA-256 of what its
    frame decodes to, so a row read out of damaged bytes can only name a
    chunk nobody needs, never stand in for another one. A sealed pack gives
    no rows (its chunks are not zstd frames).
    """
    view = memoryview(body)
    rows: list[Row] = []
    offset = body.find(_MAGIC)
    while 0 <= offset < len(view):
        try:
            length = frame_length(view[offset:], where)
            data = _content(view[offset : offset + length])
        except (IntegrityError, zstandard.ZstdError):
            offset = body.find(_MAGIC, offset + 1)
            continue
        rows.append([codec.sha256_hex(data), offset, length, len(data)])
        offset += length
    return rows


def _content(frame: memoryview) -> bytes:
    if zstandard.frame_content_size(frame) < 0:  # a writer that did not record the size
        return zstandard.ZstdDecompressor().decompressobj().decompress(frame)
    return zstandard.ZstdDecompressor().decompress(frame)


def frame_length(view: memoryview, where: str) -> int:
    """Stored length of the zstd frame at the start of ``view``, walked block by block.

    Walking block headers (not decompressing) keeps a scan linear in the
    pack's size however many chunks it holds.
    """
    if bytes(view[:4]) != _MAGIC:
        raise IntegrityError(f"{where}: not a plain pack (sealed or corrupt)")
    try:
        pos = zstandard.frame_header_size(view)
    except zstandard.ZstdError:
        raise IntegrityError(f"{where}: corrupt frame header") from None
    has_checksum = bool(view[4] & 0x04)
    while True:
        if pos + _BLOCK_HEADER > len(view):
            raise IntegrityError(f"{where}: pack is truncated")
        header = int.from_bytes(view[pos : pos + _BLOCK_HEADER], "little")
        last, kind, size = header & 1, (header >> 1) & 3, header >> 3
        pos += _BLOCK_HEADER + (1 if kind == 1 else size)  # an RLE block stores one byte
        if kind == 3:
            raise IntegrityError(f"{where}: corrupt block")
        if last:
            break
    pos += _CHECKSUM if has_checksum else 0
    if pos > len(view):
        raise IntegrityError(f"{where}: pack is truncated")
    return pos
