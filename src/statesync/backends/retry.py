"""The one retry wrapper: retries transient faults of any backend, within a time budget.

:class:`RetryingBackend` wraps any :class:`Backend` without it knowing. Only
:class:`TransientError` is retried; everything else (not found, precondition,
bad credentials) passes through at once. Retries back off exponentially with
jitter, wait at least as long as a throttling answer asked for
(``TransientError.retry_after``: Retry-After, x-ms-retry-after-ms), and stop
when the next wait would overrun the total budget of one call (default
:data:`CLI_BUDGET`; ``STATESYNC_RETRY_BUDGET`` as ``90s``/``5m``/``1h`` or
seconds; :data:`SERVICE_BUDGET` suits a long-running service). The last fault
then surfaces as :class:`BackendUnavailable`, with a one-line message. Each
retry is logged at INFO (``-v``) with a running count, :attr:`retries`.

A retried conditional put may have landed the first time; callers that care
(the ref writer) re-read and compare on :class:`PreconditionFailed`.

A ``get`` whose bytes fail the driver's stored SHA-256 (:class:`ChecksumMismatch`)
is read once more (logged at ``-v`` as "re-read after checksum mismatch"): a
matching second read means the first was damaged in transit; a second
mismatch means the object is damaged in the store, and that surfaces (exit 4).
Range reads carry no stored hash; their callers verify chunk ids and re-read
through :func:`statesync.sync.store.reread.reread_once`.
"""

from __future__ import annotations

import logging
import os
import random
import threading
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
from statesync.errors import BackendUnavailable, ChecksumMismatch, TransientError, UsageError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Total retry time of one call for the CLI (restic retries up to 15 min, object_store 3).
CLI_BUDGET = 300.0
#: For a long-running service, which would rather wait out an outage than fail a sync.
SERVICE_BUDGET = 900.0
BUDGET_ENV = "STATESYNC_RETRY_BUDGET"
_UNITS = {"s": 1, "m": 60, "h": 3600}


def budget_from_env(default: float = CLI_BUDGET) -> float:
    """``STATESYNC_RETRY_BUDGET`` in seconds (``0`` turns retries off); :class:`UsageError`."""
    text = os.environ.get(BUDGET_ENV, "").strip()
    if not text:
        return default
    num, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        seconds = float(num) * _UNITS[unit]
    except ValueError:
        seconds = -1
    if not 0 <= seconds < 366 * 86400:
        raise UsageError(f"{BUDGET_ENV}={text!r}: use seconds or e.g. 30s, 5m, 1h")
    return seconds


class RetryingBackend(Backend):
    """Retry :class:`TransientError` with capped exponential backoff and jitter, in a budget.

    ``budget``: seconds one call may spend retrying (None: from the environment).
    ``attempts``: an optional cap on tries as well. The budget counts the
    waits as well as the clock, so an injected ``sleep`` keeps it finite.
    """

    def __init__(
        self,
        inner: Backend,
        attempts: int | None = None,
        base_delay: float = 0.1,
        max_delay: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        budget: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.url = inner.url
        self.attempts = max(1, attempts) if attempts is not None else None
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.budget = budget_from_env() if budget is None else budget
        self._sleep = sleep
        self._clock = clock
        self._count = threading.Lock()
        self.retries = 0
        #: Objects read a second time after a checksum mismatch.
        self.rereads = 0

    def _delay(self, attempt: int, exc: TransientError) -> float:
        delay = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        delay *= 0.5 + random.random() / 2
        return max(delay, exc.retry_after or 0.0)

    def _call(self, what: str, fn: Callable[[], T], rewind: Callable[[], None] | None = None) -> T:
        start, waited, attempt = self._clock(), 0.0, 0
        while True:
            attempt += 1
            try:
                return fn()
            except TransientError as exc:
                delay = self._delay(attempt, exc)
                spent = max(self._clock() - start, waited)
                if spent + delay > self.budget or attempt == self.attempts:
                    raise BackendUnavailable(
                        f"{what} failed after {attempt} attempts: {exc} (retried "
                        f"{spent:.1f}s of a {self.budget:g}s budget, see {BUDGET_ENV})"
                    ) from exc
                with self._count:
                    self.retries += 1
                    count = self.retries
                log.info(
                    "retry %d: %s again in %.2fs (attempt %d, %.1fs of %gs budget): %s",
                    count,
                    what,
                    delay,
                    attempt + 1,
                    spent,
                    self.budget,
                    exc,
                )
                self._sleep(delay)
                waited += delay
                if rewind is not None:
                    rewind()

    def get(self, key: str) -> tuple[bytes, Version]:
        """The inner ``get``, retried; a :class:`ChecksumMismatch` is re-read once."""
        try:
            return self._call(f"get {key}", lambda: self.inner.get(key))
        except ChecksumMismatch as exc:
            with self._count:
                self.rereads += 1
            log.info("re-read after checksum mismatch: %s", exc)
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
        if self.retries:
            log.info("%d retries of transient faults on %s", self.retries, self.url)
        self.inner.close()
