"""The watch service under SIGKILL (issue 18 "Crash consistency").

* A real ``statesync watch`` process (push mode, and ``--follow``) is SIGKILLed at
  a seeded random moment while a writer keeps changing its folder (push mode) or
  keeps pushing to the env it follows (follow mode). Default: 2 trials on the
  local store, 1 on moto S3; ``STATESYNC_LONG=1``: 50 each. The trials of one
  case run one after the other on the same store and folder: each restart is
  the previous trial's rerun and the next trial's victim.
* The service, run in-process with its store's backend wrapped in
  :class:`~tests.sync.crashlib.CrashAt`, is killed before each of its store
  writes in turn (its start push of a changed folder, plain and merging).

After each kill: ``verify --read-data`` exits 0; the env's head is a complete
snapshot equal to a tree the folder had (push mode: compared by content with the
trees the writer left; follow mode: one of the trees pushed); in follow mode the
target is a complete pushed tree and nothing beside it changed (a sentinel tree,
byte for byte) but a staging folder ``.target.statesync-*``; a restarted watch
catches up (its first snapshot equals the folder; a follower pulls the last
tree) and no stderr holds a traceback.

Push mode, one caveat measured rather than assumed: push reads the folder one
file at a time (a file that changes while read is re-read), so a push racing a
writer that touches several files may store each file complete but from
different moments. The writer changes one file per step, atomically; a head
that equals no single tree must still be made of entries the folder had
(:func:`made_of`), and the trials count how often that happened.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from statesync.api import Store
from statesync.service import Event, Service, WatchOptions
from tests.helpers import write
from tests.service.watchproc import WatchProc, wait_until
from tests.sync.crashlib import (
    LONG,
    SEED,
    Crash,
    CrashAt,
    change_folder,
    cli,
    content,
    fresh,
    make_folder,
    one_worker,
    serial,
    snapshot_bytes,
    url,
)

__all__ = ["one_worker", "url"]  # fixtures, used by name

Tree = dict[str, Any]
PUSH_ARGS = ("--settle", "0.2s", "--interval", "1s")
FOLLOW_ARGS = ("--follow", "--settle", "0.2s", "--interval", "0.5s")
#: The kill lands within this many seconds of the watch's start event.
KILL_WITHIN = 4.0
LEASE = re.compile(r"is locked by .* lock id ([0-9a-f]+)")


def watch_trials(url: str) -> int:
    """2 on local, 1 on S3 by default; 50 in the long run."""
    if LONG:
        return 50
    return 1 if url.startswith("s3:") else 2


# --- the checks ---------------------------------------------------------------------


def made_of(got: Tree, trees: list[Tree]) -> bool:
    """Every entry of ``got`` is one a tree had, and every absence one a tree had."""
    paths = set(got).union(*trees)
    for path in paths:
        seen = [t.get(path) for t in trees]
        if got.get(path) not in seen:
            return False
    return True


def head(url: str, where: Path, env: str = "dev") -> Tree | None:
    """The env's head pulled into a fresh folder (None: the env does not exist)."""
    with Store.open(url) as store:
        if env not in store.envs():
            return None
        out = where / f"head-{time.monotonic_ns()}"
        store.pull(out, env)
        return content(out)


def verified(url: str, in_process: bool = False) -> None:
    """``verify --read-data`` is clean: the CLI's exit 0 (or the same API call, in-process)."""
    if in_process:
        with Store.open(url) as store:
            report = store.verify(None, read_data=True)
        assert report.ok, report.problems
        return
    done = cli(url, "verify", "--read-data")
    assert done.returncode == 0, done.stdout + done.stderr


def no_traceback(*watches: WatchProc) -> None:
    for w in watches:
        assert "Traceback" not in w.log(), w.log()[-3000:]


def free_dead_leases(url: str, w: WatchProc) -> int:
    """Break a lease a killed run left (the watch takes none today: expect 0)."""
    broken = 0
    for event in w.of("error"):
        found = LEASE.search(event.get("message", ""))
        if found:
            done = cli(url, "unlock", "dev", found[1], "--force")
            assert done.returncode == 0, done.stderr
            broken += 1
    return broken


def kill_at_random(w: WatchProc, rng: random.Random, lo: float, hi: float) -> float:
    """SIGKILL the watch after a seeded random delay; the delay it slept."""
    pause = rng.uniform(lo, hi)
    time.sleep(pause)
    assert w.proc.poll() is None, f"the watch exited early: {w.log()[-3000:]}"
    w.kill()
    return pause


