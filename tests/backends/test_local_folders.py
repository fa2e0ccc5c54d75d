"""The local backend remembers the folders it made; one removed since is made again.

(A write skips ``mkdir`` for ``.tmp``, ``.locks`` and a key's parent once it has
made them: another process or a person may still remove them in between.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from statesync.backends.base import CREATE, OVERWRITE, Update
from statesync.backends.local import LocalBackend


@pytest.mark.parametrize("removed", [".tmp", ".locks", "threads/t1", "threads"])
def test_a_write_makes_again_a_folder_removed_since(tmp_path: Path, removed: str) -> None:
    store = LocalBackend(tmp_path / "store")
    version = store.put("threads/t1/head", b"one", OVERWRITE)
    store.put("threads/t1/c/a", b"a", CREATE)
    shutil.rmtree(store.root / removed)
    if removed.startswith("threads"):
        version = store.put("threads/t1/head", b"one", CREATE)
    assert store.get("threads/t1/head") == (b"one", version)
    new = store.put("threads/t1/head", b"two", Update(version))
    store.put("threads/t1/c/b", b"b", CREATE)
    assert store.get("threads/t1/head") == (b"two", new)
    assert store.get("threads/t1/c/b")[0] == b"b"
    assert list((store.root / ".tmp").iterdir()) == []
