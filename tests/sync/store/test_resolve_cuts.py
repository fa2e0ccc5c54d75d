"""Snapshot ids still resolve after gc cut some environment's history."""

from __future__ import annotations

from pathlib import Path

from statesync import api
from statesync.api import Store
from statesync.sync.store.retention import Policy


def test_an_id_resolves_after_gc_cut_another_environments_history(tmp_path: Path) -> None:
    with Store.init((tmp_path / "store").as_uri()) as store:
        for n in range(3):  # dev: three snapshots; keep-last 1 removes the two below the head
            api.commit_files(
                store,
                "dev",
                {"s.json": b'{"n": %d}' % n},
                parent=api.read_head_file(store, "dev", "s.json").snapshot,
            )
        kept = api.commit_files(store, "prod", {"s.json": b'{"p": 1}'}, parent=None).snapshot
        cut_below = api.read_head_file(store, "dev", "s.json").snapshot
        assert cut_below is not None
        api.gc(store, policy=Policy(keep_last=1), grace=0, env="dev")
        # dev's head names a parent gc removed: walking dev's history must not fail
        assert api.resolve_snapshot(store, kept) == kept
        assert api.resolve_snapshot(store, kept[:12]) == kept
        assert api.resolve_snapshot(store, cut_below[:12]) == cut_below
        assert [e.snapshot for e in store.log("dev")] == [cut_below]
