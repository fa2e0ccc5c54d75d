"""LangGraph names in the store: free-text ids never become raw object names."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statesync.errors import UsageError
from statesync.sync.store import layout

NAMES = st.text(min_size=0, max_size=300)
CHECKPOINT_IDS = st.text(min_size=1, max_size=50)


@given(thread=NAMES, ns=NAMES, checkpoint_id=CHECKPOINT_IDS, body=st.binary(max_size=64))
def test_every_key_parses_back_to_what_named_it(
    thread: str, ns: str, checkpoint_id: str, body: bytes
) -> None:
    t, n, c = (
        layout.langgraph_name(thread),
        layout.langgraph_name(ns),
        layout.langgraph_checkpoint_name(checkpoint_id),
    )
    digest = hashlib.sha256(body).hexdigest()
    cp_key = layout.langgraph_checkpoint_key(t, n, c, digest)
    w_key = layout.langgraph_writes_key(t, n, c)
    assert cp_key.startswith(layout.langgraph_checkpoint_slot(t, n, c) + ".")
    assert layout.parse_langgraph_key(cp_key) == layout.LangGraphKey(
        "checkpoint", t, n, checkpoint_id, digest
    )
    assert layout.parse_langgraph_key(w_key) == layout.LangGraphKey("writes", t, n, checkpoint_id)
    assert layout.parse_langgraph_key(layout.langgraph_head_key(t)) == layout.LangGraphKey(
        "head", t
    )
    for key in (cp_key, w_key):
        assert ".." not in key.split("/") and "//" not in key and len(key) < 1024


def test_a_checkpoint_key_needs_a_sha256_digest() -> None:
    with pytest.raises(UsageError):
        layout.langgraph_checkpoint_key("0" * 32, "0" * 32, "00", "not-a-digest")


@given(a=CHECKPOINT_IDS, b=CHECKPOINT_IDS)
def test_checkpoint_names_sort_as_their_ids(a: str, b: str) -> None:
    assert (layout.langgraph_checkpoint_name(a) < layout.langgraph_checkpoint_name(b)) == (a < b)


@pytest.mark.parametrize(
    "key",
    [
        "langgraph/threads/../head",
        "langgraph/threads/x/head",
        "refs/default",
        "langgraph/threads/" + "0" * 32 + "/a/c/00",
        "langgraph/threads/" + "0" * 32 + "/" + "0" * 32 + "/c/zz",
        "langgraph/threads/" + "0" * 32 + "/" + "0" * 32 + "/c/00",  # no content address
        "langgraph/threads/" + "0" * 32 + "/" + "0" * 32 + "/c/00." + "a" * 63,
        "langgraph/threads/" + "0" * 32 + "/" + "0" * 32 + "/w/00." + "a" * 64,
    ],
)
def test_foreign_keys_are_not_langgraph_objects(key: str) -> None:
    assert layout.parse_langgraph_key(key) is None


def test_an_oversized_checkpoint_id_is_refused() -> None:
    with pytest.raises(UsageError):
        layout.langgraph_checkpoint_name("x" * 201)
    with pytest.raises(UsageError):
        layout.langgraph_checkpoint_name("")
