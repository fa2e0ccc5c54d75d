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
3. ``repair --read-data`` (unless the damage is harmless), then verify and pull
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

import pytest

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
    """What a (kind, damage) case must show, and why where it is not "exit 4, named".

    ``verify``: its exit code. ``named``: what verify names --
    ``exact`` the damaged keys, each with (a subset of) the envs owning it, and
    no other store object; ``added`` exactly the stray copy; ``chunks`` only
    the chunks a deleted index located (an absent index cannot be named);
    ``none`` nothing; ``maybe`` ``exact`` or ``none`` (a flip can leave a
    well-formed record that nothing can tell from the original); ``error``
    verify stops as a whole with one line naming ``says``.
    ``hit``: which envs the damage stops -- ``owner`` (of the damaged keys),
    ``head`` (owner, only if the damaged manifest is its head), ``all``,
    ``none``, ``some`` (owner, or its tree if its head needs no damaged
    generation: which chunks a later key generation re-uses varies per seed
    build); those pull with exit ``pull``, the others pull their tree.
    ``repair``: exit of ``repair --read-data`` (None: not run); then hit envs
    pull with ``after``. ``sealed``: (repair, after) instead when a damaged
    key belongs to the sealed env.
    """

    verify: int
    named: str
    hit: str
    pull: int
    repair: int | None
    after: int
    why: str = ""
    says: str = ""
    sealed: tuple[int, int] | None = None
    may_heal: bool = False  # after repair a hit env may pull its tree: another copy was found


