"""In-process object store for tests: ``memory://name``.

Stores opened with the same name in one process share their objects. The
semantics (modes, versions, errors) are those of every other backend.
"""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, BinaryIO

from statesync.backends.base import (
    CREATE,
    OVERWRITE,
    Backend,
    Digested,
    Meta,
    PutData,
    PutMode,
    Update,
    Version,
)
from statesync.errors import AlreadyExists, NotFound, PreconditionFailed

if TYPE_CHECKING:
    from statesync.backends import StoreUrl

_Entry = tuple[bytes, Version, datetime]
_STORES: dict[str, dict[str, _Entry]] = {}
_LOCK = threading.Lock()
_COUNTER = itertools.count(1)


def open_url(parsed: StoreUrl) -> MemoryBackend:
    """Open (or join) the in-process store named by the URL."""
    return MemoryBackend(parsed.bucket + "/" + parsed.prefix)


def _read_all(data: PutData) -> bytes:
    if isinstance(data, Digested):
        return data.joined()
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    return data.read()


class MemoryBackend(Backend):
    """A dict behind one lock; versions are a process-wide counter."""

    def __init__(self, name: str) -> None:
        with _LOCK:
            self._objects = _STORES.setdefault(name, {})

    def _entry(self, key: str) -> _Entry:
        try:
            return self._objects[key]
        except KeyError:
            raise NotFound(f"{key}: no such object") from None

    def get(self, key: str) -> tuple[bytes, Version]:
        with _LOCK:
            body, version, _ = self._entry(key)
        return body, version

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self.get(key)[0][start : start + length]

    def open_read(self, key: str) -> BinaryIO:
        return io.BytesIO(self.get(key)[0])

    def head(self, key: str) -> Meta:
        with _LOCK:
            body, version, modified = self._entry(key)
        return Meta(key, len(body), version, modified)

    def put(self, key: str, data: PutData, mode: PutMode = OVERWRITE) -> Version:
        body = _read_all(data)
        with _LOCK:
            current = self._objects.get(key)
            if mode is CREATE and current is not None:
                raise AlreadyExists(f"{key}: already exists")
            if isinstance(mode, Update) and (current is None or current[1] != mode.expected):
                raise PreconditionFailed(f"{key}: changed since it was read")
            version = Version(str(next(_COUNTER)))
            self._objects[key] = (body, version, datetime.now(UTC))
        return version

    def delete(self, key: str, expected: Version | None = None) -> None:
        with _LOCK:
            current = self._objects.get(key)
            if expected is not None and (current is None or current[1] != expected):
                raise PreconditionFailed(f"{key}: changed since it was read")
            self._objects.pop(key, None)

    def list(self, prefix: str) -> Iterator[Meta]:
        with _LOCK:
            items = sorted((k, v) for k, v in self._objects.items() if k.startswith(prefix))
        for key, (body, version, modified) in items:
            yield Meta(key, len(body), version, modified)
