"""``-vv`` shows statesync's own debug records and never an SDK's (they log bodies)."""

from __future__ import annotations

import logging

import pytest

from statesync import logsetup


def test_vv_passes_own_debug_and_holds_sdk_debug(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    root.handlers.clear()
    try:
        logsetup.configure(2)
        logging.getLogger("statesync.sync.store.leases").debug("own record")
        logging.getLogger("botocore.parsers").debug("Response body: Plaintext")
        unknown = logging.getLogger("some.sdk")
        unknown.setLevel(logging.DEBUG)  # an SDK that re-levels its own logger
        unknown.debug("request body")
        logging.getLogger("urllib3").warning("a warning still shows")
    finally:
        root.handlers[:], root.level = saved
    err = capsys.readouterr().err
    assert "own record" in err and "a warning still shows" in err
    assert "Plaintext" not in err and "request body" not in err
