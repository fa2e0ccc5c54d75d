"""The staging folder a pull builds beside its target, and what killed pulls left.

A pull builds the new tree in ``.NAME.statesync-XXXXXXXX`` (8 hex digits)
beside the target and holds an exclusive ``flock`` on that folder while it
works. The kernel drops the lock when the process ends, however it ends, so a
staging folder nobody holds is one a killed pull (SIGKILL, power loss) left:
hard links to the folder's files, its local secret values among them, and what
was downloaded so far. :func:`remove_stale` deletes those before each pull, so
kills do not pile copies up beside the target. A held one (another pull of the
same folder at work) is left alone, and so is anything else: the fallback
swap's ``-old`` backup, which may be the only copy of a folder, never matches.
A staging folder is locked right after ``mkdir``: a second pull of the same
folder that looks in that instant may take it for stale; the first pull then
fails with an error (its folder kept; if the staging folder vanished right at
the swap, under the fallback's ``-old`` name). Two pulls into one folder at
once were never supported.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import uuid
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no lock, no clean-up
    fcntl = None  # type: ignore[assignment]

_SUFFIX = re.compile(r"\.statesync-[0-9a-f]{8}")


def staging_name(folder: Path) -> Path:
    """A fresh staging path beside ``folder``."""
    return folder.parent / f".{folder.name}.statesync-{uuid.uuid4().hex[:8]}"


def _is_staging(folder: Path, candidate: Path) -> bool:
    prefix = f".{folder.name}"
    name = candidate.name
    return name.startswith(prefix) and _SUFFIX.fullmatch(name[len(prefix) :]) is not None


def _lock(path: Path) -> int | None:
    """An fd of the folder ``path`` holding its exclusive lock; None if held or gone."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def hold(staging: Path) -> int | None:
    """Lock the staging folder just made for as long as the returned fd stays open.

    None where locks are unavailable (the folder is then never taken for stale).
    """
    return _lock(staging)


def release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def remove_stale(folder: Path) -> list[str]:
    """Delete the staging folders beside ``folder`` that no live pull holds; their names."""
    if fcntl is None:
        return []
    removed = []
    try:
        siblings = list(folder.parent.iterdir())
    except OSError:
        return []
    for path in siblings:
        if not _is_staging(folder, path):
            continue
        try:
            if not stat.S_ISDIR(path.lstat().st_mode):
                continue
        except OSError:
            continue
        fd = _lock(path)
        if fd is None:
            continue  # a pull at work holds it (or it just went)
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
        removed.append(path.name)
    return removed
