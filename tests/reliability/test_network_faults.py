"""Network faults between the real SDKs and each emulator (issue 18, "Network faults").

The CLI runs in a subprocess with its endpoint aimed at a
:class:`~tests.reliability.faultproxy.FaultProxy`, a short retry budget
(``STATESYNC_RETRY_BUDGET``) and short SDK timeouts (``tests.reliability.shortcli``).
Through the proxy it pushes a new version, pulls into a fresh folder and
into one holding the old version, and verifies with ``--read-data``. Each
command either succeeds (through retries) or fails with one line and a
documented exit code, in bounded time. Afterwards, read directly from the
emulator: ``verify --read-data`` is clean, the ref is the old or the new
snapshot, every pulled folder is a snapshot exactly or untouched, and
nothing was written beside the targets.

Default run: one case per fault kind on moto S3 (an injected 503 standing
for the three statuses), one on Azurite, one on fake-gcs, and a 503 storm
on S3, and a flipped upload on Azurite (see :data:`UNCHECKED_UPLOADS` for why
not on moto or fake-gcs). ``STATESYNC_LONG=1``: every kind on every emulator
with three seeds each, and a storm on each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from statesync.api import Store
from statesync.sync.store import repo as repo_mod
from statesync.sync.store.refs import read_ref
from tests.helpers import tree, write
from tests.leakscan import LOG_SUFFIX
from tests.reliability.clouds import Emulator, emulator
from tests.reliability.faultproxy import KINDS, FaultProxy, Plan
from tests.sync.crashlib import snapshot_bytes

LONG = os.environ.get("STATESYNC_LONG") == "1"
ROOT = Path(__file__).resolve().parents[2]
#: STATESYNC_RETRY_BUDGET of every command (seconds, per backend call).
BUDGET = 4.0
#: The SDKs' connect and read timeouts in the CLI; a stall lasts longer.
TIMEOUT = 1.5
STALL = 2.5
#: A command through the proxy must end within this (start-up, retries of several calls).
LIMIT = 90.0
#: Exit codes a command may end with under network faults: ok, error (unreachable
#: after retries), integrity (a body damaged in transit and refused).
ALLOWED = {0, 1, 4}


def plan(kind: str, cloud: str, seed: int = 1, rate: float = 0.2) -> Plan:
    if kind == "flip-request":
        rate = max(rate, 0.5)  # a push makes few uploads: damage enough of them to count
    status = {"status-500": 500, "status-503": 503, "status-429": 429}.get(kind, 503)
    return Plan(
        kind="status" if kind.startswith("status") else kind,
        rate=rate,
        seed=seed,
        status=status,
        stall=STALL,
        flavour=cloud,
        # a flip of a request body only means something for a request that has one
        methods=frozenset({"PUT", "POST", "PATCH"}) if kind == "flip-request" else None,
    )


FAULTS = [k for k in KINDS if k != "status"] + ["status-500", "status-503", "status-429"]
#: One case per kind on S3 (the three statuses are one kind: 503 stands for them), one
#: on Azurite and one on fake-gcs; the rest of the matrix runs with STATESYNC_LONG=1.
DEFAULT = [
    ("s3", k, 1) for k in FAULTS if k not in ("status-500", "status-429", "flip-request")
] + [
    ("azure", "cut", 1),
    ("azure", "flip-request", 1),
    ("gcs", "cut", 1),
]
#: Emulators that store an upload without checking the checksum sent with it:
#: moto 5 (``x-amz-checksum-sha256``; its source says "TODO: AWS computes the
#: provided value and verifies it") and fake-gcs-server (the multipart upload's
#: ``crc32c``). S3 and GCS themselves refuse such a body (BadDigest, 400), so a
#: flipped upload there says something about the emulator, not about us; Azurite
#: checks the ``Content-MD5`` our Azure driver sends, as Azure does.
UNCHECKED_UPLOADS = {"s3", "gcs"}
FULL = [
    (c, k, s)
    for c in ("s3", "azure", "gcs")
    for k in FAULTS
    for s in (1, 2, 3)
    if not (k == "flip-request" and c in UNCHECKED_UPLOADS)
]


@dataclass
class Outcome:
    """What one case did: each command's exit code and time, the faults injected."""

    codes: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    injected: int = 0
    requests: int = 0


