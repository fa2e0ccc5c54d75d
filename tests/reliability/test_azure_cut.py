"""A download Azurite's answer cut short is retried, not an error (found by the fault matrix).

The Azure SDK gives up on an ``IncompleteRead`` with an ``HttpResponseError``
that has no status; the driver took it for a plain error (exit 1, no retry)
and the CLI printed the SDK's "Incomplete download." warnings above it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from statesync.backends import open_backend
from statesync.backends.retry import RetryingBackend
from statesync.logsetup import configure
from tests.reliability.clouds import emulator
from tests.reliability.faultproxy import FaultProxy, Plan

#: More cut answers in a row than the SDK retries by itself (its download retries 3 times).
LIMIT = 6


def test_a_cut_download_is_retried_and_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    em = emulator("azure")
    if em is None:
        pytest.skip("azure emulator not started (source /tmp/emu/env)")
    url = em.make_store(tmp_path)
    assert url is not None
    body = b"a blob cut short on its way back " * 64
    direct = open_backend(url)
    direct.put("k", body)
    direct.close()
    cut_twice = Plan(kind="cut", rate=1.0, methods=frozenset({"GET"}), limit=LIMIT)
    with FaultProxy(em.address, cut_twice) as proxy:
        monkeypatch.setenv(*next(iter(em.through(proxy.port).items())))
        backend = RetryingBackend(open_backend(url), budget=30)
        try:
            assert backend.get("k")[0] == body
        finally:
            backend.close()
        assert proxy.injected["cut"] == LIMIT


def test_the_sdks_incomplete_download_warning_is_held_back() -> None:
    configure(0)
    transport = logging.getLogger("azure.core.pipeline.transport._requests_basic")
    assert not transport.isEnabledFor(logging.WARNING)
    assert transport.isEnabledFor(logging.ERROR)
    assert logging.getLogger("azure.storage.blob").isEnabledFor(logging.WARNING)
