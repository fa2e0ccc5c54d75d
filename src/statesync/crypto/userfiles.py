"""The user's own key and policy files: the permission check on read.

They are written by :func:`statesync.fsutil.write_atomic` (mode 0600, atomic,
durable) under :func:`statesync.paths.config_dir`.
"""

from __future__ import annotations

from pathlib import Path


def mode_of(path: Path) -> int:
    """The permission bits of ``path`` (raises ``OSError``)."""
    return path.stat().st_mode & 0o777
