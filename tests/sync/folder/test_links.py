"""Links: whatever push records every later command reads, and pull never writes through one.

Links are kept as links, their targets verbatim (a virtualenv's
``python -> /usr/bin/python3`` comes back as that link). A manifest that puts
an entry under a link is refused (exit 4) when it is read, and pull never
writes through a link, whether the manifest made it or the folder had it.
Each attack acts only through the store's bytes (no keys), and a sentinel
tree around the target proves that no byte outside the target changed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import zstandard

from statesync.api import Store
from statesync.errors import ConflictError, IntegrityError, StatesyncError
from statesync.sync.store import codec, layout
from statesync.sync.store.builder import SnapshotBuilder, symlink_entry
from statesync.sync.store.manifest import Entry, Manifest, load_manifest
from statesync.sync.store.refs import read_ref, write_ref
from tests.helpers import tree, write
from tests.rigs import RIGS

BACKENDS = ["local", "s3"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    url = RIGS[request.param](tmp_path) if request.param in RIGS else None
    if url is None:
        pytest.skip(f"{request.param} emulator not started (run scripts/test.sh)")
    return Store.init(url)


def make_venv(root: Path, outside: Path) -> Path:
    """A folder holding a virtualenv-like tree with every kind of link."""
    write(root, "app.json", {"name": "agent", "n": 1})
    write(root, ".venv/pyvenv.cfg", "home = /usr/bin\n")
    write(root, ".venv/lib/python3.12/site-packages/pkg/__init__.py", "X = 1\n")
    (root / ".venv/bin").mkdir()
    os.symlink("/usr/bin/python3", root / ".venv/bin/python")
    os.symlink("python", root / ".venv/bin/python3")
    os.symlink("lib", root / ".venv/lib64")
    os.symlink("../lib/python3.12/site-packages/pkg", root / ".venv/bin/pkg")
    os.symlink("no-such-file", root / "dangling")
    outside.mkdir(parents=True, exist_ok=True)
    write(outside, "kept.txt", "not ours\n")
    os.symlink(str(outside), root / "shared")  # absolute, to a directory outside
    os.symlink("../elsewhere-rel", root / "up")  # relative, escaping
    return root


def links(root: Path) -> dict[str, str]:
    return {p: v[0][2:] for p, v in tree(root).items() if v[0].startswith("->")}


EXPECTED_LINKS = {
    ".venv/bin/python": "/usr/bin/python3",
    ".venv/bin/python3": "python",
    ".venv/lib64": "lib",
    ".venv/bin/pkg": "../lib/python3.12/site-packages/pkg",
    "dangling": "no-such-file",
    "up": "../elsewhere-rel",
}


def sentinel(tmp_path: Path) -> tuple[Path, Path]:
    """A world of files around a target folder ``world/home/u/out`` (not yet created)."""
    world = tmp_path / "world"
    for rel in (
        ".bashrc",
        "home/.bashrc",
        "home/u/.bashrc",
        "elsewhere/app.log",
        "elsewhere/logs/app.log",
    ):
        write(world, rel, f"original {rel}\n")
    return world, world / "home" / "u" / "out"


def outside_of(world: Path, target: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``world`` except inside ``target``: must never change."""
    rel = os.path.relpath(target, world)
    return {
        p: v
        for p, v in tree(world, skip_record=False).items()
        if p != rel and not p.startswith(rel + "/")
    }


def plant(store: Store, entries: list[Entry], env: str = "dev") -> str:
    """Write a manifest and move ``env`` to it, as a store writer without keys can."""
    manifest = Manifest(store_id=store.store_id, env=env, parents=[], entries=entries)
    # ASCII-escaped JSON, so a planted target may even hold a lone surrogate.
    raw = json.dumps(manifest.to_json(), sort_keys=True, separators=(",", ":")).encode()
    body = zstandard.ZstdCompressor().compress(raw)
    snap_id = codec.sha256_hex(body)
    store.repo.backend.put(layout.snapshot_key(snap_id), body)
    write_ref(store.repo, env, snap_id, read_ref(store.repo, env))
    return snap_id


def file_entry(store: Store, path: str, data: bytes) -> Entry:
    builder = SnapshotBuilder(store.repo)
    entry = builder.add_bytes(path, data, 0o644)
    builder.finish()
    return entry


# --- push and every later command agree -------------------------------------------------


