"""Per-user folders (XDG): the default store, caches, local state and the user's config.

The one place that reads ``XDG_*_HOME``. It imports nothing of statesync, so
every layer (crypto included) may use it.
"""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
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
