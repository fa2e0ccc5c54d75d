"""find_snapshots: lookups by tag from the tag index, correct under concurrent writers
and after damage, without reading every manifest."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from statesync.api import Store, find_snapshots
from statesync.errors import RefConflict
from statesync.sync.store import layout


def _save_retrying(url: str, obj: Any, **tags: str) -> str:
    store = Store.open(url)
    try:
        while True:
            try:
                return store.save_object(obj, "agents", tags=tags).snapshot
            except RefConflict:
                continue  # another writer moved the env first: build on the new head
    finally:
        store.close()


def test_lookups_by_agent_and_session(store: Store) -> None:
    a = store.save_object({"t": 1}, "agents", agent_id="a1", session_id="s1").snapshot
    b = store.save_object({"t": 2}, "agents", agent_id="a1", session_id="s2").snapshot
    c = store.save_object(
        {"t": 3}, "agents", agent_id="a2", session_id="s1", tags={"checkpoint_id": "ck-7"}
    ).snapshot
    assert [m.snapshot for m in store.find_snapshots("agents", tags={"agent_id": "a1"})] == [b, a]
    both = find_snapshots(store, "agents", tags={"agent_id": "a1", "session_id": "s1"})
    assert [m.snapshot for m in both] == [a]
    assert [m.snapshot for m in store.find_snapshots("agents", tags={"checkpoint_id": "ck-7"})] == [
        c
    ]
    assert store.find_snapshots("agents", tags={"agent_id": "nobody"}) == []
    assert store.find_snapshots("empty-env", tags={"agent_id": "a1"}) == []


def test_concurrent_writers_lose_no_tagged_snapshot(any_store_url: str) -> None:
    Store.init(any_store_url).close()
    made: list[str] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(2):
                made.append(
                    _save_retrying(
                        any_store_url, {"w": n, "i": i}, agent_id=f"w{n}", session_id="shared"
                    )
                )
        except BaseException as exc:  # reported below, with the thread's failure
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = Store.open(any_store_url)
    found = {m.snapshot for m in store.find_snapshots("agents", tags={"session_id": "shared"})}
    assert found == set(made) and len(found) == 6
    assert len(store.find_snapshots("agents", tags={"agent_id": "w2"})) == 2


def test_snapshots_pushed_without_the_api_are_found_too(local: Store, tmp_path: Any) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "state.json").write_text('{"a": 1}\n')
    pushed = local.push(tmp_path / "src", "agents", tags={"agent_id": "cli"}).snapshot
    assert [m.snapshot for m in local.find_snapshots("agents", tags={"agent_id": "cli"})] == [
        pushed
    ]


def test_a_wiped_index_is_rebuilt_from_the_history(store: Store) -> None:
    first = store.save_object({"t": 1}, "agents", agent_id="a1").snapshot
    second = store.save_object({"t": 2}, "agents", agent_id="a1").snapshot
    for meta in list(store.repo.backend.list(layout.TAGS)):
        store.repo.backend.delete(meta.key)
    assert [m.snapshot for m in store.find_snapshots("agents", tags={"agent_id": "a1"})] == [
        second,
        first,
    ]  # the head had no marker: its chain was indexed again


def test_a_lost_entry_below_a_marker_needs_rebuild(local: Store) -> None:
    first = local.save_object({"t": 1}, "agents", agent_id="a1").snapshot
    local.save_object({"t": 2}, "agents", agent_id="a2")
    from statesync.sync.tagindex import tag_hash

    local.repo.backend.delete(layout.tag_entry_key("agents", tag_hash("agent_id", "a1"), first))
    assert local.find_snapshots("agents", tags={"agent_id": "a1"}) == []
    assert local.rebuild_tag_index("agents") == 2
    assert [m.snapshot for m in local.find_snapshots("agents", tags={"agent_id": "a1"})] == [first]


def test_forged_or_dangling_entries_are_never_returned(local: Store) -> None:
    from statesync.backends.base import CREATE
    from statesync.sync.tagindex import tag_hash

    real = local.save_object({"t": 1}, "agents", agent_id="a1").snapshot
    h = tag_hash("agent_id", "victim")
    # an entry naming a real snapshot that does not carry the tag, and one naming nothing
    local.repo.backend.put(layout.tag_entry_key("agents", h, real), b"", CREATE)
    local.repo.backend.put(layout.tag_entry_key("agents", h, "0" * 64), b"", CREATE)
    assert local.find_snapshots("agents", tags={"agent_id": "victim"}) == []


def test_no_tags_is_a_usage_error(local: Store) -> None:
    from statesync.errors import UsageError

    with pytest.raises(UsageError):
        local.find_snapshots("agents", tags={})


def test_a_store_failing_after_the_commit_loses_no_lookup(
    local: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from statesync.errors import BackendUnavailable

    backend = local.repo.backend
    real_put = backend.put

    def put(key: str, data: Any, mode: Any = None) -> Any:  # the store goes away for tags/
        if key.startswith(layout.TAGS):
            raise BackendUnavailable("injected: store unreachable")
        return real_put(key, data, mode) if mode is not None else real_put(key, data)

    monkeypatch.setattr(backend, "put", put)
    saved = local.save_object({"t": 1}, "agents", agent_id="a1")  # the commit stands
    monkeypatch.setattr(backend, "put", real_put)
    assert local.load_object("agents") == {"t": 1}
    assert [m.snapshot for m in local.find_snapshots("agents", tags={"agent_id": "a1"})] == [
        saved.snapshot
    ]