def test_a_venv_folder_round_trips_through_every_command(store: Store, tmp_path: Path) -> None:
    src = make_venv(tmp_path / "src", tmp_path / "outside")
    first = store.push(src, "dev", message="venv")
    assert first.files == len(tree(src))
    assert [e.snapshot for e in store.log("dev")] == [first.snapshot]
    shown = {e["path"]: e.get("target") for e in store.show("dev")["entries"]}
    assert shown[".venv/bin/python"] == "/usr/bin/python3"
    assert shown["shared"] == str(tmp_path / "outside")
    assert store.verify(read_data=True).ok
    out = tmp_path / "out"
    store.pull(out, "dev")
    assert tree(out) == tree(src)
    assert links(out) == {**EXPECTED_LINKS, "shared": str(tmp_path / "outside")}
    assert store.status(out, "dev").clean
    for suffix in (".json", ".tar.zst"):
        bundle = tmp_path / f"b{suffix}"
        store.export(bundle, env="dev", include_binaries=True)
        store.import_(bundle, f"imp{suffix[1:4]}")
        again = tmp_path / f"imp{suffix}"
        store.pull(again, f"imp{suffix[1:4]}")
        assert tree(again) == tree(src)
    write(src, "app.json", {"name": "agent", "n": 2})
    second = store.push(src, "dev")
    assert second.changed and second.serial == 2
    store.rollback("dev", first.snapshot)
    store.pull(out, "dev")
    assert links(out) == {**EXPECTED_LINKS, "shared": str(tmp_path / "outside")}
    forced = store.push(src, "dev", force=True)
    assert forced.serial == 4
    assert store.verify(read_data=True).ok
    assert (tmp_path / "outside" / "kept.txt").read_text() == "not ours\n"


def test_show_and_diff_name_link_targets(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "a.txt", "a")
    os.symlink("/usr/bin/python3", src / "py")
    first = store.push(src, "dev").snapshot
    (src / "py").unlink()
    os.symlink("/usr/bin/python3.12", src / "py")
    second = store.push(src, "dev").snapshot
    diff = store.diff(first, second)
    assert "py" in diff.modified


# --- a folder's own links are never written through ------------------------------------


def _snapshot_with_logs(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "state.json", {"a": 1})
    write(src, "logs/app.log", "from the snapshot\n")
    store.push(src, "dev")


def test_pull_refuses_to_write_through_a_local_link_to_outside(
    store: Store, tmp_path: Path
) -> None:
    _snapshot_with_logs(store, tmp_path)
    world, out = sentinel(tmp_path)
    out.mkdir()
    os.symlink("../../../elsewhere", out / "logs")
    before, inside = outside_of(world, out), tree(out)
    with pytest.raises(IntegrityError, match="logs") as err:
        store.pull(out, "dev")
    assert err.value.exit_code == 4
    assert outside_of(world, out) == before
    assert tree(out) == inside


def test_pull_force_replaces_the_local_link_and_writes_nothing_outside(
    store: Store, tmp_path: Path
) -> None:
    _snapshot_with_logs(store, tmp_path)
    world, out = sentinel(tmp_path)
    out.mkdir()
    os.symlink(str(world / "elsewhere"), out / "logs")
    before = outside_of(world, out)
    store.pull(out, "dev", force=True)
    assert outside_of(world, out) == before
    assert not (out / "logs").is_symlink()
    assert (out / "logs/app.log").read_text() == "from the snapshot\n"


def test_a_nested_local_link_is_never_followed(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "sub/logs/app.log", "from the snapshot\n")
    store.push(src, "dev")
    world, out = sentinel(tmp_path)
    (out / "sub").mkdir(parents=True)
    os.symlink(str(world / "elsewhere"), out / "sub/logs")
    before = outside_of(world, out)
    with pytest.raises(IntegrityError):
        store.pull(out, "dev")
    assert outside_of(world, out) == before


def test_a_pulled_link_to_outside_is_replaced_not_followed_by_the_next_snapshot(
    store: Store, tmp_path: Path
) -> None:
    world, out = sentinel(tmp_path)
    plant(store, [symlink_entry("z", "../..")])
    store.pull(out, "dev")
    assert os.readlink(out / "z") == "../.."
    plant(store, [file_entry(store, "z/.bashrc", b"evil\n")])
    before = outside_of(world, out)
    store.pull(out, "dev")
    assert outside_of(world, out) == before
    assert not (out / "z").is_symlink() and (out / "z/.bashrc").read_bytes() == b"evil\n"


# --- planted manifests: refused when read, nothing written anywhere --------------------


def _chain(store: Store) -> list[Entry]:
    return [symlink_entry("x", "."), symlink_entry("x/y", "."), symlink_entry("x/y/z", "../..")]


def _sibling(store: Store) -> list[Entry]:
    return [
        symlink_entry("a", "b"),
        symlink_entry("b", ".."),
        file_entry(store, "a/.bashrc", b"evil\n"),
    ]


