"""A real ``statesync watch`` process for tests: its events, parsed as they come.

The watcher runs with ``--json``: every event is one JSON object per line on
stderr. Conditions are polled with a deadline, never slept for.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Event = dict[str, Any]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """One CLI command, in a subprocess (PYTHONPATH kept)."""
    return subprocess.run(
        [sys.executable, "-m", "statesync.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def wait_until(
    check: Callable[[], Any], timeout: float = 30.0, what: str | Callable[[], str] = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g}s waiting for {said}")
        time.sleep(0.05)


class WatchProc:
    """``statesync --store URL --json watch DIR --env ENV ARGS...`` as a child process."""

    def __init__(
        self,
        store: str,
        folder: Path,
        *args: str,
        env: str = "dev",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "statesync.cli",
            "--store",
            store,
            "--json",
            "watch",
            str(folder),
            "--env",
            env,
            *args,
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(extra_env or {})},
        )
        self.events: list[Event] = []
        self.lines: list[str] = []
        self.stdout = ""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self.lines.append(line)
                if line.startswith("{"):
                    self.events.append(json.loads(line))

    def of(self, kind: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.get("kind") == kind]

    def wait_event(
        self, kind: str, where: Callable[[Event], bool] = lambda e: True, timeout: float = 30.0
    ) -> Event:
        def found() -> Event | None:
            exited = self.proc.poll() is not None and not self._reader.is_alive()
            event = next((e for e in self.of(kind) if where(e)), None)
            if event is None and exited:  # an event logged just before a quick exit counts
                raise AssertionError(f"watch exited {self.proc.returncode}: {self.log()}")
            return event

        event: Event = wait_until(
            found, timeout, lambda: f"a {kind} event; log: {self.log()[-3000:]}"
        )
        return event

    def log(self) -> str:
        with self._lock:
            return "".join(self.lines)

    def metrics_url(self) -> str:
        def url() -> str | None:
            for line in self.log().splitlines():
                if "metrics on " in line:
                    return line.split("metrics on ", 1)[1].removesuffix("/metrics").strip()
            return None

        return str(wait_until(url, 20, "the metrics address"))

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the exit; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=timeout)  # stdout holds one small object: no pipe stall
        self._reader.join(5)
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self._reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> WatchProc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
