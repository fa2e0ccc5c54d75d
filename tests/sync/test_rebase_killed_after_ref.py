"""``push --rebase`` SIGKILLed right after its ref write: the next push is no conflict.

Found by ``tests/service/test_watch_crash.py`` (the watch pushes with ``--rebase``;
long run on S3): the plain push notes the snapshot it is about to land in the
folder's record ("pending"), the rebase push did not. Killed between the ref
write and the record, the folder still named the previous snapshot as its base,
so its own landed push looked like someone else's change: the restarted watch
reported a conflict with itself (and with ``--on-conflict stop`` exited 3).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from statesync.api import Store
from tests.helpers import write

#: ``push --rebase`` of ARGV[2] to ``dev``, SIGKILLed right after the ref write lands.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from statesync.api import Store

    store = Store.open(sys.argv[1])
    inner = store.repo.backend

    class Dying:
        def __getattr__(self, name):
            return getattr(inner, name)

        def put(self, key, data, mode=None):
            version = inner.put(key, data, mode) if mode is not None else inner.put(key, data)
            if key.startswith("refs/"):
                os.kill(os.getpid(), signal.SIGKILL)
            return version

    store.repo.backend = Dying()
    store.push(sys.argv[2], "dev", rebase=True)
    """
)


def test_a_rebase_push_killed_after_its_ref_is_recognised_by_the_next(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    folder = tmp_path / "app"
    write(folder, "state.json", {"step": 1, "other": 0})
    with Store.init(url) as store:
        store.push(folder, "dev", rebase=True)
    write(folder, "state.json", {"step": 2, "other": 0})
    child = subprocess.run([sys.executable, "-c", CHILD, url, str(folder)], timeout=120)
    assert child.returncode == -9
    with Store.open(url) as store:
        assert store.log("dev", limit=1)[0].serial == 2  # the killed push landed
        write(folder, "state.json", {"step": 3, "other": 0})  # the folder moves on
        result = store.push(folder, "dev", rebase=True)  # the restarted watch's push
        assert result.serial == 3
        store.pull(tmp_path / "head", "dev")
    assert json.loads((tmp_path / "head" / "state.json").read_text()) == {"step": 3, "other": 0}


def test_a_merging_push_killed_after_its_ref_is_recognised_by_the_next(tmp_path: Path) -> None:
    """A merge killed after its ref write: the folder still holds its own side of it.

    The next push must merge from that side (what the folder holds), not from
    the folder's older base: from the older base, the key the folder changed
    again looked changed both ways (a conflict with its own merge).
    """
    url = (tmp_path / "store").as_uri()
    folder, other = tmp_path / "app", tmp_path / "other"
    write(folder, "state.json", {"step": 1, "other": 0})
    with Store.init(url) as store:
        store.push(folder, "dev", rebase=True)
        store.pull(other, "dev")
        write(other, "state.json", {"step": 1, "other": 1})
        store.push(other, "dev")  # another machine moves the env on: the next push merges
    write(folder, "state.json", {"step": 2, "other": 0})
    child = subprocess.run([sys.executable, "-c", CHILD, url, str(folder)], timeout=120)
    assert child.returncode == -9
    assert json.loads((folder / "state.json").read_text()) == {"step": 2, "other": 0}
    with Store.open(url) as store:
        merged = store.log("dev", limit=1)[0]
        assert merged.serial == 3  # the killed merge landed
        store.pull(tmp_path / "merged", "dev")
        assert json.loads((tmp_path / "merged" / "state.json").read_text()) == {
            "step": 2,
            "other": 1,
        }
        write(folder, "state.json", {"step": 3, "other": 0})  # the folder moves on
        result = store.push(folder, "dev", rebase=True)  # the restarted watch's push
        assert result.serial == 4
        store.pull(tmp_path / "head", "dev")
    assert json.loads((tmp_path / "head" / "state.json").read_text()) == {"step": 3, "other": 1}
    assert json.loads((folder / "state.json").read_text()) == {"step": 3, "other": 1}
