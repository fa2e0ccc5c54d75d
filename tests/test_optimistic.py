"""The one optimistic-retry loop: re-runs a step that lost a race, then gives up by name."""

from __future__ import annotations

import pytest

from statesync.errors import ConflictError
from statesync.optimistic import AGAIN, Again, retry_conditional


def test_a_step_that_wins_returns_its_result_at_once() -> None:
    calls: list[int] = []

    def step(n: int) -> str | Again:
        calls.append(n)
        return "done" if n == 2 else AGAIN

    assert retry_conditional(step, attempts=5, gave_up=lambda: ConflictError("x")) == "done"
    assert calls == [0, 1, 2]


def test_falsy_results_are_results_not_retries() -> None:
    assert retry_conditional(lambda n: None, attempts=1, gave_up=lambda: ConflictError("x")) is None
    assert (
        retry_conditional(lambda n: False, attempts=1, gave_up=lambda: ConflictError("x")) is False
    )


def test_after_the_last_attempt_it_raises_what_gave_up_names() -> None:
    calls: list[int] = []

    def step(n: int) -> int | Again:
        calls.append(n)
        return AGAIN

    with pytest.raises(ConflictError, match="kept moving"):
        retry_conditional(step, attempts=3, gave_up=lambda: ConflictError("kept moving"))
    assert calls == [0, 1, 2]


def test_backoff_sleeps_between_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("statesync.optimistic.time.sleep", slept.append)
    with pytest.raises(ConflictError):
        retry_conditional(
            lambda n: AGAIN,
            attempts=3,
            gave_up=lambda: ConflictError("x"),
            backoff=lambda n: 0.5 * (n + 1),
        )
    assert slept == [0.5, 1.0, 1.5]


def test_what_a_step_raises_passes_through() -> None:
    def step(n: int) -> int | Again:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        retry_conditional(step, attempts=3, gave_up=lambda: ConflictError("x"))
