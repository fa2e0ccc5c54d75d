"""``statesync watch`` on every store a process shares: push soon, once per burst, save on stop."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from statesync.api import Store
from tests.helpers import write
from tests.service.watchproc import WatchProc, wait_until

FAST = ("--settle", "0.3s", "--interval", "10s")


def snapshots(url: str, env: str = "dev") -> int:
    with Store.open(url) as store:
        return len(store.log(env, limit=1000))


def pulled(url: str, dest: Path, env: str = "dev") -> object:
    with Store.open(url) as store:
        store.pull(dest, env, force=True)
    return json.loads((dest / "state.json").read_text())


def test_pushes_a_change_then_a_burst_once_then_exits_zero(
    shared_store: str, tmp_path: Path
) -> None:
    folder = tmp_path / "app"
    write(folder, "state.json", {"n": 0})
    # settle well above any pause a loaded machine puts between two writes of the burst
    with WatchProc(shared_store, folder, "--settle", "1.5s", "--interval", "30s") as w:
        w.wait_event("push", lambda e: e["serial"] == 1)
        write(folder, "state.json", {"n": 1})
        w.wait_event("push", lambda e: e["serial"] == 2)
        assert pulled(shared_store, tmp_path / "check1") == {"n": 1}
        started = time.monotonic()
        for i in range(1000):  # 1,000 writes within about a second: one push
            write(folder, "state.json", {"n": 1000 + i})
            time.sleep(0.0008)
        write(folder, "extra/other.json", {"burst": True})
        assert time.monotonic() - started < 30  # the burst stayed shorter than --interval
        w.wait_event("push", lambda e: e["serial"] == 3)
        assert w.terminate() == 0
    assert snapshots(shared_store) == 3, w.log()
    assert pulled(shared_store, tmp_path / "check2") == {"n": 1999}
    assert (tmp_path / "check2" / "extra" / "other.json").exists()
    summary = json.loads(w.stdout)
    assert summary["events"]["push"] == 3 and summary["env"] == "dev"


def test_sigterm_saves_what_has_not_settled_yet(shared_store: str, tmp_path: Path) -> None:
    folder = tmp_path / "app"
    write(folder, "state.json", {"n": 0})
    with WatchProc(shared_store, folder, "--settle", "20s", "--interval", "60s") as w:
        w.wait_event("push", lambda e: e["serial"] == 1)
        write(folder, "state.json", {"n": "final"})
        assert not [e for e in w.of("push") if e["serial"] == 2]
        assert w.terminate() == 0  # long before the 20 s settle: the final save pushed it
    assert [e["serial"] for e in w.of("push")] == [1, 2], w.log()
    assert pulled(shared_store, tmp_path / "check") == {"n": "final"}


def test_under_continuous_churn_pushes_every_interval(local_store: str, tmp_path: Path) -> None:
    folder = tmp_path / "app"
    write(folder, "state.json", {"n": 0})
    with WatchProc(local_store, folder, "--settle", "1s", "--interval", "2s") as w:
        w.wait_event("push", lambda e: e["serial"] == 1)
        i = 0

        def churn_until_second_push() -> bool:
            nonlocal i
            i += 1
            write(folder, "state.json", {"n": i})  # every 0.3 s: never quiet for 1 s
            time.sleep(0.25)
            return any(e["serial"] == 2 for e in w.of("push"))

        wait_until(churn_until_second_push, 30, "a push while the folder never settled")
        assert i >= 2
        assert w.terminate() == 0
    assert pulled(local_store, tmp_path / "check") == {"n": i}


def test_editor_temp_files_and_the_record_are_not_changes(local_store: str, tmp_path: Path) -> None:
    folder = tmp_path / "app"
    write(folder, "state.json", {"n": 0})
    with WatchProc(local_store, folder, "--settle", "0.2s", "--interval", "30s") as w:
        w.wait_event("push", lambda e: e["serial"] == 1)
        for name in (
            "state.json.swp",
            "state.json~",
            ".#state.json",
            "4913",
            "x.tmp",
            "sub/.notes.swp",
            ".statesync/extra",
        ):
            write(folder, name, "temp")
        time.sleep(1.5)  # several settle periods: long enough for a push to have started
        assert [e["kind"] for e in w.events if e["kind"] in ("push", "noop")] == ["push"]
        write(folder, "state.json", {"n": 1})
        w.wait_event("push", lambda e: e["serial"] == 2)
    assert snapshots(local_store) == 2


def test_sighup_reloads_and_keeps_running(local_store: str, tmp_path: Path) -> None:
    folder = tmp_path / "app"
    write(folder, "state.json", {"n": 0})
    with WatchProc(local_store, folder, *FAST) as w:
        w.wait_event("push", lambda e: e["serial"] == 1)
        w.signal(signal.SIGHUP)
        write(folder, "state.json", {"n": 1})
        w.wait_event("push", lambda e: e["serial"] == 2)
        assert "configuration reloaded" in w.log()
        assert w.terminate() == 0


def test_gc_every_applies_the_stored_retention_policy(local_store: str, tmp_path: Path) -> None:
    """``--gc-every``: the service runs ``statesync gc --env`` with the stored policy."""
    from statesync import api
    from statesync.sync.store.retention import Policy

    folder = tmp_path / "app"
    write(folder, "state.json", {"n": 0})
    with Store.open(local_store) as store:
        for n in range(1, 5):  # four snapshots before the service starts
            write(folder, "state.json", {"n": n})
            store.push(folder, "dev")
        api.set_gc_policy(store, "dev", Policy(keep_last=2))
    assert snapshots(local_store) == 4
    with WatchProc(
        local_store, folder, "--settle", "0.3s", "--interval", "10s", "--gc-every", "1s"
    ) as w:
        w.wait_event("gc", timeout=60)
        assert w.terminate() == 0
    assert snapshots(local_store) == 2, w.log()
    assert pulled(local_store, tmp_path / "check") == {"n": 4}
    verify = api.Store.open(local_store)
    try:
        assert verify.verify(read_data=True).ok
    finally:
        verify.close()
