"""Property: whatever trees of links and files a store writer plants, pull writes only the target.

Random manifests (links with targets that climb, chains, duplicates,
entries under links) and random local links in the target are pulled twice
in a row; each pull either succeeds or ends in a named error (exit 3 or 4),
and no byte outside the target ever changes. Link targets stay inside the
sentinel world even when followed, so a bug shows as a changed sentinel.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statesync.api import Store
from statesync.errors import StatesyncError
from statesync.sync.store.builder import symlink_entry
from statesync.sync.store.manifest import Entry
from tests.helpers import write
from tests.sync.folder.test_links import file_entry, outside_of, plant, sentinel

NAMES = st.sampled_from(["a", "b", "x", "z"])
PATHS = st.lists(NAMES, min_size=1, max_size=3).map("/".join)
TARGETS = st.sampled_from([".", "..", "../..", "a", "b", "a/b", "z", "x/z", "WORLD"])
ITEMS = st.lists(st.tuples(PATHS, st.booleans(), TARGETS), max_size=6)
LOCAL = st.lists(st.tuples(NAMES, TARGETS), max_size=2, unique_by=lambda t: t[0])


def _entries(
    store: Store, content: Entry, world: Path, items: list[tuple[str, bool, str]]
) -> list[Entry]:
    out = []
    for path, is_link, target in items:
        if is_link:
            out.append(symlink_entry(path, str(world) if target == "WORLD" else target))
        else:
            out.append(dataclasses.replace(content, path=path + "/.bashrc"))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=ITEMS, second=ITEMS, local=LOCAL, force=st.booleans())
def test_no_planted_tree_writes_outside_the_target(
    first: list[tuple[str, bool, str]],
    second: list[tuple[str, bool, str]],
    local: list[tuple[str, str]],
    force: bool,
) -> None:
    tmp = Path(tempfile.mkdtemp())
    try:
        store = Store.init(f"memory://{uuid.uuid4().hex}")
        world, out = sentinel(tmp)
        write(out, "mine.txt", "mine\n")
        for name, target in local:
            os.symlink(str(world) if target == "WORLD" else target, out / name)
        before = outside_of(world, out)
        content = file_entry(store, "c", b"evil\n")
        for items in (first, second):
            plant(store, _entries(store, content, world, items))
            try:
                store.pull(out, "dev", force=force)
            except StatesyncError as exc:
                assert exc.exit_code in (3, 4), exc
            assert outside_of(world, out) == before
        assert [p.name for p in out.parent.iterdir() if ".statesync-" in p.name] == []
    finally:
        shutil.rmtree(tmp)
