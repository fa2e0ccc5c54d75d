"""A pack span damaged on its way in is read again; the pull's byte meter counts it once."""

from __future__ import annotations

import os
from pathlib import Path

from statesync.api import Store
from statesync.sync.progress import Meter
from tests.helpers import tree, write
from tests.sync.crashlib import CrashAt


class FlipFirstRange(CrashAt):
    """Passes every call through, but inverts one byte of the first range read's answer."""

    flipped = 0

    def get_range(self, key: str, start: int, length: int) -> bytes:
        data = super().get_range(key, start, length)
        if self.flipped or not data:
            return data
        self.flipped += 1
        at = len(data) // 2
        return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


class Counter:
    """A meter factory that sums what each phase counted."""

    def __init__(self) -> None:
        self.counted: dict[str, int] = {}
        self.totals: dict[str, int] = {}

    def __call__(self, label: str, total: int) -> Meter:
        self.totals[label] = total
        self.counted.setdefault(label, 0)
        owner = self

        class _Phase:
            def update(self, n: int) -> None:
                owner.counted[label] += n

            def close(self) -> None:
                pass

        return _Phase()


def test_a_re_read_span_is_counted_once_and_restores_the_tree(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    for i in range(6):
        write(folder, f"blob{i}.bin", os.urandom(70_000))
    url = (tmp_path / "store").as_uri()
    with Store.init(url) as store:
        store.push(folder, "dev")
    meters = Counter()
    with Store.open(url) as store:
        flipper = FlipFirstRange(store.repo.backend)
        store.repo.backend = flipper
        store.pull(tmp_path / "out", "dev", progress=meters)
    assert flipper.flipped == 1, "no range read was damaged: the case proved nothing"
    assert tree(tmp_path / "out") == tree(folder)
    size = sum(p.stat().st_size for p in folder.glob("blob*.bin"))
    assert meters.totals == {"pull": size}
    assert meters.counted == {"pull": size}
