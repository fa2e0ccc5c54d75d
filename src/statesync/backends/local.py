"""Local folder store: ``file:///abs/path`` or a plain path.

Writes are atomic: a temporary file in ``.tmp/`` is fsynced, then renamed
(overwrite) or hard-linked (create-only: ``os.link`` fails if the name
exists). Updates and conditional deletes hold an ``flock`` on a per-key lock
file in ``.locks/`` while they compare and replace, so processes on one
machine (and on NFS with working locks) never lose an update. The version
token is the file's inode, mtime (ns) and size: every write makes a new inode.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from statesync.backends.base import (
    CREATE,
    OVERWRITE,
    Backend,
    Digested,
    Meta,
    PutData,
    PutMode,
    Update,
    Version,
)
from statesync.errors import AlreadyExists, BackendUnavailable, NotFound, PreconditionFailed

if TYPE_CHECKING:
    from statesync.backends import StoreUrl

_COPY_BUFFER = 1 << 20


def open_url(parsed: StoreUrl) -> LocalBackend:
    """Open the folder named by the URL (created on first write)."""
    return LocalBackend(Path(parsed.prefix))


def _version(st: os.stat_result) -> Version:
    return Version(f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}")


class LocalBackend(Backend):
    """Objects are files under ``root``; dot-folders hold temp and lock files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise ValueError(f"invalid object key {key!r}")
        return self.root.joinpath(*parts)

    def _stat(self, key: str) -> os.stat_result:
        try:
            return self._path(key).stat()
        except FileNotFoundError:
            raise NotFound(f"{key}: no such object") from None

    def get(self, key: str) -> tuple[bytes, Version]:
        try:
            with open(self._path(key), "rb") as fh:
                return fh.read(), _version(os.fstat(fh.fileno()))
        except FileNotFoundError:
            raise NotFound(f"{key}: no such object") from None

    def get_range(self, key: str, start: int, length: int) -> bytes:
        with self.open_read(key) as fh:
            fh.seek(start)
            return fh.read(length)

    def open_read(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise NotFound(f"{key}: no such object") from None

    def head(self, key: str) -> Meta:
        st = self._stat(key)
        return Meta(key, st.st_size, _version(st), datetime.fromtimestamp(st.st_mtime, UTC))

    def put(self, key: str, data: PutData, mode: PutMode = OVERWRITE) -> Version:
        target = self._path(key)
        tmp = self._write_temp(data)
        # Renames and links keep inode and mtime: the version is known before publishing.
        version = _version(os.stat(tmp))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if mode is CREATE:
                try:
                    os.link(tmp, target)
                except FileExistsError:
                    raise AlreadyExists(f"{key}: already exists") from None
            elif isinstance(mode, Update):
                with self._key_lock(key):
                    self._check(key, mode.expected)
                    os.replace(tmp, target)
            else:
                with self._key_lock(key):
                    os.replace(tmp, target)
            _fsync_dir(target.parent)
            return version
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def delete(self, key: str, expected: Version | None = None) -> None:
        path = self._path(key)
        with self._key_lock(key):
            if expected is not None:
                self._check(key, expected)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def list(self, prefix: str) -> Iterator[Meta]:
        for key in sorted(self._keys(prefix)):
            with contextlib.suppress(NotFound):
                yield self.head(key)

    def _keys(self, prefix: str) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = os.path.relpath(dirpath, self.root)
            base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            if not (base.startswith(prefix) or prefix.startswith(base)):
                dirnames[:] = []
                continue
            yield from (
                base + n for n in filenames if (base + n).startswith(prefix) and n[0] != "."
            )

    def _check(self, key: str, expected: Version) -> None:
        try:
            current = _version(self._path(key).stat())
        except FileNotFoundError:
            raise PreconditionFailed(f"{key}: gone since it was read") from None
        if current != expected:
            raise PreconditionFailed(f"{key}: changed since it was read")

    def _write_temp(self, data: PutData) -> str:
        tmpdir = self.root / ".tmp"
        try:
            tmpdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendUnavailable(f"cannot write to store {self.root}: {exc.strerror}") from None
        fd, tmp = tempfile.mkstemp(dir=tmpdir)
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, Digested):
                fh.writelines(data.parts)
            elif isinstance(data, bytes | bytearray | memoryview):
                fh.write(data)
            else:
                shutil.copyfileobj(data, fh, _COPY_BUFFER)
            fh.flush()
            os.fsync(fh.fileno())
        return tmp

    @contextlib.contextmanager
    def _key_lock(self, key: str) -> Iterator[None]:
        lockdir = self.root / ".locks"
        lockdir.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        fd = os.open(lockdir / name, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
