"""The highest serial this user has seen per store and environment, across folders.

A folder's own record remembers what it synced; this file remembers for the
user, so a fresh folder (or a deleted record) cannot be fed a replayed,
older ref without ``--allow-rollback``. Written atomically, mode 0600.
"""

from __future__ import annotations

import contextlib
import json

from statesync.fsutil import write_atomic
from statesync.paths import state_dir

_FILE = "serials.json"


def _load() -> dict[str, int]:
    try:
        doc = json.loads((state_dir() / _FILE).read_text())
        return {str(k): int(v) for k, v in doc.items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def highest(store_id: str, env: str) -> int:
    """The highest serial seen for (store, env); 0 if none."""
    return _load().get(f"{store_id}/{env}", 0)


def remember(store_id: str, env: str, serial: int) -> None:
    """Raise the remembered serial to ``serial`` (never lowers it). Best effort."""
    seen = _load()
    key = f"{store_id}/{env}"
    if seen.get(key, 0) >= serial:
        return
    seen[key] = serial
    with contextlib.suppress(OSError):
        write_atomic(state_dir() / _FILE, json.dumps(seen).encode(), make_parents=True)
