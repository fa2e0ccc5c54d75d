"""Optimistic concurrency: the one loop that re-runs a read-modify-conditional-write.

A step reads what it needs, computes the new value and writes it with a
condition (create-only, or update of the version it read). When the
condition fails someone else wrote first: the step returns :data:`AGAIN`
and runs once more on fresh data, up to ``attempts`` times. Transient store
faults are not handled here (see :mod:`statesync.backends.retry`).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Final, TypeVar

T = TypeVar("T")


class Again(enum.Enum):
    """The type of :data:`AGAIN` (for annotations: ``T | Again``)."""

    AGAIN = "again"


#: Returned by a step whose conditional write lost a race: run it again.
AGAIN: Final = Again.AGAIN


def retry_conditional(
    step: Callable[[int], T | Again],
    *,
    attempts: int,
    gave_up: Callable[[], Exception],
    backoff: Callable[[int], float] | None = None,
) -> T:
    """Run ``step(attempt)`` until it returns something other than :data:`AGAIN`.

    ``attempt`` counts from 0. After a step returns :data:`AGAIN`, sleeps
    ``backoff(attempt)`` seconds when given. After ``attempts`` steps that all
    returned :data:`AGAIN`, raises ``gave_up()``. Whatever a step raises
    passes through unchanged.
    """
    for attempt in range(attempts):
        result = step(attempt)
        if result is not AGAIN:
            return result
        if backoff is not None:
            time.sleep(backoff(attempt))
    raise gave_up()