def synced(w: WatchProc, timeout: float = 90) -> dict[str, Any]:
    """The watch's first push or no-op (its start push), as logged."""
    found = wait_until(
        lambda: next((e for e in list(w.events) if e.get("kind") in ("push", "noop")), None),
        timeout,
        lambda: f"the start push; log: {w.log()[-3000:]}",
    )
    return dict(found)


# --- push mode ------------------------------------------------------------------------


class Churn:
    """A writer thread: one atomic change per step, each tree it leaves recorded."""

    def __init__(self, folder: Path, scratch: Path, seed: int) -> None:
        self.folder, self.scratch = folder, scratch
        self.rng = random.Random(seed)
        self.trees: list[Tree] = [content(folder)]
        self.steps = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        scratch.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Churn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _put(self, rel: str, data: bytes) -> None:
        tmp = self.scratch / f"tmp-{self.steps}"
        tmp.write_bytes(data)
        (self.folder / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, self.folder / rel)  # a reader sees the old file or the new one

    def step(self) -> None:
        rng, k = self.rng, self.steps
        extras = sorted((self.folder / "extra").glob("*.json"))
        choice = rng.randrange(5)
        if choice == 0:
            self._put("state.json", f'{{"step": {k}, "r": {rng.random()}}}\n'.encode())
        elif choice == 1:
            self._put("bin/churn.bin", rng.randbytes(rng.randrange(50_000, 300_000)))
        elif choice == 2 or not extras:
            self._put(f"extra/e{k}.json", f'{{"extra": {k}}}\n'.encode())
        elif choice == 3:
            rng.choice(extras).unlink()
        else:
            self._put("logs/churn.log", "".join(f"{k} {i}\n" for i in range(200)).encode())
        self.steps += 1
        self.trees.append(content(self.folder))

    def _run(self) -> None:
        while not self._stop.wait(self.rng.uniform(0.02, 0.15)):
            self.step()


def push_trial(
    url: str, tmp_path: Path, folder: Path, trial: int, rng: random.Random
) -> dict[str, int]:
    """One kill of a pushing watch under churn, its checks, and the restart's catch-up."""
    with Store.open(url) as store:
        before = serial(store, "dev")
    churn = Churn(folder, tmp_path / "scratch", SEED + 100 + trial)
    with churn, WatchProc(url, folder, *PUSH_ARGS) as w:
        w.wait_event("start", timeout=60)
        kill_at_random(w, rng, 0.0, KILL_WITHIN)
    no_traceback(w)
    pushed = [e["serial"] for e in w.of("push")]
    verified(url)
    got = head(url, tmp_path)
    with Store.open(url) as store:
        after = serial(store, "dev")
    assert after >= before and (not pushed or after >= pushed[-1])
    exact = got is None or got in churn.trees
    if got is not None:
        assert exact or made_of(got, churn.trees), "the head holds an entry the folder never had"
    # The restart pushes what the killed one left, and stops cleanly.
    with WatchProc(url, folder, *PUSH_ARGS) as again:
        first = synced(again)
        broken = free_dead_leases(url, again)
        assert again.terminate() == 0, again.log()[-3000:]
    no_traceback(again)
    assert not again.of("conflict"), f"a conflict with its own work: {again.log()[-3000:]}"
    assert head(url, tmp_path) == content(folder), f"the restart did not catch up: {first}"
    return {
        "killed_mid_push": int(after > (pushed[-1] if pushed else before)),
        "pushes": len(pushed),
        "steps": churn.steps,
        "combined": int(not exact),
        "leases": broken,
    }


def test_watch_sigkilled_at_random_moments_under_churn(url: str, tmp_path: Path) -> None:
    Store.init(url).close()
    rng = random.Random(SEED + 50)
    folder = make_folder(tmp_path / "app", random.Random(SEED + 51), files=30)
    totals: dict[str, int] = {}
    n = watch_trials(url)
    for trial in range(n):
        for key, value in push_trial(url, tmp_path, folder, trial, rng).items():
            totals[key] = totals.get(key, 0) + value
    print(f"watch push: {n} trials, {totals}")


# --- follow mode ------------------------------------------------------------------------


