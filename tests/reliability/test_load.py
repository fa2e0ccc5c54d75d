"""Concurrency under load (issue 18): writers with ``--rebase``, readers and a gc, all at once.

Each writer loops over its own folder (pulled from the environment first):
it adds one file of its own, ``w<i>/c<k>.json`` whose bytes follow from
``(i, k)``, and pushes with ``rebase=True``. Readers pull the environment
again and again; a gc (``keep_last=3``) runs in a loop. Every actor is a
thread calling the API with its own ``Store`` (a CLI process per push costs
about a second of CPU in imports: 16 CLI writers landed one push each in a
minute on the shared two cores). Checked:

* every accepted push is in the final history: walking first parents from
  the head, the snapshot at the push's serial is the push's snapshot; where
  gc cut the history below it, its change is accounted for by the final tree
  holding each writer's latest accepted file (a writer's folder only grows,
  so that tree must hold ``c0..c<k>`` of each writer);
* the ref moved once per accepted push, no more: the head's serial is the
  base's plus the number of accepted pushes, each serial told to one push;
* every tree a reader pulled is a snapshot exactly: right after the pull it
  equals the manifest of the snapshot the pull named (path, digest, mode),
  unless gc removed that snapshot in between (counted); it is the base plus,
  per writer, exactly ``c0..c<k>``; the snapshot it named is one a push was
  told it made; the latest pulled snapshots still in the store pull again
  to the same tree;
* ``verify --read-data`` is clean; nothing logged an error or a traceback
  (warnings are counted: a rebase whose base gc removed says so); no actor
  raised anything but a :class:`StatesyncError`, and the only one allowed is
  a push that gave up after its merge attempts (exit 3, counted).

Default run: 4 writers, 1 reader and the gc for 5 s on the local store and
fake-gcs. ``STATESYNC_LONG=1`` adds that shape on moto S3 and Azurite, and
16 writers, 2 readers and the gc for 60 s on the local store and each
emulator. Figures go to ``report-load.txt`` in the session's base temp folder.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from statesync import api
from statesync.api import Store
from statesync.errors import EnvNotFound, RefConflict, SnapshotNotFound, StatesyncError
from statesync.sync.store.retention import Policy
from tests.helpers import tree, write
from tests.rigs import RIGS

BASE = {f"base/b{i}.json": {"base": i} for i in range(5)}
Tree = dict[str, tuple[str, int]]


def change(writer: int, k: int) -> dict[str, Any]:
    """The bytes writer ``writer`` puts in its ``k``-th file (a reader can check them)."""
    return {"writer": writer, "k": k, "pad": "x" * (k * 37 % 500)}


@dataclass(frozen=True)
class Accepted:
    """A push that returned: writer ``writer``'s file ``c<k>`` is in ``snapshot`` at ``serial``."""

    writer: int
    k: int
    snapshot: str
    serial: int


@dataclass
class Tally:
    """What every actor did, guarded by one lock."""

    accepted: list[Accepted] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    pulled: list[tuple[str, Tree]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] += n

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)

    def latest(self) -> dict[int, int]:
        """Writer -> the highest ``k`` of its accepted pushes."""
        out: dict[int, int] = {}
        for a in self.accepted:
            out[a.writer] = max(out.get(a.writer, -1), a.k)
        return out


def guarded(name: str, tally: Tally, body: Callable[[], None]) -> None:
    """Run an actor; anything it raises is a failure with its traceback (never silent)."""
    try:
        body()
    except Exception:  # the test reports it
        tally.fail(f"{name}: {traceback.format_exc()}")


class Tracebacks(logging.Handler):
    """Counts log records that carry a traceback or are errors (a load run logs none)."""

    def __init__(self, tally: Tally) -> None:
        super().__init__(logging.WARNING)
        self.tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.tally.fail(f"logged {record.levelname}: {self.format(record)}")
        else:
            self.tally.note("warnings logged")


def writer(store: Store, folder: Path, i: int, until: float, tally: Tally) -> None:
    last = store.pull(folder, "dev").serial
    k = 0
    while time.monotonic() < until:
        write(folder, f"w{i}/c{k}.json", change(i, k))
        try:
            result = store.push(folder, "dev", message=f"w{i} c{k}", rebase=True)
        except StatesyncError as exc:
            if exc.exit_code != 3:
                raise
            tally.note("pushes that gave up (exit 3)")
        else:
            with tally.lock:
                tally.accepted.append(Accepted(i, k, result.snapshot, result.serial))
                tally.counts["pushes accepted"] += 1
                # others pushed since this folder's last sync: a merge landed
                tally.counts["pushes rebased"] += result.serial > last + 1
            last = result.serial
        k += 1


