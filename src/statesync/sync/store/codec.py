"""Byte encodings shared by the engine: chunk blobs and canonical JSON objects.

A *blob* is one chunk as stored inside a pack: a zstd frame of the plaintext.
A *sealed document* (manifest, index) is canonical JSON compressed with zstd;
its id is the SHA-256 of the stored bytes, so the id pins every byte.
Compressors are per thread: a shared zstd context is not thread-safe.

Every decompression is bounded by what the caller expects (a chunk's size, a
document's limit), never by what the frame declares: zstd's one-shot API
allocates a frame's declared content size whatever ``max_output_size`` says,
so a 200 KB object from a store writer could make every reader allocate
gigabytes. Frames are read as a stream, a piece at a time, and the window a
frame may ask for is capped too; going past a limit is an
:class:`IntegrityError` naming the object.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any

import zstandard

from statesync.errors import IntegrityError

_LOCAL = threading.local()
#: zstd's fastest regular level. On the bench's 512 MiB mixed dataset it costs
#: 1.00 CPU s against level 3's 1.27 for 0.9% more stored bytes
#: (bench/bench_stages.py prints both); on its JSON documents alone it is 1.6x
#: faster for about 8% more. A push was CPU-bound, not network-bound, on every
#: machine we measured.
_LEVEL = 1
#: Refuse to inflate a sealed document beyond this (a zip bomb is an integrity fault).
MAX_DOCUMENT = 512 * 1024 * 1024
#: The largest window a frame may ask a reader to allocate (zstd's own default
#: limit; our level-1 frames use at most 512 KiB, or their content size).
MAX_WINDOW = 1 << 27
#: How much is inflated per step, so memory follows real output, not declarations.
_PIECE = 1 << 20


def _cctx() -> zstandard.ZstdCompressor:
    c = getattr(_LOCAL, "c", None)
    if c is None:
        c = _LOCAL.c = zstandard.ZstdCompressor(level=_LEVEL)
    return c


def _dctx() -> zstandard.ZstdDecompressor:
    d = getattr(_LOCAL, "d", None)
    if d is None:
        d = _LOCAL.d = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
    return d


def inflate(body: bytes, limit: int, where: str) -> bytearray:
    """Decompress ``body`` (one or more frames) to at most ``limit`` bytes.

    Memory grows with the real output only. Raises :class:`IntegrityError`
    naming ``where`` when the output would exceed ``limit``, and lets
    ``zstandard.ZstdError`` through for damaged data (callers name the object).
    """
    out = bytearray()
    with _dctx().stream_reader(body, read_across_frames=True) as reader:
        while piece := reader.read(min(_PIECE, limit - len(out) + 1)):
            out += piece
            if len(out) > limit:
                raise IntegrityError(
                    f"{where}: decompresses to more than {limit} bytes "
                    "(a decompression bomb, or not ours)"
                )
    return out


def sha256_hex(data: bytes | memoryview) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def seal_blob(chunk: bytes | memoryview) -> bytes:
    """Encode one chunk for a pack."""
    return _cctx().compress(chunk)


def seal_blobs(chunks: Sequence[bytes | memoryview]) -> list[bytes]:
    """:func:`seal_blob` of each chunk, byte for byte, compressed in one call.

    One call releases the GIL once for the whole batch. Compressed one at a
    time, a 2 KiB chunk released and took back the GIL per chunk, and the
    thread reading the files lost it to the compressing one each time: one
    call per batch made a first push of 20,000 small files a quarter faster
    (docs/BENCHMARKS.md). What zstd cannot take in one call (a single
    chunk, an empty one, a backend without the call) is compressed chunk by chunk.
    """
    if len(chunks) > 1 and all(len(c) for c in chunks):
        try:
            out = _cctx().multi_compress_to_buffer(list(chunks), threads=0)
        except NotImplementedError:  # python-zstandard's cffi backend
            pass
        else:
            return [out[i].tobytes() for i in range(len(out))]
    return [seal_blob(c) for c in chunks]


def open_blob(
    blob: bytes, chunk_id: str, size: int, where: str, name: Callable[[bytes], str] = sha256_hex
) -> bytes:
    """Decode a blob and verify ``name(data) == chunk_id``; else :class:`IntegrityError`."""
    try:
        data = bytes(inflate(blob, size, f"{where}: chunk {chunk_id[:12]}"))
    except zstandard.ZstdError:
        raise IntegrityError(f"{where}: chunk {chunk_id[:12]} is corrupt") from None
    if len(data) != size or name(data) != chunk_id:
        raise IntegrityError(f"{where}: chunk {chunk_id[:12]} does not match its hash")
    return data


#: zstd skippable frame: readers skip it, so padding needs no format change.
_SKIPPABLE = 0x184D2A50
_SKIP_HEADER = 8
#: The smallest padded size; above it sizes round up in steps of 1/16 of their
#: power of two (at most 6.25% more stored bytes).
MIN_BUCKET = 4096


def bucket(n: int) -> int:
    """The padded size for ``n`` bytes: 4 KiB, or ``n`` rounded up to a 1/16 power-of-two step."""
    if n <= MIN_BUCKET:
        return MIN_BUCKET
    step = 1 << max(0, n.bit_length() - 5)
    return -(-n // step) * step


def pad(frames: bytes) -> bytes:
    """``frames`` followed by a zero-filled skippable frame up to :func:`bucket` size.

    Used inside encryption (``--encrypt all``), so a store reader sees only
    bucketed sizes; :func:`inflate` skips the padding.
    """
    fill = bucket(len(frames) + _SKIP_HEADER) - len(frames) - _SKIP_HEADER
    return frames + struct.pack("<II", _SKIPPABLE, fill) + bytes(fill)


def canonical_json(doc: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, no spaces, UTF-8)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal_document(doc: Any) -> tuple[str, bytes]:
    """Return ``(id, body)`` for a JSON-able document; id = SHA-256 of body."""
    body = _cctx().compress(canonical_json(doc))
    return sha256_hex(body), body


def open_document(body: bytes, expected_id: str | None, where: str) -> Any:
    """Verify ``body`` against ``expected_id`` (if given) and decode it.

    Raises :class:`IntegrityError` naming ``where`` on any mismatch or damage.
    """
    if expected_id is not None and sha256_hex(body) != expected_id:
        raise IntegrityError(f"{where}: content does not match its id (tampered or corrupt)")
    try:
        return json.loads(inflate(body, MAX_DOCUMENT, where))
    except (zstandard.ZstdError, ValueError, UnicodeDecodeError):
        raise IntegrityError(f"{where}: cannot be decoded (corrupt)") from None
