"""The crash harness shared by the crash trials (issue 18 "Crash consistency").

* :class:`CrashAt` wraps a backend and "kills" the process (a ``BaseException``
  no code path may handle) at its n-th write, before or right after it lands.
* :func:`popen` / :func:`kill_after` / :func:`delay` run the real CLI and
  SIGKILL it at a seeded random moment.
* :func:`content` / :func:`snapshot_bytes` compare trees; :func:`make_folder`
  builds a folder of every kind of entry.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from statesync.api import Store
from statesync.backends.base import OVERWRITE, Backend, Meta, PutData, PutMode, Version
from statesync.sync.store import layout
from statesync.sync.store import packs as packer
from statesync.sync.store import repo as repo_mod
from statesync.sync.store.refs import read_ref
from tests.helpers import tree, write
from tests.leakscan import planted
from tests.rigs import RIGS

LONG = os.environ.get("STATESYNC_LONG") == "1"
TRIALS = 50 if LONG else 3


def trials(url: str) -> int:
    """A handful by default (fewer on S3, where each costs more); 50 in the long run."""
    return TRIALS if LONG or not url.startswith("s3:") else 2


SEED = int(os.environ.get("STATESYNC_CRASH_SEED", "20261201"))
#: A small pack size, so that one push writes several packs between its other writes.
PACK = 96 * 1024


@pytest.fixture(params=["local", "s3"])
def url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh store URL on the local store or moto S3 (skipped without the emulator)."""
    made = RIGS[request.param](tmp_path) if request.param in RIGS else None
    if made is None:
        pytest.skip(f"{request.param} emulator not started (source /tmp/emu/env)")
    monkeypatch.setattr(repo_mod, "DEFAULT_PACK_SIZE", PACK)  # read by init_repo
    return made


@pytest.fixture
def one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """One pack worker: packs fill in one order, so every push makes the same writes."""
    original = packer.PackUploader.__init__

    def init(self: packer.PackUploader, repo: Any, workers: int = 4, **kw: Any) -> None:
        original(self, repo, 1, **kw)

    monkeypatch.setattr(packer.PackUploader, "__init__", init)


# --- folders ----------------------------------------------------------------------


def make_folder(root: Path, rng: random.Random, files: int = 200) -> Path:
    """~``files`` files: JSON with passwords, text, binaries, a virtualenv with outside links."""
    for i in range(files - 12):
        kind = i % 4
        if kind == 0:
            secret = planted(f"pw-{i}-{rng.random()}")
            write(
                root,
                f"config/svc{i}.json",
                {"name": f"svc{i}", "port": 8000 + i, "db": {"password": secret}},
            )
        elif kind == 1:
            write(root, f"tasks/t{i}.json", {"id": i, "done": bool(i % 3)})
        elif kind == 2:
            write(
                root, f"logs/day{i}.log", "".join(f"line {j} {rng.random()}\n" for j in range(20))
            )
        else:
            write(root, f"bin/blob{i}.bin", rng.randbytes(rng.randrange(1, 12_000)))
    write(root, "data/big.bin", rng.randbytes(400_000))  # several packs of PACK bytes
    venv = root / ".venv"
    write(venv, "pyvenv.cfg", "home = /usr/bin\n")
    write(venv, "lib/python3/site-packages/mod.py", "X = 1\n")
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    os.symlink("/usr/bin/python3", venv / "bin" / "python")
    os.symlink("python", venv / "bin" / "python3")
    os.symlink("lib", venv / "lib64")
    os.symlink("/nonexistent/dangling", root / "dangling")
    os.symlink("../../outside-dir", root / "elsewhere")
    os.symlink("../sentinel", root / "peer")  # beside a pull target: the sentinel folder
    return root


def change_folder(root: Path, rng: random.Random) -> None:
    """A second version: edits, an addition, a deletion, new binary data."""
    write(root, "config/svc0.json", {"name": "svc0", "port": 1, "db": {"password": "new"}})
    write(root, "tasks/t1.json", {"id": 1, "done": True, "note": rng.random()})
    write(root, "data/new.bin", rng.randbytes(250_000))
    (root / "logs" / "day2.log").unlink()


def _strip_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: None if k == "password" else _strip_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secrets(v) for v in value]
    return value


def content(root: Path) -> dict[str, Any]:
    """tree() of ``root``; JSON documents compared without their (local-only) secrets."""
    out: dict[str, Any] = dict(tree(root))
    for rel, (digest, mode) in list(out.items()):
        path = root / rel
        if rel.endswith(".json") and not digest.startswith("->"):
            doc = json.loads(path.read_bytes())
            stripped = _strip_secrets(doc)
            # a pulled file whose secret stayed behind is written 0600 by design
            out[rel] = (stripped, None if stripped != doc else mode)
    return out


def snapshot_bytes(root: Path) -> dict[str, Any]:
    """Every entry under ``root``, byte for byte (files, links, folders, modes)."""
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", st.st_mode)
            else:
                out[rel] = ("file", st.st_mode, st.st_mtime_ns, p.read_bytes())
    return out


# --- the crashing backend ---------------------------------------------------------


class Crash(BaseException):
    """The process dies here: not an error any code path may catch and handle."""


