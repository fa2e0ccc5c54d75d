"""gc against concurrent pushes: a push never ends up naming a chunk gc deleted.

The worst interleavings are forced, not hoped for: the pushing store's backend
runs a whole gc at the exact moment named (a thin wrapper around the real
driver, the protocol under test untouched). Then a loop of pushes that keep
reusing chunks gc is deleting runs against a loop of gcs. Every store is then
checked with ``verify --read-data`` and a pull. On every backend.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from statesync import api
from statesync.api import Store
from statesync.backends.base import OVERWRITE, Backend, Meta, PutData, PutMode, Version
from statesync.sync.store.repo import open_repo
from statesync.sync.store.retention import Policy
from tests.delegating import Delegating
from tests.helpers import tree, write

LONG = bool(os.environ.get("STATESYNC_LONG"))
KEEP_ONE = Policy(keep_last=1)


class Hooked(Delegating):
    """The real driver, calling ``hook(verb, key, when)`` around puts and deletes."""

    def __init__(self, inner: Backend, hook: Callable[[str, str, str], None]) -> None:
        super().__init__(inner)
        self.hook = hook

    def put(self, key: str, data: PutData, mode: PutMode = OVERWRITE) -> Version:
        self.hook("put", key, "before")
        version = self.inner.put(key, data, mode)
        self.hook("put", key, "after")
        return version

    def delete(self, key: str, expected: Version | None = None) -> None:
        self.hook("delete", key, "before")
        self.inner.delete(key, expected)


def _variant(name: str, n: int) -> bytes:
    rnd = __import__("random").Random(f"{name}-{n}")
    blob = base64.b64encode(rnd.randbytes(12_000)).decode()
    return f'{{"name": "{name}", "n": {n}, "blob": "{blob}"}}\n'.encode()


def _fill(folder: Path, n: int) -> None:
    for name in ("a.json", "b.json", "c.json"):
        write(folder, name, _variant(name, n))


def _hooked_store(store: Store, hook: Callable[[str, str, str], None]) -> Store:
    return Store(open_repo(Hooked(store.repo.backend, hook)), store.config)


def _once(
    when: Callable[[str, str, str], bool], action: Callable[[], object]
) -> Callable[[str, str, str], None]:
    fired: list[bool] = []

    def hook(verb: str, key: str, moment: str) -> None:
        if not fired and when(verb, key, moment):
            fired.append(True)
            action()

    return hook


def _check(store: Store, folder: Path, tmp: Path) -> None:
    report = store.verify(read_data=True)
    assert report.ok, report.problems
    out = tmp / f"check-{len(list(tmp.iterdir()))}"
    store.pull(out, "dev")
    assert tree(out) == tree(folder)


@pytest.fixture
def store(any_store_url: str) -> Iterator[Store]:
    with Store.init(any_store_url) as s:
        yield s


def _two_versions(store: Store, folder: Path) -> None:
    """dev: version 0, then version 1; version 0's chunks are then only in old history."""
    _fill(folder, 0)
    store.push(folder, "dev")
    _fill(folder, 1)
    store.push(folder, "dev")
    _fill(folder, 0)  # the next push reuses what gc is about to delete


