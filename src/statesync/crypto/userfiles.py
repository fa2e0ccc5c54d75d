"""The user's own key and policy files: where they live and how they are written.

Everything here is written with mode 0600 (ARCHITECTURE.md §7: nothing secret on
disk with wider permissions), atomically (temporary file, fsync, rename).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/statesync`` (default ``~/.config/statesync``)."""
    base = os.environ.get("XDG_CONFIG_HOME")
    return (Path(base) if base else Path.home() / ".config") / "statesync"


def write_private(path: Path, data: bytes, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (parents 0700 when created).

    ``exclusive``: raise ``FileExistsError`` instead of replacing an existing file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if exclusive:
            os.link(tmp, path)  # fails if path exists: never replaces a key
        else:
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def mode_of(path: Path) -> int:
    """The permission bits of ``path`` (raises ``OSError``)."""
    return path.stat().st_mode & 0o777
