"""The one retry wrapper: retries transient faults of any backend with backoff.

:class:`RetryingBackend` wraps any :class:`Backend` without it knowing. Only
:class:`TransientError` is retried; everything else (not found, precondition,
bad credentials) passes through at once. After ``attempts`` tries the last
fault surfaces as :class:`BackendUnavailable`, with a one-line message.

A retried conditional put may have landed the first time; callers that care
(the ref writer) re-read and compare on :class:`PreconditionFailed`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO, TypeVar

from statesync.backends.base import (
    OVERWRITE,
    Backend,
    Digested,
    Meta,
    PutData,
    PutMode,
    Version,
)
from statesync.errors import BackendUnavailable, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")


class RetryingBackend(Backend):
    """Retry :class:`TransientError` with capped exponential backoff and jitter."""

    def __init__(
        self,
        inner: Backend,
        attempts: int = 5,
        base_delay: float = 0.1,
        max_delay: float = 4.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.url = inner.url
        self.attempts = max(1, attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep

    def _call(self, what: str, fn: Callable[[], T], rewind: Callable[[], None] | None = None) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except TransientError as exc:
                if attempt == self.attempts:
                    raise BackendUnavailable(
                        f"{what} failed after {attempt} attempts: {exc}"
                    ) from exc
                delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
                delay *= 0.5 + random.random() / 2
                log.debug("retrying %s in %.2fs after: %s", what, delay, exc)
                self._sleep(delay)
                if rewind is not None:
                    rewind()
        raise AssertionError("unreachable")

    def get(self, key: str) -> tuple[bytes, Version]:
        return self._call(f"get {key}", lambda: self.inner.get(key))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self._call(f"get {key}", lambda: self.inner.get_range(key, start, length))

    def open_read(self, key: str) -> BinaryIO:
        return self._call(f"get {key}", lambda: self.inner.open_read(key))

    def head(self, key: str) -> Meta:
        return self._call(f"head {key}", lambda: self.inner.head(key))

    def put(self, key: str, data: PutData, mode: PutMode = OVERWRITE) -> Version:
        rewind = None
        if not isinstance(data, bytes | bytearray | memoryview | Digested):
            if not data.seekable():
                return self.inner.put(key, data, mode)
            start = data.tell()

            def rewind() -> None:
                data.seek(start)

        return self._call(f"put {key}", lambda: self.inner.put(key, data, mode), rewind)

    def delete(self, key: str, expected: Version | None = None) -> None:
        self._call(f"delete {key}", lambda: self.inner.delete(key, expected))

    def list(self, prefix: str) -> Iterator[Meta]:
        # Listing restarts from the beginning on a fault; callers consume it whole.
        return iter(self._call(f"list {prefix}", lambda: list(self.inner.list(prefix))))

    def close(self) -> None:
        self.inner.close()
