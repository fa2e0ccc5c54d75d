"""Content-defined chunking (FastCDC 2020 via pyfastcdc) with bounded memory.

One changed byte changes about one chunk, so a small edit to a large file
uploads about one chunk. Files are read as streams, never mapped whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from statesync.sync.store.repo import Descriptor

if TYPE_CHECKING:
    from pyfastcdc import FastCDC


class Chunker:
    """Cuts streams into chunks with the store's parameters. Not thread-safe."""

    def __init__(self, desc: Descriptor) -> None:
        self._desc = desc
        self._cdc: FastCDC | None = None
        self.min_size = desc.chunk_min

    def _cutter(self) -> FastCDC:
        """The FastCDC cutter, made (and pyfastcdc imported) for the first stream that needs it.

        Only a stream longer than the minimum chunk is cut: a command that
        chunks nothing, or only small files, never imports pyfastcdc.
        """
        if self._cdc is None:
            from pyfastcdc import FastCDC

            d = self._desc
            self._cdc = FastCDC(d.chunk_avg, min_size=d.chunk_min, max_size=d.chunk_max)
        return self._cdc

    def chunks(self, stream: BinaryIO) -> Iterator[bytes]:
        """Yield the chunks of ``stream`` as independent ``bytes`` objects.

        A stream shorter than the minimum chunk size is one chunk; an empty
        stream yields nothing.
        """
        head = stream.read(self.min_size)
        if len(head) < self.min_size:
            if head:
                yield head
            return
        for chunk in self._cutter().cut_stream(_Prefixed(head, stream)):
            yield bytes(chunk.data)


class _Prefixed:
    """A reader that first returns ``head``, then the rest of ``stream`` (``readinto``)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readinto(self, buf: memoryview) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        got: int = self._stream.readinto(buf)  # type: ignore[attr-defined]
        return got
