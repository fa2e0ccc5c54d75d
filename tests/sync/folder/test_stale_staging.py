"""A pull SIGKILLed mid-staging leaves its staging folder; the next pull removes it.

The staging folder (``.NAME.statesync-XXXXXXXX`` beside the target) holds hard
links to the folder's own files (its local secret values too) and what was
downloaded so far. A killed pull cannot remove it; without a clean-up each kill
of a pull (or of a ``watch --follow``) left one more copy beside the target.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

from statesync.api import Store
from statesync.sync.folder import staging as staging_mod
from tests.helpers import tree, write

#: A child that pulls ``dev`` into ARGV[2] and SIGKILLs itself at its first chunk read.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from statesync.api import Store
    store = Store.open(sys.argv[1])
    inner = store.repo.backend
    reads = []

    class Dying:
        def __getattr__(self, name):
            return getattr(inner, name)

        def get_range(self, key, start, length):
            reads.append(key)
            if len(reads) == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            return inner.get_range(key, start, length)

    store.repo.backend = Dying()
    store.pull(sys.argv[2], "dev")
    """
)


def killed_pull(url: str, target: Path) -> int:
    done = subprocess.run([sys.executable, "-c", CHILD, url, str(target)], timeout=120)
    return done.returncode


def staging(site: Path) -> list[str]:
    return sorted(p.name for p in site.iterdir() if ".statesync-" in p.name)


def test_the_next_pull_removes_a_killed_pulls_staging_folder(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    rng = random.Random(3)
    src = tmp_path / "src"
    for i in range(8):
        write(src, f"bin/b{i}.bin", rng.randbytes(300_000))
    write(src, "state.json", {"v": 1})
    site = tmp_path / "site"
    target, bystander = site / "target", site / "other"
    write(bystander, "keep.json", {"keep": True})
    with Store.init(url) as store:
        store.push(src, "dev")
        store.pull(target, "dev")
        write(src, "state.json", {"v": 2})
        for i in range(8):
            write(src, f"bin/b{i}.bin", rng.randbytes(300_000))
        store.push(src, "dev")
    before = tree(target)
    assert killed_pull(url, target) == -9
    assert len(staging(site)) == 1, "the killed pull left no staging folder (nothing tested)"
    assert tree(target) == before  # untouched
    with Store.open(url) as store:
        store.pull(target, "dev")
    assert tree(target) == tree(src)
    assert staging(site) == [], "the killed pull's staging folder is still there"
    assert sorted(p.name for p in site.iterdir()) == ["other", "target"]
    assert tree(bystander) == {"keep.json": tree(bystander)["keep.json"]}


def test_a_held_staging_folder_and_other_names_are_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "target"
    write(folder, "a.json", {"a": 1})
    live = staging_mod.staging_name(folder)
    live.mkdir()
    held = staging_mod.hold(live)
    assert held is not None
    dead = staging_mod.staging_name(folder)
    write(dead, "half.bin", "x")
    keep = [
        tmp_path / f"{dead.name}-old",  # the fallback swap's backup: maybe the only copy
        tmp_path / ".target.statesync-notahexx",
        tmp_path / ".other.statesync-0123abcd",  # another folder's
        tmp_path / ".target.statesync-0123abcd9",
    ]
    for path in keep:
        write(path, "k.json", {"k": 1})
    link = tmp_path / ".target.statesync-feedbeef"
    link.symlink_to(folder)
    try:
        assert staging_mod.remove_stale(folder) == [dead.name]
    finally:
        staging_mod.release(held)
    assert live.is_dir() and not dead.exists() and link.is_symlink()
    assert all(p.is_dir() for p in keep) and tree(folder)
    assert staging_mod.remove_stale(folder) == [live.name]  # released: a dead pull's now
