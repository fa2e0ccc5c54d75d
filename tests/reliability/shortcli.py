"""``python -m tests.reliability.shortcli ARGS``: the real CLI with short SDK timeouts.

The drivers read their (connect, read) timeouts from ``statesync.backends._cloud``
(10 s and 120 s); a stall longer than 120 s per request would make a fault
test take minutes. This sets both from ``STATESYNC_TEST_TIMEOUT`` (seconds)
before any driver is imported, then runs ``statesync.cli.main`` unchanged.
"""

from __future__ import annotations

import os
import sys

from statesync.backends import _cloud

SECONDS = float(os.environ.get("STATESYNC_TEST_TIMEOUT", "2"))
_cloud.CONNECT_TIMEOUT = SECONDS
_cloud.READ_TIMEOUT = SECONDS

from statesync.cli.main import main  # noqa: E402  (after the timeouts are set)

sys.exit(main())
