"""Progress for push and pull: a bar for a person, status lines for a program.

The bar (:func:`bar`) is drawn on stderr and only when stderr is a terminal,
so nothing but results ever reaches stdout. Under ``--json``, :func:`json_status`
prints restic-style ``{"message_type": "status"}`` lines on stdout instead,
at most :func:`status_interval` apart.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

from statesync.cli.output import emit
from statesync.errors import UsageError
from statesync.sync.progress import Meter, MeterFactory

#: ``STATESYNC_PROGRESS_FPS``: status lines (or bar redraws) per second, like restic's knob.
FPS_VARIABLE = "STATESYNC_PROGRESS_FPS"


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


def status_interval(out: TextIO) -> float:
    """Seconds between status lines: ``1/STATESYNC_PROGRESS_FPS`` if set.

    Otherwise, as restic does, ten a second at a terminal and one a minute
    into a pipe or file (a log is not flooded). :class:`UsageError` for a
    value that is not a positive number.
    """
    text = os.environ.get(FPS_VARIABLE, "").strip()
    if not text:
        return 0.1 if out.isatty() else 60.0
    try:
        fps = float(text)
    except ValueError:
        fps = 0.0
    if not 0 < fps < float("inf"):
        raise UsageError(f"{FPS_VARIABLE}={text!r}: expected a positive number (e.g. 0.5, 10)")
    return 1.0 / fps


class StatusLines:
    """A :class:`Meter` printing ``{"message_type": "status"}`` JSON lines, throttled.

    The first line comes one interval after the phase starts, then at most
    one per interval; a phase shorter than the interval prints none (its
    summary says it all). Lines are whole: writes are serialised.
    """

    def __init__(self, phase: str, total: int, out: TextIO, interval: float) -> None:
        self.phase = phase
        self.total = total
        self.done = 0
        self._out = out
        self._interval = interval
        self._lock = threading.Lock()
        self._start = self._last = time.monotonic()

    def update(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if now - self._last >= self._interval:
                self._last = now
                self._line(now)

    def _line(self, now: float) -> None:
        doc = {
            "phase": self.phase,
            "bytes_done": self.done,
            "total_bytes": self.total,
            "percent_done": round(min(1.0, self.done / self.total), 4) if self.total else 1.0,
            "seconds_elapsed": round(now - self._start, 3),
        }
        emit(doc, self._out, line=True, message_type="status")
        self._out.flush()

    def close(self) -> None:
        pass


def json_status(out: TextIO | None = None) -> MeterFactory:
    """A :data:`MeterFactory` of :class:`StatusLines` on ``out`` (default: stdout)."""
    stream = out or sys.stdout
    interval = status_interval(stream)

    def factory(phase: str, total: int) -> Meter:
        return StatusLines(phase, total, stream, interval)

    return factory