class Publisher:
    """Another machine: changes its folder and pushes it to ``dev``; every tree kept.

    ``with pub:`` runs it in a thread until the block ends (any number of times).
    """

    def __init__(self, url: str, folder: Path, seed: int) -> None:
        self.url, self.folder = url, folder
        self.rng = random.Random(seed)
        self.trees: list[Tree] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def push(self, store: Store) -> None:
        k = len(self.trees)
        for old in (self.folder / "bin").glob("p*.bin"):
            old.unlink()
        write(self.folder, "state.json", {"pushed": k, "r": self.rng.random()})
        size = self.rng.randrange(100_000, 400_000)
        write(self.folder, f"bin/p{k}.bin", self.rng.randbytes(size))
        store.push(self.folder, "dev", message=f"p{k}")
        self.trees.append(content(self.folder))

    def __enter__(self) -> Publisher:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(60)
        assert self.error is None, self.error

    def _run(self) -> None:
        try:
            with Store.open(self.url) as store:
                while not self._stop.wait(self.rng.uniform(0.1, 0.6)):
                    self.push(store)
        except BaseException as exc:  # reported by __exit__
            self.error = exc


def follow_trial(
    url: str, tmp_path: Path, pub: Publisher, trial: int, rng: random.Random
) -> dict[str, int]:
    """One kill of a follower while another machine pushes; its checks and the catch-up."""
    site = tmp_path / "site"
    target, sentinel = site / "target", site / "sentinel"
    before_sentinel = snapshot_bytes(sentinel)
    start_tree = content(target)
    was = len(pub.trees)
    with pub, WatchProc(url, target, *FOLLOW_ARGS) as w:
        w.wait_event("start", timeout=60)
        kill_at_random(w, rng, 0.0, KILL_WITHIN)
    no_traceback(w)
    verified(url)
    got = content(target)
    assert got == start_tree or got in pub.trees, "the target is torn or foreign"
    assert head(url, tmp_path) in pub.trees, "the follower pushed something of its own"
    assert snapshot_bytes(sentinel) == before_sentinel, "a write outside the target"
    leftovers = {p.name for p in site.iterdir()} - {"target", "sentinel"}
    assert all(n.startswith(".target.statesync-") for n in leftovers), leftovers
    last = pub.trees[-1]
    with WatchProc(url, target, *FOLLOW_ARGS) as again:
        synced(again)  # started, signal handlers in place
        wait_until(
            lambda: content(target) == last, 90, lambda: f"catch-up; log {again.log()[-3000:]}"
        )
        broken = free_dead_leases(url, again)
        assert again.terminate() == 0, again.log()[-3000:]
    no_traceback(again)
    assert not again.of("conflict"), f"a conflict with its own work: {again.log()[-3000:]}"
    assert content(target) == last == head(url, tmp_path)
    if again.of("pull"):  # a pull removes what killed ones left beside the target
        assert {p.name for p in site.iterdir()} == {"target", "sentinel"}
    return {
        "pulls": len(w.of("pull")),
        "pushed": len(pub.trees) - was,
        "untouched": int(got == start_tree),
        "leftovers": len(leftovers),
        "leases": broken,
    }


def test_follower_sigkilled_at_random_moments(url: str, tmp_path: Path) -> None:
    Store.init(url).close()
    rng = random.Random(SEED + 60)
    source = make_folder(tmp_path / "source", random.Random(SEED + 61), files=30)
    pub = Publisher(url, source, SEED + 62)
    site = tmp_path / "site"
    make_folder(site / "sentinel", random.Random(99), files=30)
    with Store.open(url) as store:
        pub.push(store)
        store.pull(site / "target", "dev")
    totals: dict[str, int] = {}
    n = watch_trials(url)
    for trial in range(n):
        for key, value in follow_trial(url, tmp_path, pub, trial, rng).items():
            totals[key] = totals.get(key, 0) + value
    print(f"watch --follow: {n} trials, {totals}")


# --- a kill before each store write, in-process ------------------------------------------


class CrashingService(Service):
    """The real service whose store's backend is wrapped in :class:`CrashAt` at first open.

    Only the backend is replaced (as the crash harness does for push and gc); the
    loop, its push and its merge are the real ones. The "killed" loop thread ends
    on :class:`Crash`, which no code path catches; :attr:`crashed` records it.
    """

    def __init__(
        self, folder: Path, options: WatchOptions, at: int | None, after: bool = False
    ) -> None:
        super().__init__(folder, options)
        self.spy: CrashAt | None = None
        self.at, self.after = at, after
        self.crashed: Crash | None = None

    def _open(self) -> Any:
        store = super()._open()
        if self.spy is None:
            self.spy = CrashAt(store.repo.backend, at=self.at, after=self.after)
            store.repo.backend = self.spy
        assert store.repo.backend is self.spy, "the store was re-opened after a failure"
        return store

    def _main(self) -> None:
        try:
            super()._main()
        except Crash as exc:  # the process died here
            self.crashed = exc


