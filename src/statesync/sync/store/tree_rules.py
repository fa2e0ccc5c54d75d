"""What a snapshot tree may hold: the one set of rules push, pull, verify and bundles share.

Learnt from git ("beyond a symbolic link") and Python tarfile's ``data_filter``:

* every path is a plain relative POSIX path: no empty, ``.`` or ``..``
  component, not absolute, no backslash or NUL, not inside ``.statesync``;
* a link is kept as a link with its target verbatim, even absolute or pointing
  out of the folder (a virtualenv's ``bin/python -> /usr/bin/python3``): pull
  creates it, last, and never writes through it, so where it points cannot
  make anything land outside the target;
* nothing lies under a link or a file of the same tree, and no path appears
  twice — so a tree can be built with every link created after every file.

Push only ever records trees these rules accept; a read refuses anything else
with :class:`IntegrityError` (exit 4).
"""

from __future__ import annotations

from collections.abc import Iterable
from posixpath import normpath

from statesync.errors import IntegrityError

RECORD_DIR = ".statesync"
#: Linux's PATH_MAX, terminator included: no folder can hold a longer link target.
_MAX_TARGET = 4095


def check_path(path: str, where: str) -> str:
    """Return ``path`` if it is a safe relative POSIX path of UTF-8 text; else
    :class:`IntegrityError`."""
    if (
        not isinstance(path, str)
        or not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or normpath(path) != path
        or path == "."
        or path.split("/")[0] in ("..", RECORD_DIR)
        or ".." in path.split("/")
        or not _is_utf8(path)
    ):
        raise IntegrityError(f"{where}: unsafe path {path!r}")
    return path


def _is_utf8(text: str) -> bool:
    """False for a string UTF-8 cannot hold (a lone surrogate: names are UTF-8 text)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_link_target(path: str, target: object, where: str) -> None:
    """Refuse a link target no folder can hold (missing, empty, NUL, too long).

    Where the target points is not checked: links are restored verbatim and
    never followed (see the module docstring).
    """
    if not isinstance(target, str) or not target or "\x00" in target or not _fits(target):
        raise IntegrityError(f"{where}: link {path!r} has an invalid target {target!r:.80}")


def _fits(target: str) -> bool:
    """UTF-8 (push skips links whose target is not) and no longer than PATH_MAX."""
    try:
        return len(target.encode("utf-8")) <= _MAX_TARGET
    except UnicodeEncodeError:
        return False


def check_tree(paths: Iterable[str], where: str, links: Iterable[str] = ()) -> None:
    """Refuse a repeated path and a path under another path of the tree.

    ``links`` names the paths that are links, for the message. Raises
    :class:`IntegrityError` naming both paths.
    """
    seen: set[str] = set()
    for p in paths:
        if p in seen:
            raise IntegrityError(f"{where}: duplicate path {p!r}")
        seen.add(p)
    link_set = set(links)
    for p in sorted(seen):
        parent = under_any(p, seen)
        if parent is not None:
            what = "a link" if parent in link_set else "a file"
            raise IntegrityError(f"{where}: {p!r} lies under {parent!r}, which is {what}")


def under_any(path: str, paths: set[str] | frozenset[str]) -> str | None:
    """The nearest proper ancestor of ``path`` that is in ``paths``, or None."""
    parts = path.split("/")
    for i in range(len(parts) - 1, 0, -1):
        parent = "/".join(parts[:i])
        if parent in paths:
            return parent
    return None
