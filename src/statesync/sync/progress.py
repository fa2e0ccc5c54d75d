"""How sync reports work done: a small protocol that sync owns and callers implement.

sync counts bytes; drawing them is the caller's business (the CLI's progress
bar in :mod:`statesync.cli.progress`). An operation asks its
:data:`MeterFactory` for one :class:`Meter` per phase, calls
:meth:`Meter.update` from any thread, and :meth:`Meter.close` once at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Meter(Protocol):
    """A thread-safe byte counter for one phase of an operation."""

    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


MeterFactory = Callable[[str, int], Meter]
"""``factory(label, total_bytes)`` -> the meter for one phase."""


class _Quiet:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def quiet(label: str = "", total: int = 0) -> Meter:
    """A meter that reports nothing (the default when the caller gave no factory)."""
    return _Quiet()


def meter(factory: MeterFactory | None, label: str, total: int) -> Meter:
    """``factory``'s meter for a phase, or a quiet one when there is no factory."""
    return (factory or quiet)(label, total)
