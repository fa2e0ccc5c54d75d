"""The store's promotion rule: ``policy/promotion.json``, the same for every caller.

The rule lists the promotion paths allowed (``"dev->staging"``). No rule
object means every promotion is allowed (stores made before the rule
existed). The rule is written only by an explicit command (``statesync
promotion allow|deny``), with a conditional write so two editors never lose
an update, and signed with the writer's Ed25519 key when one is configured;
a rule whose signature does not verify is an :class:`IntegrityError`.

``[promotion] allowed`` in statesync.toml stays a local, *additional*
restriction: a promotion must pass both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from statesync.backends.base import CREATE, Update, Version
from statesync.errors import (
    AlreadyExists,
    Contention,
    IntegrityError,
    NotFound,
    PolicyViolation,
    PreconditionFailed,
    UsageError,
)
from statesync.optimistic import AGAIN, Again, retry_conditional
from statesync.sync.store import layout
from statesync.sync.store.repo import Repo
from statesync.whoami import user_at_host

_ATTEMPTS = 5


@dataclass(frozen=True)
class PromotionRule:
    """The allowed promotion paths, who wrote them and with which key."""

    allowed: tuple[str, ...]
    updated_by: str = ""
    updated_at: str = ""
    signer: str | None = None
    signature: str | None = field(default=None, repr=False)

    def payload(self) -> bytes:
        """The bytes a signature covers."""
        body = {
            "allowed": list(self.allowed),
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }
        return b"statesync-promotion-rule-v1\n" + json.dumps(body, sort_keys=True).encode()

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed": list(self.allowed),
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
            "signed_by": self.signer,
        }


def parse_path(text: str) -> str:
    """``FROM->TO`` with valid, different names; :class:`UsageError` otherwise."""
    src, sep, dst = text.partition("->")
    if not sep:
        raise UsageError(f"promotion path must be FROM->TO, got {text!r}")
    src, dst = layout.validate_env(src.strip()), layout.validate_env(dst.strip())
    if src == dst:
        raise UsageError(f"promotion path {text!r} goes nowhere")
    return f"{src}->{dst}"


def _decode(body: bytes) -> PromotionRule:
    where = layout.promotion_rule_key()
    try:
        doc = json.loads(body)
        allowed = doc["allowed"]
        if not isinstance(allowed, list) or not all(isinstance(p, str) for p in allowed):
            raise TypeError
        sig = doc.get("signature")
        rule = PromotionRule(
            tuple(allowed),
            str(doc.get("updated_by", "")),
            str(doc.get("updated_at", "")),
            str(sig["public"]) if sig else None,
            str(sig["sig"]) if sig else None,
        )
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(f"{where}: malformed promotion rule") from None
    if rule.signer is not None:
        from statesync.crypto.signing import verify

        if not verify(rule.signer, rule.payload(), str(rule.signature)):
            raise IntegrityError(f"{where}: signature does not match (tampered or forged)")
    return rule


def _encode(rule: PromotionRule) -> bytes:
    doc: dict[str, Any] = {
        "version": 1,
        "allowed": list(rule.allowed),
        "updated_by": rule.updated_by,
        "updated_at": rule.updated_at,
    }
    if rule.signer is not None:
        doc["signature"] = {"public": rule.signer, "sig": rule.signature}
    return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"


def _read(repo: Repo) -> tuple[PromotionRule, Version] | None:
    try:
        body, version = repo.backend.get(layout.promotion_rule_key())
    except NotFound:
        return None
    return _decode(body), version


def read_rule(repo: Repo) -> PromotionRule | None:
    """The store's rule, or None when the store has none (everything allowed)."""
    found = _read(repo)
    return found[0] if found else None


def check(repo: Repo, src_env: str, dst_env: str) -> None:
    """Raise :class:`PolicyViolation` unless the store's rule allows ``src_env->dst_env``."""
    rule = read_rule(repo)
    path = f"{src_env}->{dst_env}"
    if rule is None or path in rule.allowed:
        return
    raise PolicyViolation(
        f"promotion {src_env} -> {dst_env} is not allowed by the store's "
        f"promotion rule (allowed: {', '.join(rule.allowed) or 'none'}; "
        f"change it with: statesync promotion allow {path})"
    )


def change(repo: Repo, allow: list[str], deny: list[str]) -> PromotionRule:
    """Add ``allow`` and remove ``deny`` paths from the rule; returns the rule written.

    The first change of a store without a rule starts from an empty list (so
    only what is allowed explicitly is). Conditional on the version read;
    raises :class:`Contention` if the rule kept changing under us.
    """
    add, remove = [parse_path(p) for p in allow], {parse_path(p) for p in deny}

    def attempt(_: int) -> PromotionRule | Again:
        found = _read(repo)
        current = list(found[0].allowed) if found else []
        allowed = [p for p in dict.fromkeys(current + add) if p not in remove]
        rule = _signed(
            repo,
            PromotionRule(
                tuple(allowed), user_at_host(), datetime.now(UTC).isoformat(timespec="seconds")
            ),
        )
        mode = Update(found[1]) if found else CREATE
        try:
            repo.backend.put(layout.promotion_rule_key(), _encode(rule), mode)
        except (AlreadyExists, PreconditionFailed):
            return AGAIN  # someone else changed the rule: apply ours to theirs
        return rule

    return retry_conditional(
        attempt,
        attempts=_ATTEMPTS,
        gave_up=lambda: Contention(
            f"{layout.promotion_rule_key()} changed {_ATTEMPTS} times while being written; "
            "try again"
        ),
    )


def _signed(repo: Repo, rule: PromotionRule) -> PromotionRule:
    if repo.signer is None:
        return rule
    return PromotionRule(
        rule.allowed,
        rule.updated_by,
        rule.updated_at,
        repo.signer.public,
        repo.signer.sign(rule.payload()),
    )
