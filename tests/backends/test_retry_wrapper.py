"""The one retry wrapper: transient faults are retried, others pass through."""

from __future__ import annotations

import io
import logging

import pytest

from statesync.backends.base import OVERWRITE, PutData, PutMode, Version
from statesync.backends.memory import MemoryBackend
from statesync.backends.retry import RetryingBackend
from statesync.errors import BackendUnavailable, NotFound, TransientError, UsageError


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


# --- the time budget, throttling answers and the retry count ---------------------


class Throttled(MemoryBackend):
    """Answers ``failures`` gets with a throttling fault that asks for ``retry_after``."""

    def __init__(self, failures: int, retry_after: float | None) -> None:
        super().__init__("throttled-" + str(id(self)))
        self.failures = failures
        self.retry_after = retry_after
        self.calls = 0

    def get(self, key: str) -> tuple[bytes, Version]:
        self.calls += 1
        if self.calls <= self.failures:
            raise TransientError("429 throttled", retry_after=self.retry_after)
        return super().get(key)


def test_faults_lasting_longer_than_a_few_attempts_are_ridden_out_within_the_budget() -> None:
    inner = Flaky(failures=12)  # about a minute of backoff: far past five attempts
    sleeps: list[float] = []
    backend = RetryingBackend(inner, sleep=sleeps.append, budget=300)
    backend.put("k", b"v")
    assert inner.calls == 13 and backend.get("k")[0] == b"v"
    assert backend.retries == 12 and 10 < sum(sleeps) <= 300
    assert max(sleeps) <= 20  # the backoff is capped


def test_the_budget_bounds_the_total_wait_and_the_error_says_so() -> None:
    inner = Flaky(failures=10_000)
    sleeps: list[float] = []
    backend = RetryingBackend(inner, sleep=sleeps.append, budget=30)
    with pytest.raises(BackendUnavailable, match=r"failed after \d+ attempts: 503.*30s budget"):
        backend.put("k", b"v")
    assert sum(sleeps) <= 30 and inner.calls == len(sleeps) + 1


def test_a_throttling_answer_sets_the_least_wait() -> None:
    inner = Throttled(failures=2, retry_after=7.5)
    inner.put("k", b"v")
    sleeps: list[float] = []
    assert RetryingBackend(inner, sleep=sleeps.append, budget=60).get("k")[0] == b"v"
    assert len(sleeps) == 2 and all(s >= 7.5 for s in sleeps)


def test_a_throttling_wait_beyond_the_budget_gives_up_at_once() -> None:
    inner = Throttled(failures=5, retry_after=90)
    sleeps: list[float] = []
    with pytest.raises(BackendUnavailable, match="429 throttled"):
        RetryingBackend(inner, sleep=sleeps.append, budget=60).get("k")
    assert sleeps == [] and inner.calls == 1


def test_the_budget_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATESYNC_RETRY_BUDGET", "2m")
    assert RetryingBackend(MemoryBackend("b")).budget == 120
    monkeypatch.setenv("STATESYNC_RETRY_BUDGET", "0")
    inner = Flaky(failures=1)
    with pytest.raises(BackendUnavailable, match="after 1 attempts"):
        RetryingBackend(inner, sleep=lambda s: None).put("k", b"v")
    monkeypatch.setenv("STATESYNC_RETRY_BUDGET", "soon")
    with pytest.raises(UsageError, match="STATESYNC_RETRY_BUDGET"):
        RetryingBackend(MemoryBackend("c"))
    monkeypatch.delenv("STATESYNC_RETRY_BUDGET")
    assert RetryingBackend(MemoryBackend("d")).budget == 300


def test_each_retry_is_counted_at_info_level(caplog: pytest.LogCaptureFixture) -> None:
    inner = Flaky(failures=2)
    backend = RetryingBackend(inner, sleep=lambda s: None, budget=60)
    with caplog.at_level(logging.INFO, logger="statesync.backends.retry"):
        backend.put("k", b"v")
        backend.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("retry 1: put k again") and "503 slow down" in lines[0]
    assert lines[1].startswith("retry 2: put k again")
    assert lines[2] == f"2 retries of transient faults on {inner.url}"
