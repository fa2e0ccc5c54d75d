"""The one retry wrapper: transient faults are retried, others pass through."""

from __future__ import annotations

import io

import pytest

from statesync.backends.base import OVERWRITE, PutData, PutMode, Version
from statesync.backends.memory import MemoryBackend
from statesync.backends.retry import RetryingBackend
from statesync.errors import BackendUnavailable, NotFound, TransientError


class Flaky(MemoryBackend):
    def __init__(self, failures: int) -> None:
        super().__init__("flaky-" + str(id(self)))
        self.failures = failures
        self.calls = 0
        self.bodies: list[bytes] = []

    def put(self, key: str, data: PutData, mode: PutMode = OVERWRITE) -> Version:
        self.calls += 1
        if not isinstance(data, bytes):
            self.bodies.append(data.read())  # type: ignore[union-attr]
        if self.calls <= self.failures:
            raise TransientError("503 slow down")
        return super().put(key, self.bodies[-1] if self.bodies else data, mode)


def _wrap(inner: Flaky, attempts: int = 4) -> tuple[RetryingBackend, list[float]]:
    sleeps: list[float] = []
    return RetryingBackend(inner, attempts=attempts, sleep=sleeps.append), sleeps


def test_transient_faults_are_retried_with_growing_backoff() -> None:
    inner = Flaky(failures=3)
    backend, sleeps = _wrap(inner)
    backend.put("k", b"v")
    assert inner.calls == 4 and backend.get("k")[0] == b"v"
    assert len(sleeps) == 3 and sleeps[0] < sleeps[2]


def test_retries_are_bounded_and_end_in_one_clear_error() -> None:
    inner = Flaky(failures=100)
    backend, _ = _wrap(inner, attempts=3)
    with pytest.raises(BackendUnavailable, match="put k failed after 3 attempts: 503"):
        backend.put("k", b"v")
    assert inner.calls == 3


def test_permanent_errors_are_not_retried() -> None:
    inner = Flaky(failures=0)
    backend, sleeps = _wrap(inner)
    with pytest.raises(NotFound):
        backend.get("missing")
    assert sleeps == []


def test_a_stream_is_rewound_before_each_retry() -> None:
    inner = Flaky(failures=2)
    backend, _ = _wrap(inner)
    backend.put("k", io.BytesIO(b"stream body"))
    assert inner.bodies == [b"stream body"] * 3
