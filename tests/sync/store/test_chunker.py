"""Content-defined chunking: exact reassembly, and local edits change few chunks."""

from __future__ import annotations

import io
import random

from statesync.sync.store.chunker import Chunker
from statesync.sync.store.repo import CHUNK_AVG, CHUNK_MAX, CHUNK_MIN, Descriptor
from tests.helpers import child_output

DESC = Descriptor("s", "t", CHUNK_MIN, CHUNK_AVG, CHUNK_MAX, 16 << 20)


def _chunks(data: bytes) -> list[bytes]:
    return list(Chunker(DESC).chunks(io.BytesIO(data)))


def test_chunks_reassemble_exactly_and_respect_bounds() -> None:
    data = random.Random(1).randbytes(24 * 1024 * 1024)
    chunks = _chunks(data)
    assert b"".join(chunks) == data
    assert all(len(c) <= CHUNK_MAX for c in chunks)
    assert all(len(c) >= CHUNK_MIN for c in chunks[:-1])


def test_small_and_empty_inputs() -> None:
    assert _chunks(b"") == []
    assert _chunks(b"abc") == [b"abc"]


def test_one_changed_byte_changes_one_chunk_and_an_insert_few() -> None:
    data = bytearray(random.Random(2).randbytes(24 * 1024 * 1024))
    before = set(_chunks(bytes(data)))
    data[12_345_678] ^= 0xFF
    assert len(set(_chunks(bytes(data))) - before) == 1
    inserted = bytes(data[:5_000_000]) + b"inserted" + bytes(data[5_000_000:])
    assert len(set(_chunks(inserted)) - before) <= 3


def test_pyfastcdc_is_imported_only_for_a_stream_past_the_minimum_chunk() -> None:
    code = (
        "import io, sys\n"
        "from statesync.sync.store.chunker import Chunker\n"
        "from statesync.sync.store.repo import CHUNK_AVG, CHUNK_MAX, CHUNK_MIN, Descriptor\n"
        "c = Chunker(Descriptor('s', 't', CHUNK_MIN, CHUNK_AVG, CHUNK_MAX, 16 << 20))\n"
        "list(c.chunks(io.BytesIO(b'x' * (CHUNK_MIN - 1))))\n"
        "print('pyfastcdc' in sys.modules)\n"
        "list(c.chunks(io.BytesIO(b'x' * (CHUNK_MIN + 1))))\n"
        "print('pyfastcdc' in sys.modules)\n"
    )
    assert child_output(code).split() == ["False", "True"]
