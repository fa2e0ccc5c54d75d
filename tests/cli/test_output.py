"""Times in CLI output (cli/output.py): RFC 3339 UTC, and a store writer's odd value as it is."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from statesync.cli.output import rfc3339, stamp_text


def test_a_time_with_an_offset_is_shown_in_utc() -> None:
    assert rfc3339("2026-12-03T09:00:00+02:00") == "2026-12-03T07:00:00Z"
    assert stamp_text("expires 2026-12-03 09:00:00 here") == "expires 2026-12-03T09:00:00Z here"


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_time_whose_utc_is_outside_the_calendar_is_shown_as_written(text: str) -> None:
    """Found by the long fuzz run: a lease whose lock id held such a time turned the
    `lock` error line into an OverflowError traceback."""
    assert rfc3339(text) == text
    line = f"environment 'dev' is locked; lock id {text}"
    assert stamp_text(line) == line


def test_such_a_datetime_is_shown_in_its_own_offset() -> None:
    moment = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(-timedelta(hours=14)))
    assert rfc3339(moment) == "9999-12-31T23:00:00-14:00"
