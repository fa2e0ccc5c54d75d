"""A backend that passes every verb to a real driver: tests subclass it to bend one verb."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from statesync.backends.base import OVERWRITE, Backend, Meta, PutData, PutMode, Version


class Delegating(Backend):
    """Passes every verb to ``inner`` unchanged; subclasses override the verbs they watch."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.url = inner.url

    def get(self, key: str) -> tuple[bytes, Version]:
        return self.inner.get(key)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self.inner.get_range(key, start, length)

    def open_read(self, key: str) -> BinaryIO:
        return self.inner.open_read(key)

    def head(self, key: str) -> Meta:
        return self.inner.head(key)

    def put(self, key: str, data: PutData, mode: PutMode = OVERWRITE) -> Version:
        return self.inner.put(key, data, mode)

    def delete(self, key: str, expected: Version | None = None) -> None:
        self.inner.delete(key, expected)

    def list(self, prefix: str) -> Iterator[Meta]:
        return self.inner.list(prefix)

    def close(self) -> None:
        self.inner.close()