def _absolute(store: Store) -> list[Entry]:
    return [symlink_entry("abs", "/"), file_entry(store, "abs/tmp/evil", b"evil\n")]


def _link_under_link(store: Store) -> list[Entry]:
    return [symlink_entry("d", "sub"), symlink_entry("d/l", "../../..")]


def _file_under_link(store: Store) -> list[Entry]:
    return [
        symlink_entry("logs", "../../../elsewhere"),
        file_entry(store, "logs/app.log", b"evil\n"),
    ]


def _file_under_file(store: Store) -> list[Entry]:
    return [file_entry(store, "a", b"x"), file_entry(store, "a/b", b"y")]


def _duplicate(store: Store) -> list[Entry]:
    return [symlink_entry("a", "../../.."), file_entry(store, "a", b"x")]


ATTACKS = {
    "chain": _chain,
    "sibling": _sibling,
    "absolute": _absolute,
    "link-under-link": _link_under_link,
    "file-under-link": _file_under_link,
    "file-under-file": _file_under_file,
    "duplicate": _duplicate,
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_planted_manifest_with_an_entry_beneath_a_link_is_refused(
    store: Store, tmp_path: Path, attack: str
) -> None:
    world, out = sentinel(tmp_path)
    write(out, "mine.txt", "mine\n")
    snap = plant(store, ATTACKS[attack](store))
    before, inside = outside_of(world, out), tree(out)
    for read in (
        lambda: store.pull(out, "dev"),
        lambda: store.pull(out, snapshot=snap),
        lambda: store.log("dev"),
        lambda: store.show("dev"),
        lambda: store.export(tmp_path / "b.json", env="dev"),
    ):
        with pytest.raises(IntegrityError) as err:
            read()
        assert err.value.exit_code == 4
    assert not store.verify().ok
    assert outside_of(world, out) == before and tree(out) == inside
    assert not (tmp_path / "b.json").exists()


@pytest.mark.parametrize("path", ["a//b", "a/./b", "./a", "a/", "", "a/../b", "/a"])
def test_a_path_with_an_empty_dot_or_absolute_component_is_refused(
    store: Store, tmp_path: Path, path: str
) -> None:
    plant(store, [symlink_entry(path, "target")])
    with pytest.raises(IntegrityError, match="unsafe path"):
        store.pull(tmp_path / "out", "dev")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("target", ["", "a\x00b", "\udcff", "x" * 4096])
def test_a_link_target_no_folder_can_hold_is_refused(
    store: Store, tmp_path: Path, target: str
) -> None:
    plant(
        store, [Entry(path="l", kind="symlink", mode=0o777, size=0, digest="0" * 64, target=target)]
    )
    with pytest.raises(IntegrityError, match="link"):
        store.log("dev")


def test_a_link_pointing_out_is_restored_as_a_link_and_verifies(
    store: Store, tmp_path: Path
) -> None:
    world, out = sentinel(tmp_path)
    plant(store, [symlink_entry("sub/link", "../../etc"), symlink_entry("root", "/")])
    before = outside_of(world, out)
    store.pull(out, "dev")
    assert links(out) == {"sub/link": "../../etc", "root": "/"}
    assert outside_of(world, out) == before
    assert store.verify(read_data=True).ok


def test_push_refuses_a_tree_that_a_read_would_refuse(store: Store, tmp_path: Path) -> None:
    from statesync.sync.store.manifest import store_manifest

    manifest = Manifest(store_id=store.store_id, env="dev", parents=[], entries=_chain(store))
    with pytest.raises(StatesyncError, match="lies under"):
        store_manifest(store.repo, manifest)
    assert list(store.repo.backend.list(layout.SNAPSHOTS)) == []


def test_links_created_by_a_pull_are_created_after_every_file(store: Store, tmp_path: Path) -> None:
    # A link and a file whose names sort link-first: the file must land as a file.
    world, out = sentinel(tmp_path)
    entries = [symlink_entry("a", "../../.."), file_entry(store, "b", b"fine\n")]
    plant(store, entries)
    before = outside_of(world, out)
    store.pull(out, "dev")
    assert (out / "b").read_bytes() == b"fine\n" and os.readlink(out / "a") == "../../.."
    assert outside_of(world, out) == before
    assert load_manifest(store.repo, store.log("dev")[0].snapshot).by_path()["a"].target


@pytest.mark.parametrize(
    "chain",
    [
        ["x:.", "x/y:.", "x/y/z:../.."],  # issue 19: each passes a per-link check
        ["x:.", "x/z:.."],
        ["a:b", "b:.", "a/z:.."],
    ],
)
def test_a_planted_chain_then_a_file_beneath_it_writes_nothing_outside(
    store: Store, tmp_path: Path, chain: list[str]
) -> None:
    world, out = sentinel(tmp_path)
    write(out, "mine.txt", "mine\n")
    before = outside_of(world, out)
    plant(store, [symlink_entry(*item.split(":")) for item in chain])
    with pytest.raises(IntegrityError, match="lies under"):
        store.pull(out, "dev")
    plant(
        store,
        [file_entry(store, "z/.bashrc", b"evil\n"), file_entry(store, "z/u/.bashrc", b"evil\n")],
    )
    store.pull(out, "dev")
    assert outside_of(world, out) == before
    assert not (out / "z").is_symlink() and (out / "mine.txt").read_text() == "mine\n"


def test_a_record_folder_that_is_a_link_is_never_written_through(
    store: Store, tmp_path: Path
) -> None:
    world, out = sentinel(tmp_path)
    write(out, "a.txt", "a\n")
    os.symlink(str(world / "elsewhere"), out / ".statesync")
    before = outside_of(world, out)
    with pytest.raises(StatesyncError, match="is a link") as err:
        store.push(out, "dev")
    assert err.value.exit_code == 1
    assert store.envs() == []
    src = tmp_path / "src"
    write(src, "a.txt", "from the store\n")
    store.push(src, "dev")
    with pytest.raises(StatesyncError, match="is a link"):
        store.pull(out, "dev", force=True)
    assert outside_of(world, out) == before


def test_a_target_named_through_a_link_is_updated_where_it_lives(
    store: Store, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write(src, "a.txt", "a\n")
    store.push(src, "dev")
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(str(real), tmp_path / "out")
    store.pull(tmp_path / "out", "dev")
    assert os.readlink(tmp_path / "out") == str(real)
    assert (real / "a.txt").read_text() == "a\n"
    assert [p.name for p in tmp_path.iterdir() if ".statesync-" in p.name] == []


def test_rebase_of_a_file_under_a_link_the_other_side_added_is_a_conflict(
    store: Store, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "base.txt", "base\n")
    store.push(a, "dev")
    store.pull(b, "dev")
    os.symlink("/usr/lib", a / "n")
    store.push(a, "dev")
    write(b, "n/file.txt", "mine\n")
    with pytest.raises(ConflictError, match="lies under n") as err:
        store.push(b, "dev", rebase=True)
    assert err.value.exit_code == 3


def test_a_link_whose_target_is_not_utf8_is_skipped_and_kept_locally(
    store: Store, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write(src, "a.txt", "a\n")
    os.symlink(b"\xff\xfe-target", os.fsencode(src / "odd"))
    result = store.push(src, "dev")
    assert result.skipped == ["odd"] and result.files == 1
    write(src, "a.txt", "changed\n")
    store.push(src, "dev")
    store.pull(src, "dev", snapshot=result.snapshot, force=False)
    assert os.readlink(os.fsencode(src / "odd")) == b"\xff\xfe-target"
    fresh = tmp_path / "fresh"
    store.pull(fresh, "dev")
    assert sorted(os.listdir(fresh)) == [".statesync", "a.txt"]


def test_a_pull_that_fails_midway_leaves_the_folder_and_its_surroundings_as_they_were(
    store: Store, tmp_path: Path
) -> None:
    src = make_venv(tmp_path / "src", tmp_path / "outside")
    write(src, "big.bin", os.urandom(3 * 1024 * 1024))
    store.push(src, "dev")
    world, out = sentinel(tmp_path)
    write(out, "mine.txt", "mine\n")
    os.symlink(str(world / "elsewhere"), out / "mylogs")
    before, inside = outside_of(world, out), tree(out)
    for meta in store.repo.backend.list(layout.OBJECTS):
        # Cut every pack in half: a flipped byte may land where zstd ignores it
        # (a frame header field), and the chunk then decodes to its id, rightly.
        body = store.repo.backend.get(meta.key)[0]
        store.repo.backend.put(meta.key, body[: len(body) // 2])
    with pytest.raises(IntegrityError):
        store.pull(out, "dev")
    assert outside_of(world, out) == before and tree(out) == inside
    assert [p.name for p in out.parent.iterdir() if ".statesync-" in p.name] == []


def test_a_snapshot_path_where_the_folder_holds_a_skipped_link_is_a_conflict(
    store: Store, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write(src, "odd", "a file in the snapshot\n")
    store.push(src, "dev")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(b"\xff-target", os.fsencode(out / "odd"))
    with pytest.raises(ConflictError, match="odd"):
        store.pull(out, "dev", force=True)
    assert os.readlink(os.fsencode(out / "odd")) == b"\xff-target"
