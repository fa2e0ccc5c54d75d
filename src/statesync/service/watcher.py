"""Noticing changes in a folder: ``watchdog`` events, or polling where events fail.

Both watchers call ``on_change()`` for a change to a path the service cares
about; the service decides when to push. Ignored: the folder's record
(``.statesync/``) and editor temporary files (:func:`ignored`). A pull
swaps the folder atomically, and an observer on the old folder hears no
more, so the service calls :meth:`rearm` after every swap (and whenever the
folder's inode changes under it).
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from statesync.sync.folder import workdir

log = logging.getLogger("statesync.service")

#: Editor and application temporary files (vim, emacs, many apps' atomic saves).
TEMP_PATTERNS = ("*.swp", "*.swx", "*.swo", "*~", ".#*", "4913", "*.tmp", "#*#")

Signature = dict[str, tuple[int, int, int]]


def ignored(rel: str) -> bool:
    """True for paths under ``.statesync/`` and editor temporary files."""
    parts = rel.replace(os.sep, "/").split("/")
    if parts[0] == workdir.RECORD_DIR:
        return True
    return any(fnmatch.fnmatchcase(parts[-1], pat) for pat in TEMP_PATTERNS)


def signature(root: Path) -> Signature | None:
    """path -> (size, mtime_ns, inode) of every file we care about; None if ``root`` is gone."""
    out: Signature = {}
    if not root.is_dir():
        return None
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if d != workdir.RECORD_DIR]
        for name in filenames:
            path = name if rel == "." else os.path.join(rel, name)
            if ignored(path):
                continue
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue  # removed while listed: the next look sees it gone
            out[path] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


class Watcher(Protocol):
    kind: str

    def start(self) -> None: ...
    def rearm(self) -> None: ...
    def poll(self) -> None: ...
    def stop(self) -> None: ...


class PollingWatcher:
    """Compares the folder's :func:`signature` at each :meth:`poll`."""

    kind = "poll"

    def __init__(self, root: Path, on_change: Callable[[], None]) -> None:
        self.root = root
        self.on_change = on_change
        self._last: Signature | None = None

    def start(self) -> None:
        self._last = signature(self.root)

    def rearm(self) -> None:
        """Take the folder as it is now (after our own swap) as the baseline."""
        self._last = signature(self.root)

    def poll(self) -> None:
        now = signature(self.root)
        if now is not None and now != self._last:
            self.on_change()
        self._last = now

    def stop(self) -> None:
        pass


class EventWatcher:
    """A ``watchdog`` observer on the folder, re-created by :meth:`rearm`."""

    kind = "events"

    def __init__(self, root: Path, on_change: Callable[[], None]) -> None:
        self.root = root
        self.on_change = on_change
        self._observer: Any = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start observing; raises OSError (e.g. inotify limits) for the caller's fallback."""
        from watchdog.observers import Observer

        observer = Observer()
        observer.schedule(_handler(self.root, self.on_change), str(self.root), recursive=True)
        observer.start()
        with self._lock:
            self._observer = observer

    def rearm(self) -> None:
        self.stop()
        self.start()

    def poll(self) -> None:
        pass

    def stop(self) -> None:
        with self._lock:
            observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            if threading.current_thread() is not observer:
                observer.join(timeout=5)


def _handler(root: Path, on_change: Callable[[], None]) -> Any:
    """A watchdog handler that filters the paths we ignore (watchdog imported lazily)."""
    from watchdog.events import FileSystemEvent, FileSystemEventHandler

    top = str(root)

    def cares(path: str) -> bool:
        rel = os.path.relpath(path, top)
        return rel != "." and not rel.startswith("..") and not ignored(rel)

    class Handler(FileSystemEventHandler):
        def dispatch(self, event: FileSystemEvent) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return  # reads (our own push) are not changes
            if event.is_directory and event.event_type in ("modified", "created"):
                return  # a folder's listing changed: the files' own events say which
            paths = [event.src_path, getattr(event, "dest_path", "") or ""]
            if any(p and cares(os.fsdecode(p)) for p in paths):
                on_change()

    return Handler()


def make_watcher(root: Path, on_change: Callable[[], None], poll: bool) -> Watcher:
    """An :class:`EventWatcher` if watchdog is installed and works here, else polling."""
    if not poll:
        try:
            watcher = EventWatcher(root, on_change)
            watcher.start()
            return watcher
        except (ImportError, OSError) as exc:
            log.warning("file events unavailable (%s): polling %s instead", exc, root)
    polling = PollingWatcher(root, on_change)
    polling.start()
    return polling
