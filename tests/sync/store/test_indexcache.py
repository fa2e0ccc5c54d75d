"""IndexCache: a long-lived writer lists nothing per commit, and never trusts a pack gc removed.

Every test commits through the real commit path (``api.commit_files``) on a
real store, the way ``statesync serve`` does, and checks the store with
``verify --read-data`` and by reading the state back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import pytest

from statesync import api
from statesync.api import IndexCache, Store
from statesync.backends.base import Backend, Meta, Version
from statesync.errors import GcRaced
from statesync.sync.store.repo import open_repo
from statesync.sync.store.retention import Policy
from tests.delegating import Delegating

PATH = "terraform.tfstate"


class Counting(Delegating):
    """The real driver; counts ``list`` calls and calls ``hook(key)`` after each get."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner)
        self.lists = 0
        self.hook: Callable[[str], None] = lambda key: None

    def get(self, key: str) -> tuple[bytes, Version]:
        try:
            return self.inner.get(key)
        finally:  # also after NotFound (no gc has run yet: no marker)
            self.hook(key)

    def list(self, prefix: str) -> Iterator[Meta]:
        self.lists += 1
        return self.inner.list(prefix)


@pytest.fixture(params=["memory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Store]:
    from pathlib import Path

    url = f"memory://cache-{uuid.uuid4().hex}" if request.param == "memory" else None
    url = url or (Path(str(tmp_path)) / "store").as_uri()
    with Store.init(url) as plain:
        counted = Store(open_repo(Counting(plain.repo.backend)), plain.config)
        yield counted


def backend(store: Store) -> Counting:
    found = store.repo.backend
    assert isinstance(found, Counting)
    return found


def state(n: int) -> bytes:
    """A state of one chunk, different for every ``n``."""
    outputs = {f"o{i}": {"value": f"{n}-{i}-" + "x" * 60} for i in range(400)}
    return json.dumps({"version": 4, "serial": n, "outputs": outputs}).encode()


def commit(store: Store, data: bytes, cache: IndexCache | None, env: str = "dev") -> api.PushResult:
    """Commit ``data`` on ``env``'s head, read as the server reads it (its state cache)."""
    parent = api.read_head_file(store, env, PATH, cache=_STATES).snapshot
    result = api.commit_files(store, env, {PATH: data}, parent=parent, index_cache=cache)
    _STATES[f"{result.snapshot}:{PATH}"] = data
    return result


_STATES: dict[str, bytes | None] = {}  # snapshot ids are unique: one table serves every test


def check(store: Store, data: bytes, env: str = "dev") -> None:
    report = store.verify(read_data=True)
    assert report.ok, report.problems
    assert api.read_head_file(store, env, PATH).data == data


def test_commits_list_nothing_while_no_gc_runs(store: Store) -> None:
    cache = IndexCache()
    commit(store, state(0), cache)
    counting = backend(store)
    before = counting.lists
    for n in range(1, 12):
        assert commit(store, state(n), cache).changed
    assert counting.lists == before, "a commit listed the store"
    assert cache.loads == 1
    check(store, state(11))


def test_without_a_cache_every_commit_lists_the_store(store: Store) -> None:
    commit(store, state(0), None)
    counting = backend(store)
    before = counting.lists
    for n in range(1, 4):
        commit(store, state(n), None)
    assert counting.lists - before >= 2 * 3  # index/ and objects/, every time


def test_a_chunk_gc_removed_is_uploaded_again(store: Store) -> None:
    """The cache saw state 0's chunk; gc removes it; writing state 0 again must store it."""
    cache = IndexCache()
    commit(store, state(0), cache)
    commit(store, state(1), cache)  # state 0 is now only in old history
    assert api.gc(store, policy=Policy(keep_last=1), grace=0).packs_removed >= 1
    again = commit(store, state(0), cache)  # an admin's rollback to an old state
    assert again.uploaded_bytes > 0, "reused a chunk gc had removed"
    assert cache.loads == 2  # the new gc generation made it load afresh
    check(store, state(0))


def test_gc_right_after_the_writers_marker_read_is_caught(store: Store) -> None:
    """gc removes the reused chunk just after the commit read the marker: the ref stays."""
    cache = IndexCache()
    commit(store, state(0), cache)
    head = commit(store, state(1), cache).snapshot
    counting = backend(store)
    fired: list[str] = []

    def gc_now(key: str) -> None:
        if key == "gc/generation.json" and not fired:  # the builder's read, before it looks
            fired.append(key)
            assert api.gc(store, policy=Policy(keep_last=1), grace=0).packs_removed >= 1

    counting.hook = gc_now
    # state 0's chunk is known to the cache and reused; gc removes it before the ref moves
    with pytest.raises(GcRaced):
        commit(store, state(0), cache)
    counting.hook = lambda key: None
    assert fired
    assert api.read_head_file(store, "dev", PATH).snapshot == head
    assert commit(store, state(0), cache).uploaded_bytes > 0
    check(store, state(0))


def test_another_writers_chunks_are_learnt_at_the_next_refresh(store: Store) -> None:
    now = [0.0]
    cache = IndexCache(refresh_seconds=60, clock=lambda: now[0])
    commit(store, state(0), cache)
    commit(store, state(100), None, env="other")  # another writer (a CLI push)
    assert commit(store, state(100), cache).uploaded_bytes > 0  # not known yet: stored again
    commit(store, state(200), None, env="other")
    now[0] = 61.0
    assert commit(store, state(200), cache).uploaded_bytes == 0  # learnt: reused
    assert cache.loads == 2
    check(store, state(200))


def test_forget_makes_the_next_commit_load_afresh(store: Store) -> None:
    cache = IndexCache()
    commit(store, state(0), cache)
    cache.forget()
    commit(store, state(1), cache)
    assert cache.loads == 2
    check(store, state(1))
