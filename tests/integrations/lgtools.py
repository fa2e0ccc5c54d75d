"""Small builders the LangGraph saver tests share: a checkpoint and a config."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6


def checkpoint(values: dict[str, Any]) -> Any:
    """A fresh checkpoint (a new, time-ordered id) holding ``values``, each at version 1."""
    cp = empty_checkpoint()
    cp["id"] = str(uuid6(clock_seq=-1))
    cp["channel_values"] = dict(values)
    cp["channel_versions"] = {k: 1 for k in values}
    return cp


def conf(thread: str, ns: str = "") -> dict[str, Any]:
    """The runnable config naming ``thread`` and namespace ``ns``."""
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}
