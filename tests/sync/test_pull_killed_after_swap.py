"""A pull SIGKILLed right after its swap: the folder's record names what it holds.

Found by ``tests/service/test_watch_crash.py`` (a follower killed at a random
moment): the record used to be written after the swap, so a kill in between left
the new tree under the old record. Its files then looked like local changes:
the restarted ``watch --follow`` reported a conflict with the newer head and,
keeping the "local" version, pushed the older tree over it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from statesync.api import Store
from tests.helpers import tree, write

#: Pulls ``dev`` into ARGV[2], SIGKILLed by the first removal of a staging folder: that
#: is the old tree, right after the swap.
CHILD = textwrap.dedent(
    """
    import os, shutil, signal, sys
    from statesync.api import Store

    real = shutil.rmtree

    def dying(path, *args, **kwargs):
        if ".statesync-" in os.fspath(path):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path, *args, **kwargs)

    shutil.rmtree = dying
    with Store.open(sys.argv[1]) as store:
        store.pull(sys.argv[2], "dev")
    """
)


@pytest.mark.parametrize("how", ["pull", "merge"])
def test_a_kill_right_after_the_swap_leaves_no_false_local_changes(
    tmp_path: Path, how: str
) -> None:
    url = (tmp_path / "store").as_uri()
    other, folder = tmp_path / "other", tmp_path / "site" / "folder"
    write(other, "state.json", {"n": 1})
    with Store.init(url) as store:
        store.push(other, "dev")
        store.pull(folder, "dev")
        write(other, "state.json", {"n": 2})
        store.push(other, "dev")
    if how == "pull":
        child = [sys.executable, "-c", CHILD, url, str(folder)]
    else:  # a push --rebase whose merge swaps the folder
        write(folder, "mine.json", {"mine": True})
        child = [
            sys.executable,
            "-c",
            CHILD.replace(
                'store.pull(sys.argv[2], "dev")', 'store.push(sys.argv[2], "dev", rebase=True)'
            ),
            url,
            str(folder),
        ]
    assert subprocess.run(child, timeout=120).returncode == -9
    assert json.loads((folder / "state.json").read_text()) == {"n": 2}  # the swap landed
    with Store.open(url) as store:
        st = store.status(folder, "dev")
        assert not (st.added or st.modified or st.deleted), f"false local changes: {st}"
        write(other, "state.json", {"n": 3})  # the other machine moves on
        store.push(other, "dev", rebase=True)
        result = store.push(folder, "dev", rebase=True)  # what a restarted watch does
        store.pull(tmp_path / "head", "dev")
    assert json.loads((tmp_path / "head" / "state.json").read_text()) == {"n": 3}, result
    assert tree(folder)["state.json"] == tree(tmp_path / "head")["state.json"]
    assert (tmp_path / "head" / "mine.json").exists() == (how == "merge")