N_A = None  # a case that cannot be made: one object of its kind, nothing to swap with
_LOST = "nothing in the store holds a second copy: repair says what is lost (exit 4)"
#: Which pack the seeded choice damages depends on how the seed's packs split (S3: other splits).
_OLD = "; a pack only older snapshots need does not stop a pull of the head (exact tree)"
_HEAL = (
    "; repair drops the lost index rows, so a chunk also stored in another pack (the sealed "
    "env re-uploads under a new key generation) reads from there: after it may pull"
)
EXPECTED: dict[tuple[str, str], Outcome | None] = {
    # descriptor: one of a kind, read first by every command.
    ("descriptor", "flip"): Outcome(4, "error", "all", 4, 4, 4, _LOST, says="statesync.json"),
    ("descriptor", "truncate"): Outcome(4, "error", "all", 4, 4, 4, _LOST, says="statesync.json"),
    ("descriptor", "swap"): N_A,
    ("descriptor", "duplicate"): Outcome(0, "none", "none", 0, None, 0, "a stray name"),
    ("descriptor", "delete"): Outcome(
        1,
        "error",
        "all",
        1,
        1,
        1,
        "no descriptor: not a store (exit 1, as a wrong URL)",
        says="no statesync store",
    ),
    # packs: content-addressed; a read checks the pack id and every chunk.
    ("pack", "flip"): Outcome(
        4,
        "exact",
        "some",
        4,
        4,
        4,
        _LOST + "; intact chunks salvaged" + _HEAL + _OLD,
        may_heal=True,
    ),
    ("pack", "truncate"): Outcome(4, "exact", "some", 4, 4, 4, _LOST + _HEAL + _OLD, may_heal=True),
    ("pack", "swap"): Outcome(4, "exact", "some", 4, 4, 4, _LOST + _HEAL + _OLD, may_heal=True),
    ("pack", "duplicate"): Outcome(
        0, "none", "none", 0, None, 0, "harmless: no index names it, gc removes it"
    ),
    ("pack", "delete"): Outcome(4, "exact", "some", 4, 4, 4, _LOST + _HEAL + _OLD, may_heal=True),
    # indexes: redundant with the packs (plain packs can be rescanned; sealed ones cannot).
    ("index", "flip"): Outcome(
        4,
        "exact",
        "none",
        0,
        0,
        0,
        "pull rescans plain packs; this machine's cache holds the sealed index",
        sealed=(4, 4),
        may_heal=True,
    ),
    ("index", "truncate"): Outcome(
        4,
        "exact",
        "none",
        0,
        0,
        0,
        "as flip; repair rebuilds a plain index",
        sealed=(4, 4),
        may_heal=True,
    ),
    ("index", "swap"): Outcome(
        4, "exact", "none", 0, 0, 0, "as flip", sealed=(4, 4), may_heal=True
    ),
    ("index", "duplicate"): Outcome(
        4, "added", "none", 0, 0, 0, "its name does not match its content: repair removes it"
    ),
    ("index", "delete"): Outcome(
        4,
        "chunks",
        "owner",
        0,
        0,
        0,
        "pull and repair rescan plain packs; a sealed pack cannot be rescanned: its chunks "
        "are lost until a push uploads them again",
        sealed=(4, 4),
        may_heal=True,
    ),
    # manifests: id = SHA-256 of the stored body; only the head stops a pull.
    ("manifest", "flip"): Outcome(4, "exact", "head", 4, 4, 4, _LOST),
    ("manifest", "truncate"): Outcome(4, "exact", "head", 4, 4, 4, _LOST),
    ("manifest", "swap"): Outcome(4, "exact", "head", 4, 4, 4, _LOST),
    ("manifest", "duplicate"): Outcome(
        0, "none", "none", 0, None, 0, "harmless: no history names it, gc removes it"
    ),
    ("manifest", "delete"): Outcome(4, "exact", "head", 4, 4, 4, _LOST),
    # refs: the one mutable pointer per env, signed and bound to its env and store.
    ("ref", "flip"): Outcome(4, "exact", "owner", 4, 4, 4, "push --force or rollback replaces it"),
    ("ref", "truncate"): Outcome(4, "exact", "owner", 4, 4, 4, "as flip"),
    ("ref", "swap"): Outcome(4, "exact", "owner", 4, 4, 4, "a ref names its env: moved"),
    ("ref", "duplicate"): Outcome(4, "added", "none", 0, 4, 0, "refs/copy names another env"),
    ("ref", "delete"): Outcome(
        4, "exact", "owner", 4, 4, 4, "this machine has seen its serial: a rollback"
    ),
    # keyrings: signed, bound to store, env and generation; no second copy.
    ("keyring", "flip"): Outcome(4, "exact", "some", 4, 4, 4, _LOST),
    ("keyring", "truncate"): Outcome(4, "exact", "some", 4, 4, 4, _LOST),
    ("keyring", "swap"): Outcome(4, "exact", "some", 4, 4, 4, "bound to its generation"),
    ("keyring", "duplicate"): Outcome(
        4, "added", "none", 0, 4, 0, "gen-3 holds generation 2: moved or replayed"
    ),
    ("keyring", "delete"): Outcome(
        4, "exact", "some", 6, 4, 6, "the key is gone: pull is a key failure (exit 6)"
    ),
    # leases: guard work, not data; pull takes none. lock --force replaces a malformed one.
    ("lease", "flip"): Outcome(
        4, "maybe", "none", 0, 4, 0, "a lease has no checksum: a flip may leave one well-formed"
    ),
    ("lease", "truncate"): Outcome(4, "exact", "none", 0, 4, 0, "lock --force replaces it"),
    ("lease", "swap"): Outcome(0, "none", "none", 0, None, 0, "a lease names no env: harmless"),
    ("lease", "duplicate"): Outcome(0, "none", "none", 0, None, 0, "a lease of env copy"),
    ("lease", "delete"): Outcome(0, "none", "none", 0, None, 0, "a lease may end at any time"),
    # the gc marker: generation, condemned packs, history cuts.
    ("gc_marker", "flip"): Outcome(4, "exact", "none", 0, 4, 0, "the next gc rewrites it"),
    ("gc_marker", "truncate"): Outcome(4, "exact", "none", 0, 4, 0, "as flip"),
    ("gc_marker", "swap"): N_A,
    ("gc_marker", "duplicate"): Outcome(0, "none", "none", 0, None, 0, "a stray name"),
    ("gc_marker", "delete"): Outcome(
        0, "none", "none", 0, None, 0, "absent = generation 0; this seed has no history cuts"
    ),
    # the promotion rule: checked by promote only.
    ("promotion_rule", "flip"): Outcome(4, "exact", "none", 0, 4, 0, "promotion allow rewrites it"),
    ("promotion_rule", "truncate"): Outcome(4, "exact", "none", 0, 4, 0, "as flip"),
    ("promotion_rule", "swap"): N_A,
    ("promotion_rule", "duplicate"): Outcome(0, "none", "none", 0, None, 0, "a stray name"),
    ("promotion_rule", "delete"): Outcome(
        0, "none", "none", 0, None, 0, "no rule: every promotion allowed (its documented default)"
    ),
}
assert set(EXPECTED) == {(k, d) for k in KINDS for d in DAMAGES}


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
    expected = EXPECTED[(kind, how)]
    if expected is not None and expected.repair is not None:
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


# ---- the verdict ----------------------------------------------------------------------


def _hit(seed: Seed, done: Damaged, hit: str) -> set[str]:
    """The envs a case's damage must stop (see :class:`Outcome`)."""
    owners = {seed.owner.get(k, "") for k in done.keys} & set(ENVS)
    if hit in ("owner", "some"):
        return owners
    if hit == "head":
        return {e for e in ENVS if f"snapshots/{seed.heads[e]}" in done.keys}
    return set(ENVS) if hit == "all" else set()


