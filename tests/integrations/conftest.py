"""Fixtures of the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rigs import RIGS


@pytest.fixture(params=["local", "s3"])
def process_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URL shared by several processes: a local store and the S3 emulator.

    (The conformance suite covers every backend; each process costs seconds.)
    """
    url = RIGS[request.param](tmp_path)
    if url is None:
        pytest.skip(f"{request.param} emulator not started (run scripts/test.sh)")
    return url
