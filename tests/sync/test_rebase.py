"""push --rebase: three-way merges of files and document keys; real conflicts stop."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.errors import RefConflict
from statesync.sync.store.manifest import load_manifest
from tests.helpers import tree, write

#: Pushes per writer: a quick round by default, the full 25 in the long run (STATESYNC_LONG=1).
PUSHES = 25 if os.environ.get("STATESYNC_LONG") == "1" else 6


@pytest.fixture
def store(any_store_url: str) -> Store:
    return Store.init(any_store_url)


@pytest.fixture
def two(store: Store, tmp_path: Path) -> tuple[Path, Path]:
    a = tmp_path / "a"
    write(a, "config.json", {"name": "svc", "limits": {"cpu": 1, "mem": 512}, "token": "mine"})
    write(a, "notes.txt", "base\n")
    store.push(a, "dev")
    b = tmp_path / "b"
    store.pull(b, "dev")
    return a, b


def _json(path: Path) -> object:
    return json.loads(path.read_text())


def test_changes_to_different_files_merge(store: Store, two: tuple[Path, Path]) -> None:
    a, b = two
    write(b, "theirs.txt", "from b\n")
    theirs = store.push(b, "dev", message="b")
    write(a, "notes.txt", "edited by a\n")
    result = store.push(a, "dev", rebase=True, message="a")
    assert result.changed and result.serial == 3
    head = load_manifest(store.repo, result.snapshot)
    assert head.parents[0] == theirs.snapshot and len(head.parents) == 2
    assert (a / "theirs.txt").read_text() == "from b\n"  # the folder now holds the merge
    store.pull(b, "dev")
    ta, tb = tree(a), tree(b)
    assert ta.pop("config.json") != tb.pop("config.json")  # a keeps its own secret value
    assert ta == tb
    assert [e.message for e in store.log("dev")] == ["a", "b", ""]


def test_different_keys_of_one_document_merge(store: Store, two: tuple[Path, Path]) -> None:
    a, b = two
    doc = _json(b / "config.json")
    doc["limits"]["cpu"] = 4  # type: ignore[index]
    write(b, "config.json", doc)
    store.push(b, "dev")
    doc = _json(a / "config.json")
    doc["limits"]["mem"] = 2048  # type: ignore[index]
    doc["replicas"] = 3  # type: ignore[index]
    write(a, "config.json", doc)
    store.push(a, "dev", rebase=True)
    merged = _json(a / "config.json")
    assert merged == {
        "name": "svc",
        "limits": {"cpu": 4, "mem": 2048},
        "replicas": 3,
        "token": "mine",
    }  # the local secret value survives the merge


def test_same_value_changed_both_ways_is_a_conflict_and_nothing_is_pushed(
    store: Store, two: tuple[Path, Path]
) -> None:
    a, b = two
    write(b, "config.json", {"name": "b-name", "limits": {"cpu": 1, "mem": 512}})
    write(b, "notes.txt", "b\n")
    theirs = store.push(b, "dev")
    write(a, "config.json", {"name": "a-name", "limits": {"cpu": 1, "mem": 512}})
    write(a, "notes.txt", "a\n")
    before = tree(a)
    with pytest.raises(RefConflict) as err:
        store.push(a, "dev", rebase=True)
    message = str(err.value)
    assert err.value.exit_code == 3
    assert "config.json#/name (changed both ways)" in message
    assert "notes.txt (modified both ways)" in message
    assert store.log("dev")[0].snapshot == theirs.snapshot
    assert tree(a) == before


def test_modify_versus_delete_is_a_conflict(store: Store, two: tuple[Path, Path]) -> None:
    a, b = two
    (b / "notes.txt").unlink()
    store.push(b, "dev")
    write(a, "notes.txt", "changed\n")
    with pytest.raises(RefConflict, match=r"notes\.txt \(modified here, deleted there\)"):
        store.push(a, "dev", rebase=True)


def test_invalid_documents_merge_as_whole_files_never_corrupted(
    store: Store, two: tuple[Path, Path]
) -> None:
    a, b = two
    write(b, "config.json", "{not json")
    store.push(b, "dev")
    write(a, "config.json", "{also not json")
    with pytest.raises(RefConflict, match="not valid JSON/YAML"):
        store.push(a, "dev", rebase=True)
    assert (a / "config.json").read_text() == "{also not json"


def test_rebase_of_a_folder_that_never_synced(
    store: Store, two: tuple[Path, Path], tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger"
    write(stranger, "extra.txt", "new\n")
    store.push(stranger, "dev", rebase=True)
    assert (stranger / "notes.txt").read_text() == "base\n"
    assert "extra.txt" in store.show("dev")["entries"][1]["path"]


def _worker(
    url: str,
    folder: str,
    name: str,
    pushes: int,
    same_key: bool,
    out: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    try:
        out.put(_pushes(url, folder, name, pushes, same_key))
    except BaseException as exc:  # report, so the test fails at once with the cause
        out.put((name, [], 0, [f"ERROR {type(exc).__name__}: {exc}"]))
        raise


def _pushes(
    url: str, folder: str, name: str, pushes: int, same_key: bool
) -> tuple[str, list[str], int, list[str]]:
    store = Store.open(url)
    landed, conflicts, messages = [], 0, []
    for i in range(pushes):
        if same_key:
            write(Path(folder), "shared.json", {"value": f"{name}-{i}"})
        else:
            write(Path(folder), f"{name}.txt", f"{name} {i}\n")
        try:
            result = store.push(folder, "dev", rebase=True, message=f"{name}-{i}")
            landed.append(result.snapshot)
        except RefConflict as exc:
            conflicts += 1
            messages.append(str(exc))
            store.pull(folder, "dev", force=True)
    return name, landed, conflicts, messages


def _run_workers(
    url: str, tmp_path: Path, workers: int, pushes: int, same_key: bool
) -> list[tuple[str, list[str], int, list[str]]]:
    store = Store.init(url)
    seed = tmp_path / "seed"
    write(seed, "shared.json", {"value": "start"})
    store.push(seed, "dev")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = []
    for w in range(workers):
        folder = tmp_path / f"w{w}"
        store.pull(folder, "dev")
        p = ctx.Process(target=_worker, args=(url, str(folder), f"w{w}", pushes, same_key, queue))
        p.start()
        procs.append(p)
    results = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


def _first_parent_chain(store: Store) -> list[str]:
    return [e.snapshot for e in store.log("dev", limit=10_000)]


def test_many_writers_on_their_own_files_lose_nothing(any_store_url: str, tmp_path: Path) -> None:
    if any_store_url.startswith("memory://"):
        pytest.skip("memory:// stores live in one process")
    workers, pushes = 8, PUSHES
    results = _run_workers(any_store_url, tmp_path, workers, pushes, same_key=False)
    assert [m for *_, messages in results for m in messages] == []
    store = Store.open(any_store_url)
    chain = _first_parent_chain(store)
    assert len(chain) == workers * pushes + 1  # every push is one commit on the mainline
    final = tmp_path / "final"
    store.pull(final, "dev")
    for w in range(workers):
        assert (final / f"w{w}.txt").read_text() == f"w{w} {pushes - 1}\n"


def test_many_writers_on_one_key_land_or_conflict_and_keep_what_landed(
    any_store_url: str, tmp_path: Path
) -> None:
    if any_store_url.startswith("memory://"):
        pytest.skip("memory:// stores live in one process")
    workers, pushes = 8, PUSHES
    results = _run_workers(any_store_url, tmp_path, workers, pushes, same_key=True)
    assert [m for *_, msgs in results for m in msgs if m.startswith("ERROR")] == []
    landed = [s for _, snaps, _, _ in results for s in snaps]
    assert sum(len(s) + c for _, s, c, _ in results) == workers * pushes
    chain = set(_first_parent_chain(Store.open(any_store_url)))
    assert landed and all(s in chain for s in landed)
