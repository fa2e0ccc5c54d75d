"""Retention policies as a pure function: exactly the snapshots restic's rules name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statesync.errors import UsageError
from statesync.sync.store.retention import Policy, Snap, keep, newest_first, parse_tag

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def snaps_at(*hours: float, tags: dict[int, dict[str, str]] | None = None) -> list[Snap]:
    return [
        Snap(f"s{i:03d}", T0 + timedelta(hours=h), (tags or {}).get(i, {}))
        for i, h in enumerate(hours)
    ]


times = st.lists(st.integers(min_value=0, max_value=24 * 800), min_size=0, max_size=40)


def _from_hours(hours: list[int]) -> list[Snap]:
    return snaps_at(*hours)


def _oracle_buckets(snaps: list[Snap], n: int, key: object) -> set[str]:
    """Brute force: bucket every snapshot, take the n newest buckets, the newest of each."""
    buckets: dict[object, list[Snap]] = {}
    for s in snaps:
        buckets.setdefault(key(s.created), []).append(s)  # type: ignore[operator]
    newest = sorted(buckets.values(), key=lambda b: newest_first(b)[0].created, reverse=True)
    return {newest_first(b)[0].id for b in newest[:n]}


def test_an_empty_policy_keeps_everything() -> None:
    snaps = snaps_at(0, 1, 2)
    assert keep(snaps, Policy()) == {"s000", "s001", "s002"}


def test_keep_last_keeps_the_newest_n() -> None:
    assert keep(snaps_at(5, 1, 3, 2), Policy(keep_last=2)) == {"s000", "s002"}


def test_keep_within_counts_from_the_newest_snapshot_not_from_now() -> None:
    snaps = snaps_at(0, 10, 47, 48)
    assert keep(snaps, Policy(keep_within=24 * 3600)) == {"s002", "s003"}


def test_keep_daily_takes_the_newest_of_each_recent_day_that_has_one() -> None:
    # day 0: hours 1, 5; day 1: none; day 2: hours 49, 60; day 3: 80
    snaps = snaps_at(1, 5, 49, 60, 80)
    assert keep(snaps, Policy(keep_daily=2)) == {"s004", "s003"}
    assert keep(snaps, Policy(keep_daily=3)) == {"s004", "s003", "s001"}


def test_keep_tag_keeps_every_tagged_snapshot() -> None:
    snaps = snaps_at(0, 1, 2, tags={0: {"release": "1"}, 1: {"release": "2"}})
    assert keep(snaps, Policy(keep_tags=(("release", "1"),))) == {"s000"}


def test_bad_counts_and_tags_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        Policy(keep_last=-1)
    with pytest.raises(UsageError):
        parse_tag("novalue")


@settings(max_examples=40, deadline=None)
@given(times, st.integers(0, 6))
def test_keep_last_is_exactly_the_newest(hours: list[int], n: int) -> None:
    snaps = _from_hours(hours)
    expected = newest_first(snaps)[:n] if n else snaps  # keep_last=0 is no rule: keep all
    assert keep(snaps, Policy(keep_last=n)) == {s.id for s in expected}


@settings(max_examples=40, deadline=None)
@given(
    times, st.integers(1, 8), st.sampled_from(["hourly", "daily", "weekly", "monthly", "yearly"])
)
def test_bucket_rules_match_a_brute_force_oracle(hours: list[int], n: int, rule: str) -> None:
    keys = {
        "hourly": lambda t: (t.date(), t.hour),
        "daily": lambda t: t.date(),
        "weekly": lambda t: t.isocalendar()[:2],
        "monthly": lambda t: (t.year, t.month),
        "yearly": lambda t: t.year,
    }
    snaps = _from_hours(hours)
    got = keep(snaps, Policy(**{f"keep_{rule}": n}))  # type: ignore[arg-type]
    assert got == _oracle_buckets(snaps, n, keys[rule])


@settings(max_examples=40, deadline=None)
@given(times, st.integers(0, 5), st.integers(0, 5), st.integers(0, 24 * 60))
def test_rules_combine_as_a_union(hours: list[int], last: int, daily: int, within_h: int) -> None:
    snaps = _from_hours(hours)
    parts = [Policy(keep_last=last), Policy(keep_daily=daily), Policy(keep_within=within_h * 3600)]
    union = set().union(*(keep(snaps, p) for p in parts if not p.empty))
    combined = Policy(keep_last=last, keep_daily=daily, keep_within=within_h * 3600)
    if not combined.empty:
        assert keep(snaps, combined) == union


@settings(max_examples=50, deadline=None)
@given(
    st.integers(0, 9),
    st.integers(0, 9),
    st.integers(0, 10**6),
    st.lists(st.tuples(st.text("abc", min_size=1), st.text("xyz")), max_size=3),
)
def test_policies_round_trip_through_json(
    last: int, weekly: int, within: int, tags: list[tuple[str, str]]
) -> None:
    policy = Policy(keep_last=last, keep_weekly=weekly, keep_within=within, keep_tags=tuple(tags))
    assert Policy.from_json(policy.to_json()) == policy