class CrashAt(Backend):
    """Counts ``put`` calls; at the ``at``-th one the process "dies".

    ``after``: the put lands first and the crash follows it (the write
    returned, the process died before using its answer). Once dead, every
    call from any thread dies too, as nothing of a killed process runs on.
    ``deletes``: a ``delete`` counts as a write too (recorded as ``"delete:KEY"``),
    for the operations (gc) whose writes are mostly removals.
    """

    def __init__(
        self, inner: Backend, at: int | None = None, after: bool = False, deletes: bool = False
    ) -> None:
        self.inner = inner
        self.deletes = deletes
        self.url = inner.url
        self.at = at
        self.after = after
        self.puts: list[str] = []
        self.dead = False
        self._lock = threading.Lock()

    def _alive(self) -> None:
        if self.dead:
            raise Crash("dead")

    def get(self, key: str) -> tuple[bytes, Version]:
        self._alive()
        return self.inner.get(key)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        self._alive()
        return self.inner.get_range(key, start, length)

    def open_read(self, key: str) -> BinaryIO:
        self._alive()
        return self.inner.open_read(key)

    def head(self, key: str) -> Meta:
        self._alive()
        return self.inner.head(key)

    def _count(self, key: str) -> int:
        """Record one write; die here if it is the ``at``-th and ``after`` is off."""
        with self._lock:
            self._alive()
            self.puts.append(key)
            n = len(self.puts)
            if n == self.at and not self.after:
                self.dead = True
                raise Crash(f"killed before write {n} ({key})")
        return n

    def put(self, key: str, data: PutData, mode: PutMode = OVERWRITE) -> Version:
        n = self._count(key)
        version = self.inner.put(key, data, mode)
        if n == self.at and self.after:
            self.dead = True
            raise Crash(f"killed after put {n} ({key})")
        self._alive()
        return version

    def delete(self, key: str, expected: Version | None = None) -> None:
        if not self.deletes:
            self._alive()
            self.inner.delete(key, expected)
            return
        n = self._count(f"delete:{key}")
        self.inner.delete(key, expected)
        if n == self.at and self.after:
            self.dead = True
            raise Crash(f"killed after delete {n} ({key})")
        self._alive()

    def list(self, prefix: str) -> Iterator[Meta]:
        self._alive()
        yield from self.inner.list(prefix)

    def close(self) -> None:
        pass  # the real backend is closed by its own Store


def serial(store: Store, env: str) -> int:
    """The env's serial (0: absent)."""
    state = read_ref(store.repo, env)
    return 0 if state is None else state.ref.serial


def kind(key: str) -> str:
    for prefix, name in (
        (layout.OBJECTS, "pack"),
        (layout.INDEX, "index"),
        ("snapshots/", "manifest"),
        ("refs/", "ref"),
    ):
        if key.startswith(prefix):
            return name
    return key


# --- the checks after a crash -----------------------------------------------------


def check_after_crash(
    url: str, work: Path, env: str, folder: Path, old: dict[str, Any] | None, old_serial: int
) -> None:
    """The store is consistent, every ref pulls, and a rerun of the push finishes."""
    new = content(folder)
    work.mkdir(parents=True, exist_ok=True)
    with Store.open(url) as store:  # a new process: nothing of the crashed one survives
        envs = store.envs()
        if old is None and env not in envs:
            pass  # the first push died before its ref: the env is still absent
        else:
            assert serial(store, env) in (old_serial, old_serial + 1)
        report = store.verify(None, read_data=True)
        assert report.ok, report.problems
        for name in envs:
            out = work / f"pull-{name}-{time.monotonic_ns()}"
            store.pull(out, name)
            got = content(out)
            assert got in ([old, new] if name == env else [got]), f"{name}: torn snapshot"
            if name == env:
                moved = serial(store, env) == old_serial + 1
                assert (got == new) == moved, "the serial and the files disagree"
    rerun(url, work, env, folder)


def rerun(url: str, work: Path, env: str, folder: Path) -> None:
    with Store.open(url) as store:
        store.push(folder, env, message="rerun")
        out = work / f"rerun-{time.monotonic_ns()}"
        store.pull(out, env)
        assert content(out) == content(folder)


def fresh(url: str, where: Path) -> str:
    """Another fresh store of the same kind as ``url``."""
    made = RIGS["s3" if url.startswith("s3:") else "local"](where)
    assert made is not None
    return made


def cli(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statesync.cli", "--store", url, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def popen(url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "statesync.cli", "--store", url, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def timed(url: str, *args: str) -> float:
    start = time.monotonic()
    done = cli(url, *args)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - start


def kill_after(proc: subprocess.Popen[bytes], delay: float) -> int | None:
    """SIGKILL ``proc`` after ``delay`` seconds (None: it had finished by then)."""
    try:
        return proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None


def delay(rng: random.Random, start: float, took: float, last: bool) -> float:
    """When to kill: any time from mid start-up to the end of a clean run.

    ``last``: no trial was killed yet, so this one is killed early for sure.
    """
    return start / 2 if last else rng.uniform(start / 2, max(start / 2, took))


def objects(store: Store) -> dict[str, Any]:
    return {m.key: (m.size, m.version) for m in store.repo.backend.list("")}
