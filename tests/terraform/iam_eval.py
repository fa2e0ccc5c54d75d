"""A small evaluator of AWS IAM policy documents, for the requests statesync makes.

It decides one request (action, resource ARN, request context) against identity
policies and a bucket policy the way AWS does for a principal of the bucket's own
account: an explicit Deny in any policy wins; otherwise an Allow in an identity
policy allows; otherwise the request is implicitly denied. It knows the condition
operators the statesync modules use and refuses any other (an unknown operator
would otherwise be a silent pass), and the IAM wildcards ``*`` and ``?``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Context = Mapping[str, str]


@dataclass(frozen=True)
class Request:
    """One API call as IAM sees it: its action, its resource and its condition keys."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)
    why: str = ""  # which statesync call this is, for failure messages


def _glob(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts) + r"\Z", re.S)


def _matches(patterns: str | list[str], value: str, *, fold: bool = False) -> bool:
    items = [patterns] if isinstance(patterns, str) else patterns
    if fold:
        return any(_glob(p.lower()).match(value.lower()) for p in items)
    return any(_glob(p).match(value) for p in items)


def _values(raw: Any) -> list[str]:
    return [str(v) for v in (raw if isinstance(raw, list) else [raw])]


_OPERATORS: dict[str, Callable[[str | None, list[str]], bool]] = {
    "StringEquals": lambda v, want: v is not None and v in want,
    "StringNotEquals": lambda v, want: v is None or v not in want,
    "StringLike": lambda v, want: v is not None and _matches(want, v),
    "StringNotLike": lambda v, want: v is None or not _matches(want, v),
    "Bool": lambda v, want: v is not None and v.lower() in [w.lower() for w in want],
    "Null": lambda v, want: (v is None) == (want[0].lower() == "true"),
    "NumericLessThan": lambda v, want: v is not None and any(float(v) < float(w) for w in want),
    "ArnEquals": lambda v, want: v is not None and v in want,
}


def _condition_holds(operator: str, key: str, want: list[str], context: Context) -> bool:
    lowered = {k.lower(): v for k, v in context.items()}
    value = lowered.get(key.lower())
    if operator.endswith("IfExists"):
        if value is None:
            return True
        operator = operator.removesuffix("IfExists")
    if operator not in _OPERATORS:
        raise AssertionError(f"condition operator {operator!r} is not modelled by the evaluator")
    return _OPERATORS[operator](value, want)


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    for unsupported in ("NotAction", "NotResource", "NotPrincipal"):
        assert unsupported not in statement, f"{unsupported} is not modelled: {statement}"
    if not _matches(statement["Action"], request.action, fold=True):
        return False
    if not _matches(statement["Resource"], request.resource):
        return False
    conditions: Mapping[str, Mapping[str, Any]] = statement.get("Condition", {})
    return all(
        _condition_holds(op, key, _values(want), request.context)
        for op, keys in conditions.items()
        for key, want in keys.items()
    )


def statements(documents: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Every statement of ``documents``; a Sid used twice is an error (as in Terraform)."""
    found: list[Mapping[str, Any]] = []
    sids: set[str] = set()
    for doc in documents:
        assert doc["Version"] == "2012-10-17", doc
        for st in doc["Statement"]:
            assert st["Effect"] in ("Allow", "Deny"), st
            sid = st.get("Sid", "")
            assert not sid or sid not in sids, f"Sid {sid} used twice"
            sids.add(sid)
            found.append(st)
    return found


def decide(
    request: Request,
    identity: Iterable[Mapping[str, Any]],
    resource: Iterable[Mapping[str, Any]] = (),
) -> str:
    """``"allow"``, ``"explicit deny"`` or ``"implicit deny"`` (same-account principal)."""
    mine, theirs = statements(identity), list(resource)
    for st in theirs:
        assert st.get("Principal") in ({"AWS": "*"}, "*"), f"only Principal * is modelled: {st}"
    applicable = [st for st in [*mine, *theirs] if _applies(st, request)]
    if any(st["Effect"] == "Deny" for st in applicable):
        return "explicit deny"
    if any(st["Effect"] == "Allow" for st in applicable if st in mine):
        return "allow"
    return "implicit deny"