def options(url: str) -> WatchOptions:
    return WatchOptions(env="dev", store=url, settle=0.1, interval=5.0, poll=True)


@dataclasses.dataclass
class Scene:
    """A folder whose next (start) push the watch makes, and the trees allowed around it."""

    folder: Path
    env_before: Tree  # dev's head before the push
    env_after: Tree  # dev's head once the push finished
    folder_after: Tree  # the folder once the push finished (a merge swaps it)
    folder_before: Tree = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folder_before = content(self.folder)


def scene_plain(url: str, where: Path) -> Scene:
    """The folder changed since its last push: the start push is a plain one."""
    folder = make_folder(where / "app", random.Random(SEED + 70), files=30)
    with Store.init(url) as store:
        store.push(folder, "dev", message="v1")
    before = content(folder)
    change_folder(folder, random.Random(SEED + 71))
    return Scene(folder, before, content(folder), content(folder))


def scene_merge(url: str, where: Path) -> Scene:
    """Another machine pushed other files meanwhile: the start push merges and swaps the folder."""
    folder = make_folder(where / "app", random.Random(SEED + 72), files=30)
    clone = where / "clone"
    with Store.init(url) as store:
        store.push(folder, "dev", message="v1")
        store.pull(clone, "dev")
        write(clone, "theirs.json", {"by": "clone"})
        store.push(clone, "dev", message="theirs")
    theirs = content(clone)
    write(folder, "mine.json", {"by": "folder"})
    write(folder, "bin/mine.bin", random.Random(SEED + 73).randbytes(300_000))
    merged_dir = where / "merged"
    shutil.copytree(clone, merged_dir, symlinks=True, ignore=shutil.ignore_patterns(".statesync"))
    shutil.copy2(folder / "mine.json", merged_dir / "mine.json")
    shutil.copy2(folder / "bin" / "mine.bin", merged_dir / "bin" / "mine.bin")
    merged = content(merged_dir)
    return Scene(folder, theirs, merged, merged)


SCENES: dict[str, Callable[[str, Path], Scene]] = {"plain": scene_plain, "merge": scene_merge}


def run_service(svc: CrashingService, timeout: float = 60) -> None:
    """Start; wait for the start push or the crash; stop (a crashed loop is already gone)."""
    events: list[Event] = []
    svc.on_event = events.append
    svc.start()
    try:
        wait_until(
            lambda: svc.crashed or any(e.kind in ("push", "noop") for e in events),
            timeout,
            lambda: f"the start push or the crash: {[e.message for e in events]}",
        )
        assert not any(e.kind in ("error", "conflict") for e in events), [e.message for e in events]
    finally:
        assert svc.stop(timeout=60)


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_watch_killed_before_each_store_write(
    url: str, tmp_path: Path, scene: str, one_worker: None
) -> None:
    if (url.startswith("s3:") or scene == "plain") and not LONG:
        pytest.skip("runs with STATESYNC_LONG=1 (default-run budget; the merge covers its writes)")
    make = SCENES[scene]
    probe_url = fresh(url, tmp_path / "probe")
    probe = make(probe_url, tmp_path / "probe")
    clean = CrashingService(probe.folder, options(probe_url), at=None)
    run_service(clean)
    assert clean.spy is not None and clean.crashed is None
    writes = clean.spy.puts
    assert writes, "the start push wrote nothing"
    assert head(probe_url, tmp_path) == probe.env_after == content(probe.folder)
    # before each write, and once right after the last (the ref moved, the folder's
    # record and a merge's swap of the folder not yet done)
    points = [(n, False) for n in range(1, len(writes) + 1)] + [(len(writes), True)]
    for n, after in points:
        where = tmp_path / f"n{n}{'-after' if after else ''}"
        trial_url = fresh(url, where)
        sc = make(trial_url, where)
        svc = CrashingService(sc.folder, options(trial_url), at=n, after=after)
        run_service(svc)
        assert svc.crashed is not None, f"no crash at write {n} of {len(writes)}: {svc.spy}"
        verified(trial_url, in_process=True)
        got = head(trial_url, where)
        assert got in (sc.env_before, sc.env_after), f"write {n}: torn head"
        assert content(sc.folder) in (sc.folder_before, sc.folder_after), f"write {n}: torn folder"
        rerun = CrashingService(sc.folder, options(trial_url), at=None)
        run_service(rerun)  # the restart: no crash, no error, no conflict
        assert head(trial_url, where) == sc.env_after == content(sc.folder), f"write {n}"
    print(f"watch {scene}: killed before each of {len(writes)} writes and after the last: {writes}")
