"""Retention policies: which snapshots of one environment to keep (pure, no store).

The semantics are restic's ``forget --keep-*``: every rule picks snapshots
on its own and a snapshot is kept if *any* rule keeps it.

* ``keep_last N``: the N newest snapshots.
* ``keep_within S``: every snapshot at most S seconds older than the newest one
  (measured from the newest snapshot, not from now, so a quiet environment
  does not lose its history just by waiting).
* ``keep_hourly/daily/weekly/monthly/yearly N``: for the last N hours (days,
  ISO weeks, months, years) that hold a snapshot, the newest snapshot of each.
  Buckets are taken in UTC, so every machine applying the rule agrees.
* ``keep_tags``: every snapshot carrying one of these ``(key, value)`` tags.

An empty policy keeps everything (gc then only removes unreferenced objects).
The caller keeps the environment's head whatever the policy says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from statesync.errors import UsageError


@dataclass(frozen=True)
class Snap:
    """What retention needs to know about a snapshot."""

    id: str
    created: datetime
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """A retention rule; every count is a number of snapshots or buckets (0: rule off)."""

    keep_last: int = 0
    keep_within: int = 0  # seconds
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_tags: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for name in _COUNTS:
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise UsageError(f"{name.replace('_', '-')} must be a whole number >= 0")

    @property
    def empty(self) -> bool:
        """True if no rule is set: everything is kept."""
        return not self.keep_tags and not any(getattr(self, n) for n in _COUNTS)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {n: getattr(self, n) for n in _COUNTS if getattr(self, n)}
        if self.keep_tags:
            doc["keep_tags"] = [f"{k}={v}" for k, v in self.keep_tags]
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> Policy:
        """Inverse of :meth:`to_json`; :class:`UsageError` (or ValueError) for a bad shape."""
        if not isinstance(doc, dict) or set(doc) - {*_COUNTS, "keep_tags"}:
            raise ValueError("not a retention policy")
        tags = tuple(parse_tag(t) for t in doc.get("keep_tags", []))
        return cls(**{n: doc[n] for n in _COUNTS if n in doc}, keep_tags=tags)


_COUNTS = (
    "keep_last",
    "keep_within",
    "keep_hourly",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "keep_yearly",
)


def parse_tag(text: str) -> tuple[str, str]:
    """``K=V`` -> ``(K, V)``; :class:`UsageError` otherwise."""
    key, sep, value = str(text).partition("=")
    if not sep or not key:
        raise UsageError(f"--keep-tag expects KEY=VALUE, got {text!r}")
    return key, value


def _bucket_keys() -> dict[str, Callable[[datetime], tuple[int, ...]]]:
    return {
        "keep_hourly": lambda t: (t.year, t.month, t.day, t.hour),
        "keep_daily": lambda t: (t.year, t.month, t.day),
        "keep_weekly": lambda t: tuple(t.isocalendar()[:2]),
        "keep_monthly": lambda t: (t.year, t.month),
        "keep_yearly": lambda t: (t.year,),
    }


def newest_first(snaps: Iterable[Snap]) -> list[Snap]:
    """Snapshots sorted newest first (ties broken by id, so the order is total)."""
    return sorted(snaps, key=lambda s: (_utc(s.created), s.id), reverse=True)


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def keep(snaps: Iterable[Snap], policy: Policy) -> set[str]:
    """The ids ``policy`` keeps among ``snaps`` (all of them for an empty policy)."""
    ordered = newest_first(snaps)
    if policy.empty:
        return {s.id for s in ordered}
    kept = {s.id for s in ordered[: policy.keep_last]}
    if policy.keep_within and ordered:
        newest = _utc(ordered[0].created)
        kept |= {
            s.id
            for s in ordered
            if (newest - _utc(s.created)).total_seconds() <= policy.keep_within
        }
    for name, bucket_of in _bucket_keys().items():
        kept |= _per_bucket(ordered, getattr(policy, name), bucket_of)
    tags = set(policy.keep_tags)
    kept |= {s.id for s in ordered if tags & set(s.tags.items())}
    return kept


def _per_bucket(
    ordered: list[Snap], count: int, bucket_of: Callable[[datetime], tuple[int, ...]]
) -> set[str]:
    """The newest snapshot of each of the ``count`` newest buckets that hold one."""
    kept: dict[tuple[int, ...], str] = {}
    for snap in ordered:
        if len(kept) >= count:
            break
        kept.setdefault(bucket_of(_utc(snap.created)), snap.id)
    return set(kept.values())