# --- the store and the folders -----------------------------------------------------


def _needs(cloud: str) -> Emulator:
    found = emulator(cloud)
    if found is None:
        pytest.skip(f"{cloud} emulator not started (source /tmp/emu/env)")
    return found


def make_folder(root: Path) -> Path:
    for i in range(24):
        write(root, f"conf/c{i}.json", {"n": i, "name": f"svc{i}", "tags": ["a", "b"]})
    for i in range(3):
        write(root, f"bin/b{i}.bin", os.urandom(120_000))
    write(root, "notes.txt", "v1\n", mode=0o640)
    return root


def change_folder(root: Path) -> None:
    write(root, "conf/c0.json", {"n": 0, "changed": True})
    write(root, "bin/new.bin", os.urandom(200_000))
    (root / "conf" / "c5.json").unlink()
    write(root, "notes.txt", "v2\n", mode=0o600)


@dataclass
class Site:
    """A store with v1 pushed, the folder at v2, and the trees of both versions."""

    url: str
    folder: Path
    v1: dict[str, Any]
    v2: dict[str, Any]
    old_target: Path
    new_target: Path


def prepare(em: Emulator, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.setattr(repo_mod, "DEFAULT_PACK_SIZE", 96 * 1024)  # several packs per push
    url = em.make_store(tmp)
    assert url is not None
    folder = make_folder(tmp / "work")
    with Store.init(url) as store:
        store.push(folder, "dev", message="v1")
        old_target = tmp / "site-old" / "target"
        old_target.parent.mkdir()
        (tmp / "site-new").mkdir()
        store.pull(old_target, "dev")
    v1 = tree(folder)
    change_folder(folder)
    return Site(url, folder, v1, tree(folder), old_target, tmp / "site-new" / "target")


# --- the commands through the proxy ------------------------------------------------


def through(
    em: Emulator, proxy: FaultProxy, url: str, log: Path, *args: str
) -> tuple[int, str, float]:
    """Run the CLI at ``-vv`` through ``proxy``; its stderr is kept in ``log`` (leak-scanned)."""
    env = {
        **os.environ,
        **em.through(proxy.port),
        "STATESYNC_RETRY_BUDGET": f"{BUDGET:g}s",
        "STATESYNC_TEST_TIMEOUT": str(TIMEOUT),
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability.shortcli", "-vv", "--store", url, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=LIMIT + 30,
    )
    took = time.monotonic() - started
    log.write_text(done.stderr)
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr
    # Only our own records: nothing an SDK or Python printed around them.
    assert all(line.startswith("statesync: ") for line in lines), done.stderr
    errors = [line for line in lines if line.startswith("statesync: error: ")]
    if done.returncode:
        assert len(errors) == 1 and lines[-1] == errors[0], done.stderr
    else:
        assert errors == [], done.stderr
    assert done.returncode in ALLOWED, done.stderr
    assert took < LIMIT, f"{args[0]} took {took:.1f}s"
    return done.returncode, errors[0] if errors else "", took


def run_case(em: Emulator, site: Site, fault: Plan) -> Outcome:
    """push, two pulls and verify through a proxy damaging what ``fault`` picks."""
    out = Outcome()
    before_old = snapshot_bytes(site.old_target)
    with FaultProxy(em.address, fault) as proxy:
        commands = {
            "push": ("push", str(site.folder), "--env", "dev", "-m", "v2"),
            "pull-new": ("pull", str(site.new_target), "--env", "dev"),
            "pull-old": ("pull", str(site.old_target), "--env", "dev"),
            "verify": ("verify", "--read-data"),
        }
        for name, args in commands.items():
            log = site.folder.parent / f"{name}{LOG_SUFFIX}"
            out.codes[name], _, out.seconds[name] = through(em, proxy, site.url, log, *args)
        out.injected, out.requests = sum(proxy.injected.values()), proxy.requests
    check_store(site, out, before_old)
    return out


# --- the checks, read straight from the emulator -------------------------------------


def check_store(site: Site, out: Outcome, before_old: dict[str, Any]) -> None:
    with Store.open(site.url) as store:
        report = store.verify(None, read_data=True)
        assert report.ok, report.problems
        state = read_ref(store.repo, "dev")
        assert state is not None and state.ref.serial in (1, 2)
        if out.codes["push"] == 0:
            assert state.ref.serial == 2
        head = site.v2 if state.ref.serial == 2 else site.v1
        check = site.new_target.parent / "check"
        store.pull(check, "dev")
        assert tree(check) == head
    for name, target in (("pull-new", site.new_target), ("pull-old", site.old_target)):
        if out.codes[name] == 0:
            assert tree(target) in (site.v1, site.v2), f"{name}: not a snapshot"
        elif name == "pull-new":
            assert not target.exists(), "a failed pull left a half-made target"
        else:
            assert snapshot_bytes(target) == before_old, "a failed pull touched its target"
    for target in (site.new_target, site.old_target):
        beside = {p.name for p in target.parent.iterdir()} - {"target", "check"}
        assert beside == set(), f"written beside the target: {beside}"


def record(tmp_path_factory: pytest.TempPathFactory, line: str) -> None:
    """One line of figures into the session report (printed at the end of the run)."""
    path = tmp_path_factory.getbasetemp() / "report-network-faults.txt"
    with path.open("a") as fh:
        fh.write(line + "\n")


def summary(cloud: str, kind: str, seed: int, out: Outcome) -> str:
    codes = " ".join(f"{k}={v}" for k, v in out.codes.items())
    took = sum(out.seconds.values())
    return (
        f"network faults {cloud:5} {kind:11} seed {seed}: {out.injected}/{out.requests} "
        f"requests damaged; {codes}; {took:.1f}s"
    )


def _case(
    cloud: str,
    kind: str,
    seed: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    em = _needs(cloud)
    site = prepare(em, tmp_path, monkeypatch)
    out = run_case(em, site, plan(kind, cloud, seed))
    record(tmp_path_factory, summary(cloud, kind, seed, out))
    assert out.injected, "no request was damaged: the case proved nothing"


@pytest.mark.parametrize(("cloud", "kind", "seed"), DEFAULT)
def test_commands_survive_or_fail_cleanly(
    cloud: str,
    kind: str,
    seed: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _case(cloud, kind, seed, tmp_path, monkeypatch, tmp_path_factory)


@pytest.mark.long
@pytest.mark.parametrize(("cloud", "kind", "seed"), FULL)
def test_full_matrix(
    cloud: str,
    kind: str,
    seed: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _case(cloud, kind, seed, tmp_path, monkeypatch, tmp_path_factory)


def _storm(cloud: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> float:
    """Every request answered 503: push fails with exit 1 in the budget, writing nothing."""
    em = _needs(cloud)
    site = prepare(em, tmp_path, monkeypatch)
    with Store.open(site.url) as store:
        before = {m.key: m.version for m in store.repo.backend.list("")}
    with FaultProxy(em.address, plan("status-503", cloud, rate=1.0)) as proxy:
        log = tmp_path / f"storm{LOG_SUFFIX}"
        code, err, took = through(
            em, proxy, site.url, log, "push", str(site.folder), "--env", "dev"
        )
    assert code == 1 and "budget" in err, err
    # one call's budget, its last attempt, and the CLI's start-up
    assert took < BUDGET + 2 * TIMEOUT + 10, took
    with Store.open(site.url) as store:
        assert {m.key: m.version for m in store.repo.backend.list("")} == before
    shutil.rmtree(site.folder)
    return took


def test_a_503_storm_fails_push_in_the_budget_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _storm("s3", tmp_path, monkeypatch)


@pytest.mark.long
@pytest.mark.parametrize("cloud", ["azure", "gcs"])
def test_a_503_storm_on_each_cloud(
    cloud: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _storm(cloud, tmp_path, monkeypatch)
