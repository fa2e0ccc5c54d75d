"""The watch service's options: one frozen record, built by keyword."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from statesync.errors import UsageError

if TYPE_CHECKING:
    from statesync.config import Config

#: Seconds one store call may retry before the loop's own backoff takes over.
DEFAULT_CALL_BUDGET = 20.0
ON_CONFLICT = ("keep-local", "take-remote", "stop")
HOOK_EVENTS = ("push", "pull", "conflict", "error")


@dataclass(frozen=True, kw_only=True)
class WatchOptions:
    """How ``statesync watch`` runs (see the README, "Watch service").

    ``interval``: under continuous churn, the longest a change waits for a
    push; with ``follow`` also how often the ref is polled. ``settle``: how
    long the folder must be quiet before a push. ``metrics``: ``HOST:PORT``
    for ``/healthz``, ``/readyz`` and ``/metrics`` (loopback only).
    ``hooks``: (event kind, shell command) pairs run with the event as JSON
    on stdin. ``poll``: use the polling watcher even where events work.
    ``retry_budget``: seconds one store call retries before the loop's own
    backoff takes over (default: ``STATESYNC_RETRY_BUDGET``, else 20).
    ``stop_timeout``: the final save's time limit. ``gc_every``: run the
    environment's stored retention policy (``statesync gc --env``) this often.
    ``config``: the resolved configuration to open the store with (the CLI's
    ``--config``, ``--identity``); None resolves it from ``store``.
    """

    env: str = "default"
    store: str | None = None
    interval: float = 30.0
    settle: float = 1.0
    follow: bool = False
    on_conflict: str = "keep-local"
    metrics: str | None = None
    hooks: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    include_secrets: bool = False
    poll: bool = False
    message: str = "watch"
    retry_budget: float | None = None
    stop_timeout: float = 10.0
    max_backoff: float = 60.0
    gc_every: float | None = None
    config: Config | None = None

    def __post_init__(self) -> None:
        if self.on_conflict not in ON_CONFLICT:
            raise UsageError(f"--on-conflict must be one of {', '.join(ON_CONFLICT)}")
        if not (self.interval > 0 and self.settle >= 0 and self.settle < self.interval):
            raise UsageError("--settle must be shorter than --interval, both positive")
        for kind, _ in self.hooks:
            if kind not in HOOK_EVENTS:
                raise UsageError(
                    f"--exec-on: unknown event {kind!r} (one of {', '.join(HOOK_EVENTS)})"
                )
        if self.metrics is not None:
            metrics_address(self.metrics)
        if self.gc_every is not None and not self.gc_every > 0:
            raise UsageError("--gc-every must be a positive duration (e.g. 24h)")

    @property
    def call_budget(self) -> float | None:
        """The retry budget to open the store with (None: the environment's)."""
        if self.retry_budget is not None:
            return self.retry_budget
        return None if os.environ.get("STATESYNC_RETRY_BUDGET") else DEFAULT_CALL_BUDGET

    @property
    def poll_every(self) -> float:
        """How often the polling watcher looks at the folder."""
        return max(0.2, min(1.0, self.settle / 2 or 0.5))


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def metrics_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (port 0: any free one) on loopback; :class:`UsageError` otherwise."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise UsageError(f"--metrics expects HOST:PORT, got {text!r}")
    if host not in LOOPBACK:
        raise UsageError(f"--metrics {text!r}: only a loopback address is allowed")
    return host, int(port)
