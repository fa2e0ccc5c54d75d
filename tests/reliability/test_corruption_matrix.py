"""Issue 18, corruption: every object kind x every damage, through the real CLI.

One seeded store (local; moto S3 in the long run) holds two environments:
``plain`` (three snapshots, a tag) and ``secret`` (``--include-secrets
--encrypt all``, two key generations, two snapshots), a live lease on each, a
gc marker and a promotion rule. Each case copies the store (and the machine's
own state: pins, seen serials, signing key), damages ONE object of one kind in
one way (a seeded choice of object, offset and length), then runs:

1. ``verify --read-data --json``: the exit code, and the damaged objects it
   names (exactly the expected keys, no false positives) with the envs that
   depend on them;
2. ``pull`` of every environment into a fresh folder beside a sentinel file:
   a damaged env exits with its documented code in one line and leaves no
   target and nothing beside it; an undamaged env pulls its tree exactly;
3. ``repair --read-data`` where the kind is repairable, then verify and pull
   again: what can be restored is restored.

The expected outcome per (kind, damage) is the table :data:`EXPECTED`; each
row that differs from "damage is exit 4 and named" says why.
The default run takes a seeded handful of cases; ``STATESYNC_LONG=1`` runs
the whole matrix, locally and on S3.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statesync.backends import open_backend
from tests.helpers import tree, write

KINDS = (
    "descriptor",
    "pack",
    "index",
    "manifest",
    "ref",
    "keyring",
    "lease",
    "gc_marker",
    "promotion_rule",
)
DAMAGES = ("flip", "truncate", "swap", "duplicate", "delete")
ENVS = ("plain", "secret")
SEED = 18


@dataclass(frozen=True)
class Outcome:
    """What a (kind, damage) case must show.

    ``verify``: its exit code; ``named``: must verify name the damaged key(s)
    (False: the damage is harmless or invisible to verify, see ``why``);
    ``pull``: env -> exit code of a pull into a fresh folder (0: its tree,
    exactly); ``repair``: whether ``repair --read-data`` runs (exit ``repair``)
    and ``after``: env -> pull exit code after it; ``verify_after`` its verify.
    """

    verify: int
    named: bool
    pull: dict[str, int]
    why: str = ""
    repair: int | None = None
    verify_after: int | None = None
    after: dict[str, int] = field(default_factory=dict)


def _both(code: int) -> dict[str, int]:
    return dict.fromkeys(ENVS, code)


OK = _both(0)


def _only(env: str, code: int) -> dict[str, int]:
    return {e: (code if e == env else 0) for e in ENVS}


# ---- the seeded store ---------------------------------------------------------------


@dataclass
class Seed:
    """The template store, the machine state beside it, and what each env must pull to.

    ``owner``: store key -> the env whose push (or command) wrote it; ``heads``:
    env -> its head snapshot id.
    """

    root: Path
    url: str
    identity: str
    trees: dict[str, dict[str, tuple[str, int]]]
    owner: dict[str, str] = field(default_factory=dict)
    heads: dict[str, str] = field(default_factory=dict)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess (the caller's XDG folders, unless ``env`` says others)."""
    return subprocess.run(
        [sys.executable, "-m", "statesync.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    return proc


def _xdg(root: Path) -> dict[str, str]:
    return {
        f"XDG_{k}_HOME": str(root / f"xdg-{k.lower()}")
        for k in ("CACHE", "DATA", "CONFIG", "STATE")
    }


def build_seed(root: Path, url: str) -> Seed:
    """Init, two envs (one plain, one sealed with two key generations), leases, gc, rule."""
    xdg = _xdg(root)
    key = root / "k.key"
    _ok(cli("keys", "keyfile", "new", str(key), env=xdg))
    ident = f"keyfile:{key}"

    backend = open_backend(url)
    owner: dict[str, str] = {}

    def run(*args: str, env: str = "") -> None:
        before = {m.key for m in backend.list("")}
        _ok(cli("--store", url, "--identity", ident, *args, env=xdg))
        owner.update((m.key, env) for m in backend.list("") if m.key not in before)

    run("init")
    run("keys", "init", "secret", "--recipient", ident, env="secret")
    rng = random.Random(SEED)
    plain, secret = root / "src-plain", root / "src-secret"
    write(plain, "big.bin", rng.randbytes(300_000))
    for v in (1, 2, 3):
        write(plain, "state.json", {"v": v, "items": list(range(v * 10))})
        write(plain, f"logs/run-{v}.log", f"run {v}\n" * 50)
        tag = ["--tag", "r=1"] if v == 3 else []
        run("push", str(plain), "--env", "plain", "-m", f"v{v}", *tag, env="plain")
    write(secret, "small.bin", rng.randbytes(6_000))
    for v in (1, 2):
        write(secret, "cfg.json", {"password": f"hunter-{v}", "v": v})
        write(secret, "secrets/token", f"tok-{v}-{rng.random()}\n")
        run(
            "push",
            str(secret),
            "--env",
            "secret",
            "--include-secrets",
            "--encrypt",
            "all",
            env="secret",
        )
        if v == 1:
            run("keys", "rotate", "secret", env="secret")
    run("promotion", "allow", "plain->secret")
    run("gc", "--keep-last", "10")
    for env in ENVS:
        run("lock", env, "--ttl", "2h", env=env)
    trees, heads = {}, {}
    for env in ENVS:
        out = root / f"check-{env}"
        pulled = json.loads(
            _ok(
                cli(
                    "--store",
                    url,
                    "--identity",
                    ident,
                    "--json",
                    "pull",
                    str(out),
                    "--env",
                    env,
                    env=xdg,
                )
            ).stdout
        )
        trees[env], heads[env] = tree(out), pulled["snapshot"]
    for env, src in (("plain", plain), ("secret", secret)):  # modes: a secret document is 0600
        assert {p: h for p, (h, _) in trees[env].items()} == {
            p: h for p, (h, _) in tree(src).items()
        }
    backend.close()
    return Seed(root, url, ident, trees, owner, heads)


# ---- the damage ---------------------------------------------------------------------


def kind_of(key: str) -> str | None:
    """The object kind of a store key (None: not one the matrix damages)."""
    if key == "statesync.json":
        return "descriptor"
    prefixes = {
        "objects/": "pack",
        "index/": "index",
        "snapshots/": "manifest",
        "refs/": "ref",
        "keys/": "keyring",
        "locks/": "lease",
        "gc/": "gc_marker",
        "policy/promotion": "promotion_rule",
    }
    if key.startswith("locks/_"):
        return None  # clock probes and the gc lease live only while a command runs
    return next((k for p, k in prefixes.items() if key.startswith(p)), None)


@dataclass(frozen=True)
class Damaged:
    """What a case did: the keys it damaged (``keys``) and the keys it added (``added``)."""

    keys: tuple[str, ...]
    added: tuple[str, ...] = ()


def _other_name(key: str, rng: random.Random) -> str:
    """Another valid name of the same kind as ``key``."""
    fresh = rng.randbytes(32).hex()
    kind = kind_of(key)
    if kind == "pack":
        return f"objects/{fresh[:2]}/{fresh}"
    if kind in ("index", "manifest"):
        return key.rsplit("/", 1)[0] + "/" + fresh
    if kind in ("ref", "lease"):
        return key.rsplit("/", 1)[0] + "/copy"
    if kind == "keyring":
        return key.rsplit("/", 1)[0] + "/gen-3.json"
    return key + ".copy"  # descriptor, gc marker, rule: one of a kind, a stray name beside it


def damage(backend: Any, kind: str, how: str, rng: random.Random) -> Damaged | None:
    """Damage one seeded object of ``kind`` in the way ``how``; None if the case cannot be made."""
    keys = sorted(m.key for m in backend.list("") if kind_of(m.key) == kind)
    assert keys, f"the seed holds no {kind}"
    key = rng.choice(keys)
    body = backend.get(key)[0]
    if how == "flip":
        at = rng.randrange(len(body))
        backend.put(key, body[:at] + bytes([body[at] ^ rng.randrange(1, 256)]) + body[at + 1 :])
    elif how == "truncate":
        backend.put(key, body[: rng.randrange(len(body))])
    elif how == "delete":
        backend.delete(key)
    elif how == "duplicate":
        twin = _other_name(key, rng)
        backend.put(twin, body)
        return Damaged((), (twin,))
    else:  # swap
        others = [k for k in keys if k != key and backend.get(k)[0] != body]
        if not others:
            return None
        other = rng.choice(others)
        other_body = backend.get(other)[0]
        backend.put(key, other_body)
        backend.put(other, body)
        return Damaged(tuple(sorted((key, other))))
    return Damaged((key,))


# ---- one case -----------------------------------------------------------------------


@dataclass
class Seen:
    """What the commands of one case showed."""

    verify: int
    named: dict[str, tuple[str, ...]]  # damaged object -> envs verify says depend on it
    snapshots: dict[str, tuple[str, ...]]  # damaged object -> snapshots named
    pull: dict[str, int]
    repair: int | None = None
    verify_after: int | None = None
    named_after: dict[str, tuple[str, ...]] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)


def one_line(proc: subprocess.CompletedProcess[str], strict: bool = False) -> None:
    """A failed command ends in one ``statesync: error:`` line; never a traceback.

    ``strict`` (pull): that line is all of stderr. Otherwise (verify, repair)
    the report's own ``statesync:`` lines (integrity, warnings) may come first.
    """
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    if proc.returncode:
        assert lines and lines[-1].startswith("statesync: error: "), proc.stderr
    assert all(ln.startswith("statesync: ") for ln in lines), proc.stderr
    if strict and proc.returncode:
        assert len(lines) == 1, proc.stderr
    elif strict:  # a pull that succeeds may warn (a damaged index it could do without)
        assert all(ln.startswith("statesync: WARNING: ") for ln in lines), proc.stderr


def _verify(run: Callable[..., subprocess.CompletedProcess[str]]) -> tuple[int, dict[str, Any]]:
    proc = run("--json", "verify", "--read-data")
    one_line(proc)
    assert proc.returncode in (0, 1, 4), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _named(report: dict[str, Any]) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    damaged = report.get("damaged", [])
    return (
        {d["object"]: tuple(d.get("envs", ())) for d in damaged},
        {d["object"]: tuple(d.get("snapshots", ())) for d in damaged},
    )


def pull_all(
    run: Callable[..., subprocess.CompletedProcess[str]], seed: Seed, where: Path
) -> dict[str, int]:
    """Pull each env into a fresh folder beside a sentinel; check the target and its parent."""
    codes = {}
    for env in ENVS:
        parent = where / env
        parent.mkdir(parents=True)
        sentinel = write(parent, "sentinel.txt", f"sentinel {env}\n")
        target = parent / "target"
        proc = run("-q", "pull", str(target), "--env", env)
        one_line(proc, strict=True)
        codes[env] = proc.returncode
        assert sentinel.read_text() == f"sentinel {env}\n"
        if proc.returncode == 0:
            assert tree(target) == seed.trees[env], f"{env} pulled a tree that is not its head"
            assert sorted(p.name for p in parent.iterdir()) == ["sentinel.txt", "target"]
        else:
            assert sorted(p.name for p in parent.iterdir()) == ["sentinel.txt"], proc.stderr
    return codes


def run_case(
    seed: Seed, url: str, tmp: Path, kind: str, how: str, rng: random.Random
) -> tuple[Damaged, Seen] | None:
    """Copy the seed to ``url``, damage it, and run verify, pull, repair, verify, pull."""
    copy_store(seed.url, url)
    for part, dest in _xdg(tmp).items():
        if Path(mine := _xdg(seed.root)[part]).is_dir():
            shutil.copytree(mine, dest, dirs_exist_ok=True)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return cli("--store", url, "--identity", seed.identity, *args)

    backend = open_backend(url)
    try:
        done = damage(backend, kind, how, rng)
    finally:
        backend.close()
    if done is None:
        return None
    code, report = _verify(run)
    named, snaps = _named(report)
    seen = Seen(code, named, snaps, pull_all(run, seed, tmp / "pull-1"))
    if EXPECTED[(kind, how)].repair is not None:
        proc = run("--json", "repair", "--read-data")
        one_line(proc)
        seen.repair = proc.returncode
        seen.verify_after, report = _verify(run)
        seen.named_after = _named(report)[0]
        seen.after = pull_all(run, seed, tmp / "pull-2")
    return done, seen


def copy_store(src: str, dest: str) -> None:
    """Every object of the store at ``src`` into the empty store at ``dest``."""
    if src.startswith("file:"):
        shutil.copytree(Path(src.removeprefix("file://")), Path(dest.removeprefix("file://")))
        return
    a, b = open_backend(src), open_backend(dest)
    try:
        for meta in a.list(""):
            b.put(meta.key, a.get(meta.key)[0])
    finally:
        a.close()
        b.close()


EXPECTED: dict[tuple[str, str], Outcome] = {}
