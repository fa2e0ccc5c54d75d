"""Files on this machine: the one atomic writer and the one file hash.

Durability policy (one for every file statesync writes outside a store):
the bytes go to a temporary file in the target's own folder, created with
mode 0600 before any byte is written, fsynced, renamed over the target (or
hard-linked for a create-only write), and then the folder is fsynced. After
a crash the target holds the old bytes or the new ones, never a mix, and a
rename that returned is not lost. These files are small and written at most
a few times per command (keys, trust, pins, the folder's record, the serials
seen, a bundle), so two fsyncs cost little next to a record that silently
rolls back. On any failure the temporary file is removed and the target is
left as it was. The one exception is a cache verified on every read (the
chunk index cache): it is written with ``durable=False``, without fsyncs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PRIVATE = 0o600
_BLOCK = 1 << 20


@contextlib.contextmanager
def atomic_writer(
    path: Path,
    *,
    mode: int = PRIVATE,
    exclusive: bool = False,
    make_parents: bool = False,
    durable: bool = True,
) -> Iterator[BinaryIO]:
    """Yield a file whose bytes replace ``path`` atomically when the block ends without error.

    ``mode``: the permission bits, set on the temporary file before the first
    write (so the bytes are never readable more widely). ``exclusive``: never
    replace an existing file (raises ``FileExistsError``). ``make_parents``:
    create missing parent folders with mode 0700. ``durable=False`` skips
    both fsyncs: a crash may then lose the write or leave the file empty or
    torn, so it is only for caches whose every read is verified against the
    content's id (a bad entry is fetched again). Raises ``OSError`` from the file system;
    whatever is raised, no temporary file is left behind.
    """
    folder = path.parent
    if make_parents:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            yield out
            out.flush()
            if durable:
                os.fsync(out.fileno())
        if exclusive:
            os.link(tmp, path)  # fails if path exists: never replaces a key
        else:
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    if durable:
        fsync_dir(folder)


def write_atomic(
    path: Path,
    data: bytes,
    *,
    mode: int = PRIVATE,
    exclusive: bool = False,
    make_parents: bool = False,
    durable: bool = True,
) -> None:
    """Write ``data`` to ``path`` atomically and durably (see :func:`atomic_writer`)."""
    with atomic_writer(
        path, mode=mode, exclusive=exclusive, make_parents=make_parents, durable=durable
    ) as out:
        out.write(data)


def fsync_dir(folder: Path, strict: bool = False) -> None:
    """Make a rename or a new file in ``folder`` durable.

    Best effort by default (some file systems refuse it); ``strict``: raise the
    ``OSError`` instead, for writers that promise durability (the local store).
    """
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        if strict:
            raise


def sha256_file(path: Path) -> str:
    """The SHA-256 of the file at ``path`` (hex), read in bounded blocks. Raises ``OSError``."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    return h.hexdigest()