def reader(store: Store, folder: Path, until: float, tally: Tally) -> None:
    while time.monotonic() < until:
        result = store.pull(folder, "dev")
        got = tree(folder)
        tally.note("pulls")
        try:
            info = store.show(result.snapshot)
        # show() names an id outside the trusted history "neither an environment nor a
        # snapshot id" (EnvNotFound); pull() of one says SnapshotNotFound
        except (SnapshotNotFound, EnvNotFound):
            tally.note("pulls whose snapshot gc removed before the check")
        else:
            want = {e.path: (e.digest.removeprefix("sha256:"), e.mode) for e in info.entries}
            if want != got:  # tree(): path -> (hex sha256, mode)
                tally.fail(f"pulled tree differs from snapshot {result.snapshot}")
        with tally.lock:
            tally.pulled.append((result.snapshot, got))


def collector(store: Store, until: float, tally: Tally) -> None:
    while time.monotonic() < until:
        result = api.gc(store, env="dev", policy=Policy(keep_last=3))
        with tally.lock:
            tally.counts["gc runs"] += 1
            tally.counts["snapshots gc removed"] += len(result.snapshots_removed)
        time.sleep(0.5)


# --- the run ------------------------------------------------------------------------


@dataclass
class Run:
    """One load run: the base push and the tally of everything after it."""

    base: Accepted
    tally: Tally


def run_load(url: str, tmp: Path, writers: int, readers: int, seconds: float) -> Run:
    with Store.init(url) as store:
        for rel, doc in BASE.items():
            write(tmp / "seed", rel, doc)
        first = store.push(tmp / "seed", "dev", message="base")
    base = Accepted(-1, -1, first.snapshot, first.serial)
    tally = Tally()
    stores = [Store.open(url) for _ in range(writers + readers + 1)]
    until = time.monotonic() + seconds
    bodies: list[tuple[str, Callable[[], None]]] = [
        (f"writer {i}", partial(writer, stores[i], tmp / f"w{i}", i, until, tally))
        for i in range(writers)
    ]
    bodies += [
        (f"reader {j}", partial(reader, stores[writers + j], tmp / f"r{j}", until, tally))
        for j in range(readers)
    ]
    bodies.append(("gc", partial(collector, stores[-1], until, tally)))
    threads = [threading.Thread(target=guarded, args=(n, tally, b)) for n, b in bodies]
    watch = Tracebacks(tally)
    logging.getLogger().addHandler(watch)
    started = time.monotonic()
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        logging.getLogger().removeHandler(watch)
    for s in stores:
        s.close()
    tally.counts["seconds"] = round(time.monotonic() - started)
    per = Counter(a.writer for a in tally.accepted)
    tally.counts["fewest pushes accepted of one writer"] = min(per[i] for i in range(writers))
    return Run(base, tally)


# --- the checks ----------------------------------------------------------------------


def base_tree(tmp: Path) -> Tree:
    for rel, doc in BASE.items():
        write(tmp / "base-src", rel, doc)
    return tree(tmp / "base-src")


def check_is_a_snapshot(got: Tree, base: Tree, tmp: Path) -> dict[int, int]:
    """The base files, and per writer c0..ck with exactly the bytes it wrote; writer -> k."""
    assert {k: v for k, v in got.items() if k.startswith("base/")} == base
    per: dict[int, set[int]] = {}
    for rel in got:
        if not rel.startswith("base/"):
            folder, name = rel.split("/")
            per.setdefault(int(folder[1:]), set()).add(int(name[1:].split(".")[0]))
    expected: Tree = dict(base)
    for w, ks in per.items():
        assert ks == set(range(max(ks) + 1)), f"writer {w}: a torn snapshot {sorted(ks)}"
        for k in ks:
            expected[f"w{w}/c{k}.json"] = _expected_file(w, k, tmp)
    assert got == expected
    return {w: max(ks) for w, ks in per.items()}


_EXPECTED: dict[tuple[int, int], tuple[str, int]] = {}


def _expected_file(w: int, k: int, tmp: Path) -> tuple[str, int]:
    if (w, k) not in _EXPECTED:
        path = write(tmp / "expected", f"w{w}/c{k}.json", change(w, k))
        _EXPECTED[(w, k)] = tree(path.parent)[path.name]
    return _EXPECTED[(w, k)]


def check_history(store: Store, run: Run) -> None:
    """Each accepted push at its serial in the first-parent history, or below gc's cut."""
    tally = run.tally
    serials = Counter(a.serial for a in tally.accepted)
    assert max(serials.values(), default=1) == 1, f"a serial told to two pushes: {serials}"
    history = store.log("dev", limit=10**6)
    head_serial = history[0].serial
    assert head_serial == run.base.serial + len(tally.accepted), (
        f"head serial {head_serial}: the ref moved other than once per accepted push "
        f"(base {run.base.serial}, {len(tally.accepted)} accepted)"
    )
    at = {e.serial: e.snapshot for e in history}
    oldest = min(s for s in at if s is not None)
    assert oldest == run.base.serial or history[-1].history_cut, "history ends uncut"
    below = 0
    for a in tally.accepted:
        if a.serial >= oldest:
            assert at[a.serial] == a.snapshot, f"accepted {a} is not in the final history"
        else:
            below += 1
    tally.counts["accepted pushes in the final history"] = len(tally.accepted) - below
    tally.counts["accepted pushes below gc's cut"] = below


