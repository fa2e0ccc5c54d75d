"""An isolated home: everything statesync keeps per user goes under one folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from statesync.api import Store, isolated
from tests.helpers import write


def _files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_isolated_keeps_pins_serials_and_caches_under_its_home(tmp_path: Path) -> None:
    user_dirs = [tmp_path / d for d in ("xdg-config", "xdg-data", "xdg-cache", "xdg-state")]
    url = (tmp_path / "store").as_uri()
    write(tmp_path / "src", "state.json", '{"a": 1}\n')
    with isolated(tmp_path / "home") as home:
        with Store.init(url) as store:
            store.push(tmp_path / "src", "dev")
            store.pull(tmp_path / "dst", "dev")
        kept = _files_under(home)
    assert "config/statesync/pins.json" in kept
    assert any(p.startswith("state/statesync/") for p in kept)
    assert all(not d.exists() or not _files_under(d) for d in user_dirs)
    # Outside the block the user's own folders are used again: a new pin there.
    Store.open(url).close()
    assert (tmp_path / "xdg-config" / "statesync" / "pins.json").is_file()


def test_isolated_blocks_do_not_nest(tmp_path: Path) -> None:
    with (
        isolated(tmp_path / "a"),
        pytest.raises(RuntimeError, match="already isolated"),
        isolated(tmp_path / "b"),
    ):
        pass
    with isolated(tmp_path / "b") as home:  # released after the first block
        assert home == (tmp_path / "b").resolve()
    assert not os.path.exists(tmp_path / "b")  # nothing written by merely isolating