def test_gc_between_listing_and_manifest_makes_the_push_start_over(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "f"
    _two_versions(store, folder)
    reports = []
    hook = _once(
        lambda v, k, m: v == "put" and k.startswith("snapshots/") and m == "before",
        lambda: reports.append(api.gc(store, policy=KEEP_ONE, grace=0)),
    )
    result = _hooked_store(store, hook).push(folder, "dev")
    assert reports and reports[0].packs_removed >= 1  # version 0's packs went meanwhile
    assert result.changed and result.uploaded_bytes > 0  # ... so the push re-uploaded them
    _check(store, folder, tmp_path)


def test_gc_between_manifest_and_ref_spares_what_the_manifest_names(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "f"
    _two_versions(store, folder)
    reports = []
    hook = _once(
        lambda v, k, m: v == "put" and k.startswith("snapshots/") and m == "after",
        lambda: reports.append(api.gc(store, policy=KEEP_ONE, grace=0)),
    )
    result = _hooked_store(store, hook).push(folder, "dev")
    assert reports and len(reports[0].snapshots_removed) == 1  # version 0's old snapshot
    assert result.uploaded_bytes == 0  # nothing re-sent: the young manifest kept its chunks
    _check(store, folder, tmp_path)


def test_gc_while_a_push_uploads_deletes_nothing_young_within_the_grace(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "f"
    _fill(folder, 0)
    store.push(folder, "dev")
    _fill(folder, 5)
    reports = []
    hook = _once(
        lambda v, k, m: v == "put" and k.startswith("objects/") and m == "after",
        lambda: reports.append(api.gc(store, policy=KEEP_ONE)),
    )
    _hooked_store(store, hook).push(folder, "dev")
    assert reports and reports[0].packs_removed == 0  # the new, unindexed pack is young
    _check(store, folder, tmp_path)


def test_gc_without_grace_while_a_push_uploads_still_never_breaks_it(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "f"
    _fill(folder, 0)
    store.push(folder, "dev")
    _fill(folder, 5)
    reports = []
    hook = _once(
        lambda v, k, m: v == "put" and k.startswith("objects/") and m == "after",
        lambda: reports.append(api.gc(store, policy=KEEP_ONE, grace=0)),
    )
    result = _hooked_store(store, hook).push(folder, "dev")
    assert reports and reports[0].packs_removed >= 1  # it took the push's fresh pack
    assert result.changed
    _check(store, folder, tmp_path)


def test_a_push_during_gc_deletion_never_reuses_a_condemned_pack_name(
    store: Store, tmp_path: Path
) -> None:
    """Re-uploading a condemned pack's exact bytes must not "find" it already there."""
    folder = tmp_path / "f"
    _two_versions(store, folder)
    pushed = []
    hook = _once(
        lambda v, k, m: v == "delete" and k.startswith("objects/"),
        lambda: pushed.append(store.push(folder, "dev")),
    )
    gc_store = _hooked_store(store, hook)
    report = api.gc(gc_store, policy=KEEP_ONE, grace=0)
    assert pushed and report.packs_removed >= 1
    assert pushed[0].uploaded_bytes > 0  # it skipped the condemned packs and sent its own
    _check(store, folder, tmp_path)


def test_a_push_that_lands_before_gc_publishes_is_seen_by_its_second_look(
    store: Store, tmp_path: Path
) -> None:
    """The push checked the old generation, so gc itself must notice its manifest."""
    folder = tmp_path / "f"
    _two_versions(store, folder)
    pushed = []
    hook = _once(
        lambda v, k, m: v == "put" and k.startswith("gc/") and m == "before",
        lambda: pushed.append(store.push(folder, "dev")),
    )
    report = api.gc(_hooked_store(store, hook), policy=KEEP_ONE, grace=0)
    assert pushed and pushed[0].uploaded_bytes == 0  # it reused version 0's chunks
    assert report.packs_removed < 3  # ... and gc spared the packs that hold them
    _check(store, folder, tmp_path)


def test_pushes_and_gcs_against_each_other(store: Store, tmp_path: Path) -> None:
    rounds = 50 if LONG else 3
    folder = tmp_path / "f"
    _fill(folder, 0)
    store.push(folder, "dev")
    done = threading.Event()
    errors: list[BaseException] = []
    gcs = [0]

    def collect() -> None:
        with Store.open(store.url) as other:
            while not done.is_set():
                try:
                    api.gc(other, policy=KEEP_ONE, grace=0, repack_below=0.9)
                    gcs[0] += 1
                except BaseException as exc:  # reported below, in the test thread
                    errors.append(exc)
                    return

    worker = threading.Thread(target=collect)
    worker.start()
    try:
        for i in range(rounds):
            _fill(folder, i % 3)  # back and forth: each push reuses chunks gc is removing
            write(folder, "round.txt", f"{i}\n")
            store.push(folder, "dev")
    finally:
        done.set()
        worker.join()
    assert not errors, errors
    assert gcs[0] >= 1
    _check(store, folder, tmp_path)
    api.gc(store, policy=KEEP_ONE, grace=0)
    _check(store, folder, tmp_path)


class ListHooked(Delegating):
    """The real driver, calling ``hook(prefix)`` before each listing."""

    def __init__(self, inner: Backend, hook: Callable[[str], None]) -> None:
        super().__init__(inner)
        self.hook = hook

    def list(self, prefix: str) -> Iterator[Meta]:
        self.hook(prefix)
        return self.inner.list(prefix)


def test_a_push_between_gcs_pack_listing_and_index_load_keeps_its_index(
    store: Store, tmp_path: Path
) -> None:
    """Issue 18: gc listed objects/, then a push uploaded a pack and its index, then gc
    loaded the indexes. gc took that pack for absent and deleted its index: the pack
    stayed, no index named it, and every later pull said 'chunk ... is missing' (exit 4)."""
    folder = tmp_path / "f"
    _fill(folder, 0)
    store.push(folder, "dev")
    _fill(folder, 1)  # new chunks: the push below uploads a pack and an index
    listings: list[str] = []

    def hook(prefix: str) -> None:
        listings.append(prefix)
        # gc's scan lists index/ once, objects/ once, then load_index lists index/ again
        if prefix.startswith("index") and listings.count(prefix) == 2:
            store.push(folder, "dev")

    gc_store = Store(open_repo(ListHooked(store.repo.backend, hook)), store.config)
    api.gc(gc_store, env="dev", policy=KEEP_ONE)
    assert listings.count("index/") >= 2, listings
    _check(store, folder, tmp_path)


class GetHooked(Delegating):
    """The real driver, calling ``hook(key)`` before each ``get``."""

    def __init__(self, inner: Backend, hook: Callable[[str], None]) -> None:
        super().__init__(inner)
        self.hook = hook

    def get(self, key: str) -> tuple[bytes, Version]:
        self.hook(key)
        return self.inner.get(key)


def test_a_pull_whose_head_gc_removes_after_the_ref_read_pulls_the_new_head(
    store: Store, tmp_path: Path
) -> None:
    """Issue 18: a reader read the ref, then a push moved it on and a gc (keep 1) removed
    the snapshot the reader was about to load: the pull said 'snapshot not found'. It now
    reads the ref once more and pulls the new head."""
    folder = tmp_path / "f"
    _fill(folder, 0)
    store.push(folder, "dev")
    _fill(folder, 1)
    raced: list[str] = []

    def hook(key: str) -> None:
        if key.startswith("snapshots/") and not raced:
            raced.append(key)
            store.push(folder, "dev")
            api.gc(store, env="dev", policy=KEEP_ONE, grace=0.0)

    reader = Store(open_repo(GetHooked(store.repo.backend, hook)), store.config)
    out = tmp_path / "out"
    result = reader.pull(out, "dev")
    assert raced, "the hook never ran"
    assert result.serial == 2
    assert tree(out) == tree(folder)
