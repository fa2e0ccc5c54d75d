"""Events of the watch service: one record per thing that happened, and hooks.

An event goes to the ``on_event`` callback of the API, to the log (one line,
or one JSON object with ``--json``) and to the ``--exec-on`` commands, which
get it as JSON on stdin. Events never hold file contents or secret values.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger("statesync.service")

HOOK_TIMEOUT = 30.0


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something the service did: ``kind`` is start, push, pull, conflict, gc, error or stop.

    ``conflicts`` names each conflict as ``path#pointer (why)``; ``snapshot``
    and ``serial`` are the environment's head after a push or pull.
    """

    kind: str
    env: str
    message: str
    at: float = field(default_factory=time.time)
    snapshot: str | None = None
    serial: int | None = None
    uploaded_bytes: int = 0
    reused_bytes: int = 0
    conflicts: tuple[str, ...] = ()
    error_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["conflicts"] = list(self.conflicts)
        return doc


EventSink = Callable[[Event], None]


def log_event(event: Event, as_json: bool) -> None:
    """One log line per event (a JSON object with ``as_json``); errors at WARNING."""
    level = logging.WARNING if event.kind in ("conflict", "error") else logging.INFO
    if as_json:
        log.log(level, "%s", json.dumps(event.to_json(), sort_keys=True))
    else:
        log.log(level, "%s %s: %s", event.kind, event.env, event.message)


@dataclass(frozen=True)
class Hooks:
    """``--exec-on KIND CMD`` pairs: ``CMD`` runs through the shell, the event on stdin."""

    commands: tuple[tuple[str, str], ...]

    def run(self, event: Event) -> None:
        """Run every command for ``event.kind``; a failing hook is logged, never fatal."""
        for kind, cmd in self.commands:
            if kind == event.kind:
                self._run_one(cmd, event)

    @staticmethod
    def _run_one(cmd: str, event: Event) -> None:
        data = json.dumps(event.to_json(), sort_keys=True).encode()
        try:
            done = subprocess.run(
                cmd, shell=True, input=data, timeout=HOOK_TIMEOUT, capture_output=True, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("hook %r for %s failed: %s", cmd, event.kind, exc)
            return
        if done.returncode != 0:
            log.warning("hook %r for %s exited %d", cmd, event.kind, done.returncode)
