"""The backend protocol: object-store verbs with conditional writes.

This module is the specification every driver implements (memory, local, s3,
azure, gcs). Keys are ``/``-separated relative names such as
``refs/default``; drivers prefix them with the store URL's own prefix.

Put modes (ARCHITECTURE.md §6):

* ``OVERWRITE`` — unconditional write.
* ``CREATE`` — write only if the key is absent; otherwise :class:`AlreadyExists`.
* ``Update(expected)`` — write only if the key exists at exactly ``expected``;
  otherwise (changed *or* gone) :class:`PreconditionFailed`.

Errors are translated by the mode of the call, never by status code alone.
Transient faults raise :class:`TransientError` and are retried by
:mod:`statesync.backends.retry`, the one retry wrapper.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Final, TypeAlias


@dataclass(frozen=True)
class Version:
    """An opaque version token (ETag, generation, content stamp).

    Passed back to the backend exactly as received; compare only for equality.
    """

    token: str


@dataclass(frozen=True)
class Meta:
    """What ``head`` and ``list`` report about one object.

    ``modified`` is the store's own timestamp (timezone-aware, UTC) where the
    backend gives one, so callers can judge age without trusting local clocks.
    """

    key: str
    size: int
    version: Version
    modified: datetime | None = None


class _Overwrite:
    def __repr__(self) -> str:
        return "OVERWRITE"


class _Create:
    def __repr__(self) -> str:
        return "CREATE"


@dataclass(frozen=True)
class Update:
    """Put mode: replace the object only if it is still at ``expected``."""

    expected: Version


OVERWRITE: Final = _Overwrite()
CREATE: Final = _Create()
PutMode: TypeAlias = _Overwrite | _Create | Update

#: In-memory bytes accepted by ``put``.
Bytes: TypeAlias = bytes | bytearray | memoryview


class Digested:
    """Bytes, in parts, whose SHA-256 the caller has already computed (a pack: its id).

    The object's body is the parts concatenated; drivers that can write parts
    one after another never join them. Drivers that store a SHA-256 beside the
    object take ``sha256`` instead of hashing the body again; a wrong value
    makes every later read of the object fail its check, so only pass a digest
    computed over exactly these bytes. Hand the parts over (keep no other
    reference to the list): :meth:`joined` then frees them.
    """

    def __init__(self, parts: list[bytes], sha256: str) -> None:
        self._parts = parts
        self.sha256 = sha256

    @property
    def parts(self) -> Sequence[bytes]:
        return self._parts

    def joined(self) -> bytes:
        """The body in one piece, joined once: a retry reuses it, the parts are let go."""
        if len(self._parts) != 1:
            self._parts = [b"".join(self._parts)]
        return self._parts[0]


#: Data accepted by ``put``: bytes (digested or not), or a binary stream read to its end.
PutData: TypeAlias = Bytes | Digested | BinaryIO


class Backend(abc.ABC):
    """An object store with conditional writes.

    Every method may raise :class:`TransientError` (retryable) and
    :class:`BackendUnavailable` (not retryable: missing bucket, bad credentials).
    """

    #: The store URL this backend was opened from (for messages and caches).
    url: str = ""

    @abc.abstractmethod
    def get(self, key: str) -> tuple[bytes, Version]:
        """Return the object's whole body and its version. Raises :class:`NotFound`."""

    @abc.abstractmethod
    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Return ``length`` bytes from ``start`` (fewer only at the object's end).

        Raises :class:`NotFound`.
        """

    @abc.abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """Return a stream over the object's body (bounded memory). Raises :class:`NotFound`."""

    @abc.abstractmethod
    def head(self, key: str) -> Meta:
        """Return the object's metadata. Raises :class:`NotFound`."""

    @abc.abstractmethod
    def put(self, key: str, data: PutData, mode: PutMode = OVERWRITE) -> Version:
        """Write the object under ``mode`` and return its new version.

        A stream is read to its end; large streams are uploaded in parts with
        bounded memory. Raises :class:`AlreadyExists` (failed ``CREATE``) or
        :class:`PreconditionFailed` (failed ``Update``). Nothing partial is
        ever visible under ``key``.
        """

    @abc.abstractmethod
    def delete(self, key: str, expected: Version | None = None) -> None:
        """Delete the object; with ``expected``, only if it is still that version.

        Deleting an absent key without ``expected`` is not an error. With
        ``expected``, a changed or absent object raises :class:`PreconditionFailed`.
        """

    @abc.abstractmethod
    def list(self, prefix: str) -> Iterator[Meta]:
        """Yield every object whose key starts with ``prefix``, in key order."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the backend is unusable afterwards."""
