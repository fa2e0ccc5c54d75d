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
