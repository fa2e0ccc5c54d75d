"""A small progress bar on stderr, shown only to a person at a terminal."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    """Thread-safe byte counter that redraws at most ten times a second.

    Silent when disabled (``-q``, ``--json``, or stderr is not a terminal).
    """

    def __init__(self, label: str, total: int, enabled: bool, out: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self._out = out or sys.stderr
        self.enabled = enabled and self._out.isatty()
        self._lock = threading.Lock()
        self._last = 0.0
        self._start = time.monotonic()

    def update(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if self.enabled and now - self._last >= 0.1:
                self._last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        frac = min(1.0, self.done / self.total)
        rate = self.done / max(now - self._start, 1e-6) / 1e6
        bar = "#" * int(frac * 30)
        self._out.write(f"\r{self.label} [{bar:<30}] {frac:4.0%} {rate:7.1f} MB/s")
        self._out.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self._out.write("\n")
            self._out.flush()


def quiet() -> Progress:
    """A progress bar that never draws."""
    return Progress("", 0, enabled=False)


def bar(label: str, total: int) -> Progress:
    """A bar on stderr, drawn when stderr is a terminal (a :data:`MeterFactory`)."""
    return Progress(label, total, enabled=True)
