"""Chunk blobs: a batch compressed in one call is byte for byte the chunks compressed alone."""

from __future__ import annotations

import os

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from statesync.sync.store import codec

chunk_lists = st.lists(st.binary(max_size=3000), max_size=12)


@given(chunk_lists)
def test_a_batch_is_sealed_as_each_chunk_alone(chunks: list[bytes]) -> None:
    assert codec.seal_blobs(chunks) == [codec.seal_blob(c) for c in chunks]


@given(chunk_lists)
def test_every_blob_of_a_batch_opens_to_its_chunk(chunks: list[bytes]) -> None:
    for chunk, blob in zip(chunks, codec.seal_blobs(chunks), strict=True):
        cid = codec.sha256_hex(chunk)
        assert codec.open_blob(blob, cid, len(chunk), "test") == chunk


@pytest.mark.parametrize(
    "chunks",
    [
        [],
        [b""],
        [b"", b""],
        [b"one"],
        [b"a" * 5000, b""],
        [memoryview(b"viewed" * 100), bytearray(b"array" * 100)],
        [os.urandom(300_000), b"{}" * 1000],  # a large chunk beside a small one
    ],
    ids=["none", "empty", "two-empty", "single", "with-empty", "buffers", "large"],
)
def test_the_batches_zstd_takes_chunk_by_chunk_are_sealed_the_same(
    chunks: list[bytes | memoryview],
) -> None:
    assert codec.seal_blobs(chunks) == [codec.seal_blob(c) for c in chunks]


def test_a_backend_without_the_batch_call_seals_chunk_by_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(self: object, data: object, threads: int = 0) -> object:
        raise NotImplementedError

    chunks = [b"first" * 50, b"second" * 70]
    want = [codec.seal_blob(c) for c in chunks]
    monkeypatch.setattr(codec, "_LOCAL", type(codec._LOCAL)())  # a fresh compressor
    monkeypatch.setattr(zstandard.ZstdCompressor, "multi_compress_to_buffer", refuse)
    assert codec.seal_blobs(chunks) == want
