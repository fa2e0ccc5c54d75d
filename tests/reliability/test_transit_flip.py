"""One byte flipped in a download is a transit fault: re-read, not "store damaged" (issue 18).

The proxy flips one byte of exactly one GET answer (``limit=1``; which one is
chosen by the seed: the first, or one later among the range reads of packs).
``push``, ``pull`` and ``verify --read-data`` must then succeed (exit 0), the pulled
tree be v2 byte for byte, and a ``-vv`` log say "re-read after checksum
mismatch". A really damaged object is still exit 4: ``tests/sync/test_damage.py``,
``test_integrity.py`` and the re-read tests of ``tests/backends/test_retry_wrapper.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import tree
from tests.leakscan import LOG_SUFFIX
from tests.reliability.faultproxy import FaultProxy, Plan
from tests.reliability.test_network_faults import _needs, prepare, through

CASES = [("s3", 1.0, 1), ("s3", 0.3, 2), ("azure", 1.0, 1), ("azure", 0.3, 2)]


@pytest.mark.parametrize(("cloud", "rate", "seed"), CASES)
def test_one_flipped_download_is_re_read(
    cloud: str, rate: float, seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    em = _needs(cloud)
    site = prepare(em, tmp_path, monkeypatch)
    plan = Plan(kind="flip", rate=rate, seed=seed, methods=frozenset({"GET"}), limit=1)
    logs = []
    for name, args in (
        ("push", ("push", str(site.folder), "--env", "dev", "-m", "v2")),
        ("pull", ("pull", str(site.new_target), "--env", "dev")),
        ("verify", ("verify", "--read-data")),
    ):
        log = tmp_path / f"flip-{name}{LOG_SUFFIX}"
        with FaultProxy(em.address, plan) as proxy:
            code, err, _ = through(em, proxy, site.url, log, *args)
            flipped = proxy.injected["flip"]
        assert code == 0, f"{name}: exit {code}: {err}"
        assert flipped == 1, f"{name}: no byte was flipped, the case proved nothing"
        logs.append(log.read_text())
    assert tree(site.new_target) == site.v2
    # A flip may land where nothing is checked (a listing's whitespace); at least one
    # of the three must have been caught and re-read.
    assert any("re-read after checksum mismatch" in text for text in logs), logs
