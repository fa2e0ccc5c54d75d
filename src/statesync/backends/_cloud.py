"""Helpers shared by the cloud drivers (s3, azure, gcs); no SDK is imported here.

* :func:`prepare` turns any :data:`PutData` into a :class:`Body` whose size and
  SHA-256 are known *before* the upload starts, with bounded memory: every
  driver stores that hash beside the object and checks it on :meth:`get`.
* :class:`PartsReader` streams a list of byte strings without joining them.
* :class:`ChunkReader` turns an iterator of byte chunks into the ``BinaryIO``
  that ``open_read`` returns, translating SDK faults raised mid-stream.
* :class:`BucketProbe` tells a missing key from a missing bucket when a
  service answers both with the same bare 404.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import io
import itertools
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import IO, BinaryIO, cast

from statesync.backends.base import CREATE, OVERWRITE, Digested, Meta, PutData, PutMode, Update
from statesync.errors import (
    AlreadyExists,
    BackendError,
    BackendUnavailable,
    ChecksumMismatch,
    NotFound,
    PreconditionFailed,
)

#: Bodies up to this size go up in one request (and so with the strongest
#: service-side conditions); larger ones go in parts of ``PART_SIZE``. Above
#: the engine's 16 MiB packs, so a pack is one request with no pre-check.
SINGLE_PUT_LIMIT = 32 * 1024 * 1024
#: Part / block / chunk size: S3 needs >= 5 MiB, GCS a multiple of 256 KiB.
PART_SIZE = 8 * 1024 * 1024
#: S3 allows at most 10,000 parts; parts grow for bodies beyond 80 GB.
MAX_PARTS = 10_000
#: Connections per backend: enough for a push that uploads in parallel.
POOL_SIZE = 32
#: (connect, read) timeouts in seconds for every request.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0
_COPY_BLOCK = 1024 * 1024


class Body:
    """A put's payload: size and SHA-256 known up front, bytes readable once more.

    Small bodies live in memory (a :class:`Digested` payload keeps its parts:
    :meth:`rewind` streams them, :meth:`read_all` joins them once); a
    non-seekable stream is spooled to a temporary file (memory up to
    ``SINGLE_PUT_LIMIT``), a seekable one is hashed in place and rewound.
    Close it (or use ``with``) when done.
    """

    def __init__(
        self,
        stream: IO[bytes],
        size: int,
        sha256: str,
        owned: bool,
        digested: Digested | None = None,
    ) -> None:
        self._stream = stream
        self._start = stream.tell()
        self.size = size
        self.sha256 = sha256
        self._owned = owned
        self._digested = digested

    @classmethod
    def in_memory(cls, data: Digested) -> Body:
        """A body over bytes in memory, kept as parts: streamed as they are,
        joined (once) only if a driver asks for :meth:`read_all`."""
        stream = cast(IO[bytes], PartsReader(data.parts))
        return cls(stream, sum(map(len, data.parts)), data.sha256, owned=True, digested=data)

    @property
    def small(self) -> bool:
        """True when the body goes up in a single request."""
        return self.size <= SINGLE_PUT_LIMIT

    def part_size(self) -> int:
        """The part size to use so the body fits in ``MAX_PARTS`` parts."""
        needed = -(-self.size // MAX_PARTS)
        return max(PART_SIZE, -(-needed // PART_SIZE) * PART_SIZE)

    def read_all(self) -> bytes:
        """The whole body (only for small bodies)."""
        if self._digested is not None:
            return self._digested.joined()
        self._stream.seek(self._start)
        return self._stream.read()

    def parts(self, size: int | None = None) -> Iterator[bytes]:
        """The body in consecutive pieces of ``size`` bytes (the last may be shorter)."""
        size = size or self.part_size()
        self._stream.seek(self._start)
        while piece := self._stream.read(size):
            yield piece

    def rewind(self) -> IO[bytes]:
        """The underlying stream, positioned at the body's first byte."""
        self._stream.seek(self._start)
        return self._stream

    def close(self) -> None:
        if self._owned:
            self._stream.close()

    def __enter__(self) -> Body:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PartsReader(io.RawIOBase):
    """A seekable read-only stream over byte strings, without concatenating them."""

    def __init__(self, parts: Sequence[bytes]) -> None:
        self._parts = parts
        self._starts = list(itertools.accumulate((len(p) for p in parts), initial=0))
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._starts[-1]}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        i = bisect.bisect_right(self._starts, self._pos) - 1
        written = 0
        while written < len(view) and i < len(self._parts):
            part = self._parts[i]
            start = self._pos - self._starts[i]
            n = min(len(part) - start, len(view) - written)
            view[written : written + n] = part[start : start + n]
            written += n
            self._pos += n
            i += 1
        return written


def prepare(data: PutData) -> Body:
    """Read ``data`` once to learn its size and SHA-256 (a :class:`Digested` brings its own)."""
    if isinstance(data, Digested):
        return Body.in_memory(data)
    sha = hashlib.sha256()
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        sha.update(raw)
        return Body.in_memory(Digested([raw], sha.hexdigest()))
    if data.seekable():
        start = data.tell()
        size = _drain(data, sha, None)
        data.seek(start)
        return Body(data, size, sha.hexdigest(), owned=False)
    spool = tempfile.SpooledTemporaryFile(max_size=SINGLE_PUT_LIMIT)  # noqa: SIM115 - Body owns it
    size = _drain(data, sha, spool)
    spool.seek(0)
    return Body(spool, size, sha.hexdigest(), owned=True)