def judge(seed: Seed, kind: str, how: str, done: Damaged, seen: Seen) -> None:
    """Assert what :data:`EXPECTED` says for the case (``done``, ``seen``: what it did and saw)."""
    want = EXPECTED[(kind, how)]
    assert want is not None
    named = set(seen.named)
    keys = {k for k in named if not k.startswith("chunk ")}
    mode = want.named
    if mode == "maybe":
        mode = "none" if seen.verify == 0 else "exact"
    assert seen.verify == (0 if mode == "none" else want.verify), seen
    if mode == "exact":
        assert keys == set(done.keys), f"named {sorted(named)}, damaged {done.keys}"
        assert kind == "index" or named == keys, named
        for key in keys:
            owner = {seed.owner.get(key, "")} & set(ENVS)
            assert set(seen.named[key]) <= owner, (key, seen.named[key])
            if kind in ("pack", "ref", "keyring", "lease"):
                assert set(seen.named[key]) == owner, (key, seen.named[key])
    elif mode == "added":
        assert named == set(done.added), named
    elif mode == "chunks":
        owners = {seed.owner.get(k, "") for k in done.keys}
        assert named and not keys, named
        assert all(set(envs) <= owners for envs in seen.named.values()), seen.named
    elif mode == "none":
        assert not named, named
    hit = _hit(seed, done, want.hit)
    some = {e for e in hit if want.hit == "some" and seen.pull[e] == 0}  # head did not need it
    assert seen.pull == {e: (want.pull if e in hit - some else 0) for e in ENVS}, seen
    if want.repair is None:
        return
    repair, after = want.repair, want.after
    sealed = {seed.owner.get(k) for k in done.keys} & {"secret"}
    if want.sealed and sealed:
        repair, after = want.sealed
        hit = {"secret"}
    elif want.sealed:
        hit = set()
    if mode == "none":
        repair = 0
    assert seen.repair == repair, seen
    assert seen.verify_after == (0 if repair == 0 else seen.verify), seen
    some = {e for e in hit if (want.hit == "some" or want.may_heal) and seen.after[e] == 0}
    assert seen.after == {e: (after if e in hit - some else 0) for e in ENVS}, seen


CASES = [(k, d) for k in KINDS for d in DAMAGES if EXPECTED[(k, d)] is not None]
#: The default run: a seeded handful (the full matrix is behind STATESYNC_LONG=1).
DEFAULT = sorted(random.Random(SEED).sample(CASES, 3))


@pytest.fixture(scope="module")
def local_seed(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    root = tmp_path_factory.mktemp("seed")
    return build_seed(root, (root / "store").as_uri())


def _check(seed: Seed, url: str, tmp: Path, kind: str, how: str) -> None:
    rng = random.Random(f"{SEED}-{kind}-{how}")
    result = run_case(seed, url, tmp, kind, how, rng)
    assert result is not None, "the seed must hold two objects of every swappable kind"
    judge(seed, kind, how, *result)


@pytest.mark.parametrize(("kind", "how"), DEFAULT, ids=[f"{k}-{d}" for k, d in DEFAULT])
def test_corruption_case(local_seed: Seed, tmp_path: Path, kind: str, how: str) -> None:
    _check(local_seed, (tmp_path / "store").as_uri(), tmp_path, kind, how)


LONG = [c for c in CASES if c not in DEFAULT]


@pytest.mark.long
@pytest.mark.parametrize(("kind", "how"), LONG, ids=[f"{k}-{d}" for k, d in LONG])
def test_corruption_matrix_local(local_seed: Seed, tmp_path: Path, kind: str, how: str) -> None:
    _check(local_seed, (tmp_path / "store").as_uri(), tmp_path, kind, how)


@pytest.fixture(scope="module")
def s3_seed(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    from tests.rigs import RIGS

    if "s3" not in RIGS or (url := RIGS["s3"](tmp_path_factory.mktemp("s3"))) is None:
        pytest.skip("the S3 emulator is not running (source /tmp/emu/env)")
    return build_seed(tmp_path_factory.mktemp("seed-s3"), url)


@pytest.mark.long
@pytest.mark.parametrize(("kind", "how"), CASES, ids=[f"{k}-{d}" for k, d in CASES])
def test_corruption_matrix_s3(s3_seed: Seed, tmp_path: Path, kind: str, how: str) -> None:
    from tests.rigs import RIGS

    url = RIGS["s3"](tmp_path)
    assert url is not None
    _check(s3_seed, url, tmp_path, kind, how)
