"""``watch --follow``: pull what others push, re-arm after the swap, converge, report conflicts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from statesync.api import Store
from tests.helpers import write
from tests.service.test_watch_recovery import samples
from tests.service.watchproc import WatchProc, wait_until

FOLLOW = ("--follow", "--settle", "0.2s", "--interval", "1s")


def seed(url: str, tmp_path: Path, doc: object) -> None:
    """Push ``doc`` as state.json to ``dev`` from another machine's folder."""
    other = tmp_path / "seed"
    write(other, "state.json", doc)
    with Store.open(url) as store:
        store.push(other, "dev")


def clone(url: str, dest: Path) -> Path:
    with Store.open(url) as store:
        store.pull(dest, "dev")
    return dest


def doc(folder: Path) -> Any:
    try:
        return json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        return None


def test_two_followers_editing_different_keys_converge(shared_store: str, tmp_path: Path) -> None:
    seed(shared_store, tmp_path, {"a": 0, "b": 0})
    one, two = clone(shared_store, tmp_path / "one"), clone(shared_store, tmp_path / "two")
    with WatchProc(shared_store, one, *FOLLOW) as w1, WatchProc(shared_store, two, *FOLLOW) as w2:
        w1.wait_event("start")
        w2.wait_event("start")
        write(one, "state.json", {"a": 1, "b": 0})
        write(two, "state.json", {"a": 0, "b": 2})
        both = {"a": 1, "b": 2}
        wait_until(
            lambda: doc(one) == both and doc(two) == both,
            60,
            lambda: f"convergence: {doc(one)} / {doc(two)}\n{w1.log()}\n{w2.log()}",
        )
        assert w1.terminate() == 0 and w2.terminate() == 0
    assert not w1.of("conflict") and not w2.of("conflict")


def test_follower_pulls_rearms_and_ignores_its_own_swap(local_store: str, tmp_path: Path) -> None:
    seed(local_store, tmp_path, {"n": 0})
    folder = clone(local_store, tmp_path / "app")
    with WatchProc(local_store, folder, *FOLLOW) as w:
        w.wait_event("start")
        seed(local_store, tmp_path, {"n": "theirs"})
        pulled = w.wait_event("pull")
        assert doc(folder) == {"n": "theirs"} and pulled["serial"] == 2
        time.sleep(1.0)  # five settle periods: a reaction to the swap would have started
        assert not w.of("push"), w.log()
        write(folder, "state.json", {"n": "mine, after the swap"})
        w.wait_event("push", lambda e: e["serial"] == 3)  # the new folder is watched
        assert w.terminate() == 0
    with Store.open(local_store) as store:
        assert len(store.log("dev", limit=100)) == 3


def history(url: str, tmp_path: Path) -> list[object]:
    """state.json of every snapshot of ``dev``, newest first."""
    with Store.open(url) as store:
        out = []
        for i, entry in enumerate(store.log("dev", limit=100)):
            store.pull(tmp_path / f"h{i}", snapshot=entry.snapshot)
            out.append(doc(tmp_path / f"h{i}"))
        return out


def test_a_real_conflict_is_reported_and_local_kept_in_head_remote_in_history(
    local_store: str, tmp_path: Path
) -> None:
    seed(local_store, tmp_path, {"a": 0, "b": 0})
    folder = clone(local_store, tmp_path / "app")
    with WatchProc(
        local_store, folder, "--settle", "0.2s", "--interval", "30s", "--metrics", "127.0.0.1:0"
    ) as w:
        w.wait_event("start")
        seed(local_store, tmp_path, {"a": "theirs", "b": 0})
        write(folder, "state.json", {"a": "mine", "b": 0})
        event = w.wait_event("conflict")
        assert any(c.startswith("state.json#/a") for c in event["conflicts"]), event
        assert "keeping the local version" in event["message"]
        counted = samples(w.metrics_url())
        env = ("env", "dev")
        assert counted[("statesync_conflicts_total", (env, ("resolution", "unresolved")))] == 1
        assert counted[("statesync_pushes_total", (env, ("result", "conflict")))] == 1
        write(folder, "state.json", {"a": "mine", "b": 1})  # the service kept running
        w.wait_event(
            "push", lambda e: "b" in doc(folder) and doc(folder)["b"] == 1 and e["serial"] == 4
        )
        assert w.terminate() == 0
    docs = history(local_store, tmp_path)
    assert docs[0] == {"a": "mine", "b": 1}
    assert {"a": "mine", "b": 0} in docs and {"a": "theirs", "b": 0} in docs


def test_on_conflict_stop_exits_3(local_store: str, tmp_path: Path) -> None:
    seed(local_store, tmp_path, {"a": 0})
    folder = clone(local_store, tmp_path / "app")
    with WatchProc(
        local_store, folder, "--settle", "0.2s", "--interval", "30s", "--on-conflict", "stop"
    ) as w:
        w.wait_event("start")
        seed(local_store, tmp_path, {"a": "theirs"})
        write(folder, "state.json", {"a": "mine"})
        w.wait_event("conflict")
        assert w.proc.wait(30) == 3
    assert doc(folder) == {"a": "mine"}  # the local version is never thrown away


def test_on_conflict_take_remote_pulls_theirs_and_keeps_mine_in_history(
    local_store: str, tmp_path: Path
) -> None:
    seed(local_store, tmp_path, {"a": 0})
    folder = clone(local_store, tmp_path / "app")
    with WatchProc(
        local_store, folder, "--settle", "0.2s", "--interval", "30s", "--on-conflict", "take-remote"
    ) as w:
        w.wait_event("start")
        seed(local_store, tmp_path, {"a": "theirs"})
        write(folder, "state.json", {"a": "mine"})
        event = w.wait_event("conflict")
        assert "taking the remote version" in event["message"]
        w.wait_event("pull")
        assert doc(folder) == {"a": "theirs"}
        assert w.terminate() == 0
    docs = history(local_store, tmp_path)
    assert docs[0] == {"a": "theirs"} and {"a": "mine"} in docs
