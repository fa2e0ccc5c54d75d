"""Terraform state documents and lock records, as the http backend sees them.

Only what the server must judge is read: a state's ``lineage`` and
``serial`` (a write that changes the one or lowers the other would lose
someone's state) and where its sensitive values are (outputs marked
``sensitive`` and each instance's ``sensitive_attributes`` paths). The state
itself is stored byte for byte, never re-serialised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from statesync.errors import UsageError

#: The one file of a Terraform environment's snapshots.
STATE_FILE = "terraform.tfstate"


@dataclass(frozen=True)
class StateHead:
    """What a state says about its own history."""

    lineage: str
    serial: int


def parse_state(data: bytes) -> dict[str, Any]:
    """The state as JSON; :class:`UsageError` unless it is a JSON object."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):  # (nested past Python's limit)
        raise UsageError("the body is not a JSON Terraform state") from None
    if not isinstance(doc, dict):
        raise UsageError("the body is not a JSON Terraform state")
    return doc


def head_of(doc: dict[str, Any]) -> StateHead:
    serial = doc.get("serial", 0)
    return StateHead(str(doc.get("lineage", "")), serial if type(serial) is int else 0)


def _escape(step: object) -> str:
    return str(step).replace("~", "~0").replace("/", "~1")


def _step(step: Any) -> str | None:
    """One step of a ``sensitive_attributes`` path as a pointer segment (None: unknown kind)."""
    if not isinstance(step, dict):
        return None
    value = step.get("value")
    if step.get("type") == "get_attr":
        return _escape(value)
    if step.get("type") == "index" and isinstance(value, dict):
        return _escape(value.get("value"))
    return None


def _attribute_pointers(index: int, resource: Any) -> list[str]:
    out = []
    instances = resource.get("instances") if isinstance(resource, dict) else None
    for j, inst in enumerate(instances if isinstance(instances, list) else []):
        paths = inst.get("sensitive_attributes") if isinstance(inst, dict) else None
        for path in paths if isinstance(paths, list) else []:
            steps = [_step(s) for s in path] if isinstance(path, list) else [None]
            if steps and None not in steps:
                base = f"/resources/{index}/instances/{j}/attributes"
                out.append(base + "".join(f"/{s}" for s in steps))
    return out


def sensitive_pointers(doc: dict[str, Any]) -> list[str]:
    """JSON pointers of every sensitive value: sensitive outputs and sensitive attributes."""
    out = []
    outputs = doc.get("outputs")
    for name, output in outputs.items() if isinstance(outputs, dict) else []:
        if isinstance(output, dict) and output.get("sensitive") is True:
            out.append(f"/outputs/{_escape(name)}/value")
    resources = doc.get("resources")
    for i, resource in enumerate(resources if isinstance(resources, list) else []):
        out += _attribute_pointers(i, resource)
    return out


@dataclass(frozen=True)
class TfLock:
    """A Terraform LockInfo as the client sent it (kept verbatim for 423 answers)."""

    lock_id: str
    body: bytes

    @classmethod
    def parse(cls, body: bytes) -> TfLock:
        """:class:`UsageError` unless ``body`` is a JSON object with a string ``ID``."""
        try:
            doc = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise UsageError("the lock body is not JSON LockInfo") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("ID"), str) or not doc["ID"]:
            raise UsageError("the lock body has no ID")
        return cls(doc["ID"], body)


#: How a Terraform lock is recorded in the lease's ``purpose`` (the LockInfo follows).
PURPOSE_PREFIX = "terraform-lock "


def to_purpose(lock: TfLock) -> str:
    return PURPOSE_PREFIX + lock.body.decode("utf-8")


def from_purpose(purpose: str) -> TfLock | None:
    """The Terraform lock a lease records; None for a lease taken by anything else."""
    if not purpose.startswith(PURPOSE_PREFIX):
        return None
    try:
        return TfLock.parse(purpose[len(PURPOSE_PREFIX) :].encode("utf-8"))
    except UsageError:
        return None