def _drain(source: IO[bytes], sha: hashlib._Hash, sink: IO[bytes] | None) -> int:
    size = 0
    while block := source.read(_COPY_BLOCK):
        size += len(block)
        sha.update(block)
        if sink is not None:
            sink.write(block)
    return size


def verify(key: str, body: bytes, expected_hex: str | None) -> bytes:
    """Return ``body`` if it matches the SHA-256 stored with it; else :class:`ChecksumMismatch`.

    Objects written by other tools carry no stored hash and pass unchecked;
    callers verify content ids themselves in any case.
    """
    if expected_hex is not None and hashlib.sha256(body).hexdigest() != expected_hex.lower():
        raise ChecksumMismatch(f"object {key!r} does not match the SHA-256 stored with it")
    return body


def full_key(prefix: str, key: str) -> str:
    """The service-side name of ``key`` under the store's prefix."""
    return f"{prefix}/{key}" if prefix else key


def relative_key(prefix: str, name: str) -> str:
    """Inverse of :func:`full_key`."""
    return name[len(prefix) + 1 :] if prefix else name


def utc(stamp: datetime | None) -> datetime | None:
    """A timezone-aware UTC timestamp (services answer aware or naive UTC)."""
    if stamp is None:
        return None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


class BucketProbe:
    """Tells "no such key" from "no such bucket" behind an ambiguous 404.

    HEAD requests (and some emulators) answer both with a bare 404. The first
    such 404 probes the bucket once; once the bucket is known to exist the
    answer is cached, so later misses cost nothing extra.
    """

    def __init__(self, exists: Callable[[], bool], what: str) -> None:
        self._exists = exists
        self._what = what
        self._known = False
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise :class:`BackendUnavailable` if the bucket is missing."""
        if self._known:
            return
        with self._lock:
            if not self._known and not self._exists():
                raise BackendUnavailable(f"{self._what} does not exist")
            self._known = True


class ChunkReader(io.RawIOBase):
    """A read-only raw stream over an iterator of chunks, for ``open_read``.

    ``translate`` wraps each step so SDK faults raised mid-stream surface as
    statesync errors; ``release`` is called once on close.
    """

    def __init__(
        self,
        chunks: Iterator[bytes],
        translate: Callable[[], contextlib.AbstractContextManager[None]],
        release: Callable[[], None] = lambda: None,
    ) -> None:
        self._chunks = chunks
        self._translate = translate
        self._release = release
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            with self._translate():
                chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        if not self.closed:
            self._release()
        super().close()


def reader(raw: ChunkReader) -> BinaryIO:
    """Buffer a :class:`ChunkReader` into the ``BinaryIO`` the protocol returns."""
    return io.BufferedReader(raw, buffer_size=_COPY_BLOCK)


def transport_reason(exc: BaseException) -> str:
    """The root OS-level cause of a transport fault ("Connection refused"), else its first line.

    HTTP stacks wrap a refused connection three or four layers deep, in
    messages too long for the one-line errors users see.
    """
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None and current.strerror:
            return str(current.strerror)
        pending.extend([current.__cause__, current.__context__])
        # urllib3 keeps the cause in .reason, azure-core in .inner_exception.
        pending.extend(
            [getattr(current, "reason", None), getattr(current, "inner_exception", None)]
        )
        pending.extend(current.args)
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def unavailable(message: str, exc: BaseException) -> BackendError:
    """A one-line :class:`BackendUnavailable` naming the cause."""
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return BackendUnavailable(f"{message}: {detail}")


def fail_fast(head: Callable[[str], Meta], key: str, mode: PutMode, where: str) -> None:
    """Refuse a doomed large upload before sending its parts or blocks.

    Only an optimisation (it races): the condition on the final request
    (CompleteMultipartUpload, the block-list commit, the resumable upload's
    last chunk) is the guard. It also covers emulators that ignore that
    condition, for the case that does not race.
    """
    if mode is OVERWRITE:
        return
    try:
        current = head(key).version
    except NotFound as exc:
        if isinstance(mode, Update):
            raise PreconditionFailed(f"{key!r} is gone from {where}") from exc
        return
    if mode is CREATE:
        raise AlreadyExists(f"{key!r} already exists in {where}")
    if isinstance(mode, Update) and current != mode.expected:
        raise PreconditionFailed(f"{key!r} changed in {where}")


#: Longest wait a throttling answer may ask of us (a bad header must not stall a push).
_MAX_RETRY_AFTER = 120.0


def retry_after(headers: object) -> float | None:
    """Seconds a throttling answer asks us to wait, from its headers; None if it says nothing.

    Reads ``x-ms-retry-after-ms`` (Azure), then ``Retry-After`` in seconds or
    as an HTTP date; ``headers`` is any mapping with a ``get`` (case as sent
    or lowercased, as each SDK hands them over).
    """
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for name, scale in (("x-ms-retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = get(name) or get(name.title()) or get(name.upper())
        if not raw:
            continue
        seconds: float | None
        try:
            seconds = float(raw) * scale
        except ValueError:
            seconds = _http_date_in(str(raw))
        if seconds is not None and seconds >= 0:
            return min(seconds, _MAX_RETRY_AFTER)
    return None


def _http_date_in(text: str) -> float | None:
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return (when - datetime.now(UTC)).total_seconds()
