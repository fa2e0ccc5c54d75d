"""File plumbing for bundles: format by suffix, atomic output, bounded-memory streams."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import zstandard

from statesync.errors import BundleError, LocalFileError, UsageError
from statesync.fsutil import atomic_writer

JSON = "json"
YAML = "yaml"
TAR_ZST = "tar.zst"
_SUFFIXES = ((".tar.zst", TAR_ZST), (".json", JSON), (".yaml", YAML), (".yml", YAML))
#: Compressed bytes fed to zstd per call: bounds one call's output (a crafted
#: frame expands at most ~32768x, so 1 KiB yields at most 32 MiB).
_ZSTD_PIECE = 1024
_RAW_BLOCK = 64 * 1024


def bundle_format(path: Path) -> str:
    """``json``, ``yaml`` or ``tar.zst`` from the file name; :class:`UsageError` otherwise."""
    name = path.name.lower()
    for suffix, fmt in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return fmt
    raise UsageError(f"{path.name}: unknown bundle type (use .json, .yaml, .yml or .tar.zst)")


@contextlib.contextmanager
def atomic_output(out: Path) -> Iterator[BinaryIO]:
    """Yield a private (0600) temp file beside ``out``; on success it replaces ``out``.

    Written by :func:`statesync.fsutil.atomic_writer` (fsync, rename, fsync of
    the folder). On any error the temp file is removed and ``out`` is left as
    it was. An :class:`OSError` becomes a one-line :class:`LocalFileError`.
    """
    try:
        with atomic_writer(out) as fh:
            yield fh
    except OSError as exc:
        raise LocalFileError(f"cannot write {out}: {exc.strerror}") from None


class EntryReader:
    """A ``read(n)`` file over an entry's verified chunks (full reads until the end).

    Not :class:`statesync.backends._cloud.ChunkReader`, which adapts an SDK download.

    :meth:`drain` runs the iterator to its end, so a verifying iterator
    (``download.iter_entry``) gets to check the whole-file digest.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._it = chunks
        self._cur = b""
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        parts: list[bytes] = []
        want = n
        while want != 0:
            if self._pos >= len(self._cur):
                nxt = next(self._it, None)
                if nxt is None:
                    break
                self._cur, self._pos = nxt, 0
                continue
            avail = len(self._cur) - self._pos
            take = avail if want < 0 else min(want, avail)
            parts.append(self._cur[self._pos : self._pos + take])
            self._pos += take
            if want > 0:
                want -= take
        return b"".join(parts)

    def drain(self) -> None:
        for _ in self._it:
            pass


class ZstdReader(io.RawIOBase):
    """Decompress one zstd frame from ``raw`` with bounded memory, strictly.

    Raises :class:`BundleError` if the input ends before the frame does
    (truncation), if bytes follow the frame, or if the data is corrupt.
    """

    def __init__(self, raw: BinaryIO, where: str) -> None:
        super().__init__()
        self._raw = raw
        self._where = where
        self._dobj = zstandard.ZstdDecompressor().decompressobj()
        self._in = b""
        self._in_pos = 0
        self._out = b""
        self._out_pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while self._out_pos >= len(self._out):
            if not self._fill():
                return 0
        n = min(len(buffer), len(self._out) - self._out_pos)
        buffer[:n] = self._out[self._out_pos : self._out_pos + n]
        self._out_pos += n
        return n

    def _fill(self) -> bool:
        if self._dobj.eof:
            self._check_trailing()
            return False
        if self._in_pos >= len(self._in):
            self._in, self._in_pos = self._raw.read(_RAW_BLOCK), 0
            if not self._in:
                raise BundleError(f"{self._where}: truncated (the zstd stream ends early)")
        piece = self._in[self._in_pos : self._in_pos + _ZSTD_PIECE]
        self._in_pos += len(piece)
        try:
            self._out, self._out_pos = self._dobj.decompress(piece), 0
        except zstandard.ZstdError:
            raise BundleError(f"{self._where}: corrupt zstd data") from None
        return True

    def _check_trailing(self) -> None:
        if self._dobj.unused_data or self._in[self._in_pos :] or self._raw.read(1):
            raise BundleError(f"{self._where}: unexpected data after the end of the bundle")
