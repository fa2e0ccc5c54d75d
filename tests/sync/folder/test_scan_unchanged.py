"""A push opens only the files it may read: one whose stat matches the folder record is
reused, never opened; any other unreadable file stops the push before it writes."""

from __future__ import annotations

import builtins
import os
import time
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.errors import StatesyncError
from statesync.sync.store.refs import read_ref
from tests.helpers import write


def _age(root: Path) -> None:
    """Move every file's stamps out of the racy window, so the record can vouch for them."""
    old = time.time_ns() - 10**10
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(old, old))


def _lock(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[str]:
    """Make ``path`` fail to open, as a permission error would (root reads anything).

    Returns the list of opens of ``path`` that were tried.
    """
    tried: list[str] = []
    real_os_open, real_open = os.open, builtins.open

    def os_open(p: object, *args: object, **kwargs: object) -> int:
        if os.fspath(p) == str(path):  # type: ignore[call-overload]
            tried.append("os.open")
            raise PermissionError(13, "Permission denied", str(p))
        return real_os_open(p, *args, **kwargs)  # type: ignore[arg-type]

    def opener(p: object, *args: object, **kwargs: object) -> object:
        if isinstance(p, str | os.PathLike) and os.fspath(p) == str(path):
            tried.append("open")
            raise PermissionError(13, "Permission denied", str(p))
        return real_open(p, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", opener)
    return tried


@pytest.fixture
def pushed(tmp_path: Path) -> tuple[Store, Path]:
    store = Store.init(str(tmp_path / "store"))
    src = tmp_path / "src"
    write(src, "notes.txt", "kept\n")
    write(src, "state.json", {"n": 1})
    _age(src)
    store.push(src, "dev")
    return store, src


@pytest.mark.parametrize("name", ["notes.txt", "state.json"])
def test_an_unreadable_file_as_recorded_is_reused_unopened(
    pushed: tuple[Store, Path], name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store, src = pushed
    before = (src / name).read_bytes()
    tried = _lock(monkeypatch, src / name)
    again = store.push(src, "dev")
    assert not again.changed and tried == []
    write(src, "new.txt", "another file\n")  # a real change: a new snapshot, the locked file reused
    changed = store.push(src, "dev")
    assert changed.changed and tried == []
    monkeypatch.undo()
    store.pull(tmp_path / "out", "dev")
    assert (tmp_path / "out" / name).read_bytes() == before
    assert (tmp_path / "out" / "new.txt").read_text() == "another file\n"


@pytest.mark.parametrize("name", ["notes.txt", "state.json"])
def test_an_unreadable_changed_file_stops_the_push_before_it_writes(
    pushed: tuple[Store, Path], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, src = pushed
    head = read_ref(store.repo, "dev")
    (src / name).write_bytes(b'{"n": 2}\n')  # its stat no longer matches the record
    objects = sorted(m.key for m in store.repo.backend.list(""))
    tried = _lock(monkeypatch, src / name)
    with pytest.raises(StatesyncError, match=rf"cannot read .*{name}: Permission denied"):
        store.push(src, "dev")
    assert tried == ["os.open"]  # refused by the scan, before any read or upload
    monkeypatch.undo()
    assert sorted(m.key for m in store.repo.backend.list("")) == objects
    after = read_ref(store.repo, "dev")
    assert head is not None and after is not None and after.ref == head.ref
