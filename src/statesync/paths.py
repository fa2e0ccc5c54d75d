"""Per-user folders (XDG): the default store, caches, local state and the user's config.

The one place that reads ``XDG_*_HOME``. It imports nothing of statesync, so
every layer (crypto included) may use it.

:func:`isolated` points all four folders under one home for a while (tests,
a server process): trust, pins, the signing key, serials seen, sticky
encryption, the machine id and caches then live there, not in the user's
folders. It is process-wide (worker threads must see it too), so it is meant
for a process that wants one home, not for switching per call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_home: Path | None = None
_lock = threading.Lock()

#: The folder of each kind under an isolated home.
_UNDER_HOME = {
    "XDG_CONFIG_HOME": "config",
    "XDG_DATA_HOME": "data",
    "XDG_CACHE_HOME": "cache",
    "XDG_STATE_HOME": "state",
}


@contextmanager
def isolated(home: str | Path) -> Iterator[Path]:
    """Within the block, every per-user folder is under ``home`` (config/, data/, cache/, state/).

    ``STATESYNC_SIGNING_KEY`` still names an explicit signing key. Blocks do
    not nest: a second one raises :class:`RuntimeError`.
    """
    global _home
    with _lock:
        if _home is not None:
            raise RuntimeError(f"statesync is already isolated under {_home}")
        _home = Path(home).resolve()
    try:
        yield _home
    finally:
        with _lock:
            _home = None


def _xdg(var: str, fallback: str) -> Path:
    home = _home
    if home is not None:
        return home / _UNDER_HOME[var]
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/statesync`` (default ``~/.config/statesync``): keys, trust, pins."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "statesync"


def data_dir() -> Path:
    """``$XDG_DATA_HOME/statesync`` (holds the default local store)."""
    return _xdg("XDG_DATA_HOME", ".local/share") / "statesync"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/statesync``: safe to delete at any time."""
    return _xdg("XDG_CACHE_HOME", ".cache") / "statesync"


def default_store_path() -> Path:
    """Where the default local store lives."""
    return data_dir() / "store"


def state_dir() -> Path:
    """``$XDG_STATE_HOME/statesync``: this user's memory across folders (serials seen)."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "statesync"
