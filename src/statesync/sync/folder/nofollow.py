"""Writing beneath a folder without ever following a link.

Pull builds its staging folder with these: each component of a path is
opened relative to its parent's directory descriptor with ``O_NOFOLLOW``, so
a link anywhere on the way (planted, or made by a racing process) stops the
write with :class:`IntegrityError` instead of sending it elsewhere. Paths
are relative POSIX paths already checked by :mod:`statesync.sync.store.tree_rules`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from statesync.errors import IntegrityError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: What opening a link (or a file) with O_NOFOLLOW / O_DIRECTORY answers.
_NOT_A_DIR = (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)


def _refuse(root: Path, rel: str) -> IntegrityError:
    return IntegrityError(
        f"{rel}: a component of its path in {root} is a link or a file "
        "(pull never writes through a link)"
    )


def _open_parent(root: Path, rel: str, create: bool) -> tuple[int, str]:
    """A descriptor of ``rel``'s parent folder (made if ``create``) and the last name."""
    *dirs, name = rel.split("/")
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in dirs:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError as exc:
        os.close(fd)
        if exc.errno in _NOT_A_DIR:
            raise _refuse(root, rel) from None
        raise
    return fd, name


def open_file(
    root: Path, rel: str, flags: int, mode: int = 0o666, create_dirs: bool = False
) -> int:
    """``os.open`` of ``root/rel`` with no link followed; the caller closes the descriptor.

    Raises :class:`IntegrityError` if a component of ``rel`` (or ``rel``
    itself) is a link.
    """
    parent, name = _open_parent(root, rel, create_dirs)
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=parent)
    except OSError as exc:
        if exc.errno in _NOT_A_DIR:
            raise _refuse(root, rel) from None
        raise
    finally:
        os.close(parent)


def create_file(root: Path, rel: str, size: int) -> None:
    """Create (or truncate) ``root/rel`` at ``size`` bytes, making its parent folders."""
    fd = open_file(root, rel, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, create_dirs=True)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def chmod(root: Path, rel: str, mode: int) -> None:
    """Set the mode of the regular file ``root/rel`` (never of what a link names).

    Done by name in its parent's descriptor after an ``lstat``, not through an
    open descriptor, so that a file whose mode forbids reading still works.
    """
    parent, name = _open_parent(root, rel, create=False)
    try:
        if not stat.S_ISREG(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            raise _refuse(root, rel)
        os.chmod(name, mode, dir_fd=parent)
    finally:
        os.close(parent)


def symlink(root: Path, rel: str, target: str) -> None:
    """Create the link ``root/rel -> target`` verbatim, making its parent folders.

    Raises :class:`IntegrityError` if anything is already at ``rel``.
    """
    parent, name = _open_parent(root, rel, create=True)
    try:
        os.symlink(target, name, dir_fd=parent)
    except FileExistsError:
        raise IntegrityError(f"{rel}: something is already at the link's place in {root}") from None
    finally:
        os.close(parent)
