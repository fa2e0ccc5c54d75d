"""statesync: versioned, verified, conflict-safe snapshots of application state.

``from statesync import Store`` re-exports :mod:`statesync.api` lazily, so
that importing the package (and ``statesync --help``) stays light.
"""

from __future__ import annotations

from typing import Any

from statesync.version import __version__

__all__ = ["Store", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Store", "PushResult", "PullResult", "Diff", "LogEntry", "Status"):
        from statesync import api

        return getattr(api, name)
    raise AttributeError(f"module 'statesync' has no attribute {name!r}")
