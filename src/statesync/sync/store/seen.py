"""The highest serial this user has seen per store and environment, across folders.

A folder's own record remembers what it synced; this file remembers for the
user, so a fresh folder (or a deleted record) cannot be fed a replayed,
older ref without ``--allow-rollback``. Written atomically, mode 0600. A
damaged file is an error (never read as "nothing seen"): the user deletes it
deliberately to start afresh.
"""

from __future__ import annotations

import contextlib
import json

from statesync.errors import IntegrityError, LocalFileError
from statesync.fsutil import write_atomic
from statesync.paths import state_dir

_FILE = "serials.json"


def _load() -> dict[str, int]:
    """The serials seen; ``{}`` only when the file does not exist yet.

    A file that cannot be read raises :class:`LocalFileError`, one that is not
    ours (not a JSON object of non-negative integers) :class:`IntegrityError`:
    treating either as empty would silently switch the rollback guard off.
    """
    path = state_dir() / _FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise LocalFileError(
            f"cannot read {path}: {exc.strerror}; the rollback guard needs it"
        ) from None
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not all(type(v) is int and v >= 0 for v in doc.values()):
        raise IntegrityError(
            f"{path} is corrupt, so rollbacks cannot be detected; "
            "delete it deliberately to start the guard afresh"
        )
    return {str(k): v for k, v in doc.items()}


def highest(store_id: str, env: str) -> int:
    """The highest serial seen for (store, env); 0 if none."""
    return _load().get(f"{store_id}/{env}", 0)


def envs(store_id: str) -> list[str]:
    """Every environment of ``store_id`` this user has seen a serial of, sorted."""
    prefix = f"{store_id}/"
    return sorted(k.removeprefix(prefix) for k in _load() if k.startswith(prefix))


def remember(store_id: str, env: str, serial: int) -> None:
    """Raise the remembered serial to ``serial`` (never lowers it). Best effort."""
    seen = _load()
    key = f"{store_id}/{env}"
    if seen.get(key, 0) >= serial:
        return
    seen[key] = serial
    with contextlib.suppress(OSError):
        write_atomic(state_dir() / _FILE, json.dumps(seen).encode(), make_parents=True)