def check_load(url: str, tmp: Path, run: Run) -> None:
    tally = run.tally
    assert tally.failures == [], "\n".join(tally.failures)
    base = base_tree(tmp)
    told = {a.snapshot for a in tally.accepted} | {run.base.snapshot}
    with Store.open(url) as store:
        report = store.verify(None, read_data=True)
        assert report.ok, report.problems
        store.pull(tmp / "final", "dev")
        final = check_is_a_snapshot(tree(tmp / "final"), base, tmp)
        for w, k in tally.latest().items():
            assert final.get(w, -1) >= k, f"accepted change w{w}/c{k} lost"
        check_history(store, run)
        for snap, pulled in tally.pulled:
            assert snap in told, f"a reader pulled {snap}, which no push was told it made"
            check_is_a_snapshot(pulled, base, tmp)
        compared = 0
        for snap, pulled in reversed(tally.pulled[-20:]):  # the latest: gc kept some
            if compared == 5:
                break
            try:
                store.pull(tmp / f"again-{compared}", snapshot=snap)
            except SnapshotNotFound:
                continue  # gc removed it since
            assert tree(tmp / f"again-{compared}") == pulled
            compared += 1
        tally.counts["pulled trees pulled again"] = compared
    assert tally.counts["pushes accepted"] > 0 and tally.counts["gc runs"] > 0


def report(tmp_path_factory: pytest.TempPathFactory, name: str, shape: str, t: Tally) -> None:
    figures = ", ".join(f"{k} {v}" for k, v in sorted(t.counts.items()))
    with (tmp_path_factory.getbasetemp() / "report-load.txt").open("a") as fh:
        fh.write(f"load {name:5} {shape}: {figures}\n")


def _store(name: str, tmp: Path) -> str:
    url = RIGS[name](tmp) if name in RIGS else None
    if url is None:
        pytest.skip(f"{name} emulator not started (source /tmp/emu/env)")
    return url


def load_case(
    name: str, tmp: Path, factory: pytest.TempPathFactory, writers: int, readers: int, s: float
) -> None:
    url = _store(name, tmp)
    run = run_load(url, tmp, writers=writers, readers=readers, seconds=s)
    try:
        check_load(url, tmp, run)
    finally:
        shape = f"{writers} writers, {readers} readers, gc, {s:g} s"
        report(factory, name, shape, run.tally)


# Default: local and fake-gcs (the quickest emulator: ~10 s a case; moto S3 ~18 s on the
# shared machine). S3 and Azurite run this shape in the long run.
LONG = pytest.mark.long


@pytest.mark.parametrize(
    "name", ["local", "gcs", pytest.param("s3", marks=LONG), pytest.param("azure", marks=LONG)]
)
def test_four_writers_a_reader_and_gc(
    name: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    load_case(name, tmp_path, tmp_path_factory, writers=4, readers=1, s=5)


@pytest.mark.long
@pytest.mark.parametrize("name", ["local", "s3", "azure", "gcs"])
def test_sixteen_writers_readers_and_gc_for_a_minute(
    name: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    load_case(name, tmp_path, tmp_path_factory, writers=16, readers=2, s=60)


def test_rebase_after_gc_removed_the_parent(tmp_path: Path) -> None:
    """Found by the load run: the folder's last-synced snapshot gone to gc is a merge
    without a base (it was exit 1 'snapshot ... not found'), and no history names it."""
    url = (tmp_path / "store").as_uri()
    with Store.init(url) as store:
        write(tmp_path / "a", "a.json", {"a": 1})
        store.push(tmp_path / "a", "dev")  # folder a's parent: this first snapshot
        store.pull(tmp_path / "b", "dev")
        for n in range(4):
            write(tmp_path / "b", f"b{n}.json", {"b": n})
            store.push(tmp_path / "b", "dev")
        removed = api.gc(store, env="dev", policy=Policy(keep_last=3)).snapshots_removed
        assert removed, "gc kept folder a's parent: the case proves nothing"
        write(tmp_path / "a", "a2.json", {"a": 2})
        store.push(tmp_path / "a", "dev", rebase=True)
        out = tmp_path / "out"
        store.pull(out, "dev")
        assert set(tree(out)) == {"a.json", "a2.json", "b0.json", "b1.json", "b2.json", "b3.json"}
        assert store.verify(read_data=True).problems == []
        # a file both sides changed, without a base to tell who did: a conflict, nothing lands
        store.pull(tmp_path / "c", "dev")
        write(tmp_path / "c", "a.json", {"a": "theirs"})
        for n in range(4):
            write(tmp_path / "c", f"c{n}.json", {"c": n})
            store.push(tmp_path / "c", "dev")
        api.gc(store, env="dev", policy=Policy(keep_last=2))
        write(tmp_path / "a", "a.json", {"a": "ours"})
        head = store.log("dev", limit=1)[0].snapshot
        with pytest.raises(RefConflict):
            store.push(tmp_path / "a", "dev", rebase=True)
        assert store.log("dev", limit=1)[0].snapshot == head
