"""save_object/load_object and save_bytes/load_bytes give back exactly what was saved."""

from __future__ import annotations

import asyncio
import io
import os
from typing import Any

import pytest

from statesync.api import Store
from statesync.errors import SecretRefused, UsageError
from tests.helpers import store_bytes
from tests.leakscan import planted

STATE: dict[str, Any] = {
    "messages": [{"role": "user", "content": "Grüße ☃ \u2028 \x00"}],
    "step": 3,
    "ratio": 0.1,
    "big": 2**70,
    "done": False,
    "none": None,
    "nested": {"deep": [[1, [2, [3]]]], "": "empty key"},
}


def test_an_object_comes_back_exactly(store: Store) -> None:
    store.save_object(STATE, "agents", agent_id="a1")
    assert store.load_object("agents") == STATE


def test_a_secret_is_sealed_with_the_environments_key_and_comes_back(keyed: Store) -> None:
    secret = planted("object-api-key")
    state = {**STATE, "openai_api_key": secret, "db": {"password": secret + "-db"}}
    keyed.save_object(state, "agents")  # no include_secrets: the env's key is enough
    assert keyed.load_object("agents") == state
    assert secret.encode() not in store_bytes(keyed.repo.backend)


def test_a_secret_without_a_key_is_refused_naming_the_key_path(store: Store) -> None:
    secret = planted("object-no-key")
    with pytest.raises(SecretRefused) as err:
        store.save_object({"config": {"api_token": secret}, "n": 1}, "agents")
    assert "object.json#/config/api_token" in str(err.value) and secret not in str(err.value)
    assert err.value.exit_code == 1
    assert store.envs() == []  # nothing was committed


def test_bytes_come_back_exactly_streamed_both_ways(store: Store) -> None:
    data = os.urandom(4 * 1024 * 1024 + 4097)  # more than the largest chunk: several chunks
    store.save_bytes(io.BytesIO(data), "agents", agent_id="a1", session_id="s1")
    assert store.load_bytes("agents") == data
    parts = list(store.iter_bytes("agents"))
    assert len(parts) > 1 and b"".join(parts) == data
    store.save_bytes(b"", "agents")
    assert store.load_bytes("agents") == b""


def test_bytes_that_look_like_json_secrets_are_not_touched(local: Store) -> None:
    data = b'{"api_key": "not parsed: bytes are bytes"}'
    local.save_bytes(data, "agents")
    assert local.load_bytes("agents") == data


def test_load_bytes_of_an_object_snapshot_is_a_clear_error(local: Store) -> None:
    local.save_object({"a": 1}, "agents")
    with pytest.raises(UsageError, match="holds no saved bytes"):
        local.load_bytes("agents")


def test_the_async_variants_do_the_same(local: Store) -> None:
    async def scenario() -> tuple[Any, bytes, list[Any]]:
        await local.asave_object(STATE, "agents", agent_id="async-agent")
        obj = await local.aload_object("agents")
        await local.asave_bytes(b"\x00\x01", "blobs", agent_id="async-agent")
        raw = await local.aload_bytes("blobs")
        found = await local.afind_snapshots("agents", tags={"agent_id": "async-agent"})
        return obj, raw, found

    obj, raw, found = asyncio.run(scenario())
    assert obj == STATE and raw == b"\x00\x01" and len(found) == 1


def test_a_secret_looking_tag_is_refused_tags_are_never_sealed(keyed: Store) -> None:
    secret = planted("object-tag")
    with pytest.raises(SecretRefused, match="tag deploy_token"):
        keyed.save_object({"a": 1}, "agents", tags={"deploy_token": secret})
    with pytest.raises(SecretRefused, match="tag note"):
        keyed.save_object({"a": 1}, "agents", tags={"note": "ghp_" + "a1B2" * 9})
    assert keyed.envs() == []
