"""Persist snapshots (.json.gz): content_hash exactly as persist-core computes it, both ways.

The fixture is written by hand as persist-core writes it: the agent state in
serde_json's compact form (keys sorted, floats as ryu prints them), hashed with
SHA-256, inside the compact container, gzip'd.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from statesync.api import Store
from statesync.errors import BundleError
from statesync.formats import persist
from tests.formats.conftest import assert_valid

#: serde_json::to_string of the agent state, written by hand
STATE_TEXT = (
    '{"big":1e20,"history":[{"content":"Bonjour ☃ — ça va?","role":"user"},'
    '{"content":"line1\\nline2\\t\\"q\\" \\u0001","role":"assistant"}],'
    '"n":100.0,"ok":true,"small":1.5e-7,"tiny":0.00001,"z":null,"é":-2}'
)
META_FIELDS = (
    '"agent_id":"conversation_agent","session_id":"default_session",'
    '"snapshot_index":3,"timestamp":"2025-07-08T02:11:15Z","content_hash":"{h}",'
    '"format_version":1,"snapshot_id":"0b8f6c1e-7f4e-4c38-9d0a-2f4a1c2b3d4e",'
    '"description":"After greeting interaction","uncompressed_size":{n},'
    '"compressed_size":null,"compression_algorithm":"gzip"'
)


def container(state_text: str = STATE_TEXT, hash_of: str | None = None) -> str:
    body = (hash_of or state_text).encode()
    fields = META_FIELDS.replace("{h}", hashlib.sha256(body).hexdigest()).replace(
        "{n}", str(len(body))
    )
    return '{"metadata":{' + fields + '},"agent_state":' + state_text + "}"


@pytest.fixture
def snapshot_file(tmp_path: Path) -> Path:
    path = tmp_path / "agent_snapshot.json.gz"
    path.write_bytes(gzip.compress(container().encode(), compresslevel=6))
    return path


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    return subprocess.run(
        [sys.executable, "-m", "statesync.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


def test_our_compact_form_is_serdes_text() -> None:
    assert persist.compact(json.loads(STATE_TEXT)) == STATE_TEXT
    digest, size = persist.content_hash(json.loads(STATE_TEXT))
    assert digest == hashlib.sha256(STATE_TEXT.encode()).hexdigest()
    assert size == len(STATE_TEXT.encode())
    # persist-core's own test vector (metadata.rs test_content_hash) is plain SHA-256
    assert hashlib.sha256(b"test data").hexdigest().startswith("916f0027a575074c")


@pytest.mark.parametrize(
    "value,text",
    [
        (1.0, "1.0"),
        (0.1, "0.1"),
        (1e20, "1e20"),
        (1.5e-7, "1.5e-7"),
        (100.0, "100.0"),
        (1e16, "1e16"),
        (1e15, "1000000000000000.0"),
        (1e-5, "0.00001"),
        (1e-6, "1e-6"),
        (-2.5, "-2.5"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e308"),
        (123456.789e3, "123456789.0"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
    ],
)
def test_floats_are_printed_as_rust_ryu_prints_them(value: float, text: str) -> None:
    assert persist.ryu(value) == text


def test_integers_beyond_64_bits_are_floats_as_in_serde_json() -> None:
    assert (
        persist.compact([2**64 - 1, -(2**63), 2**64])
        == "[18446744073709551615,-9223372036854775808,1.8446744073709552e19]"
    )


def test_import_then_export_gives_back_the_same_file(tmp_path: Path, snapshot_file: Path) -> None:
    store = Store.init((tmp_path / "store").as_uri())
    result = store.import_file(snapshot_file, "agents")
    assert getattr(result, "format", None) == "persist" and result.imported == ["agent_state.json"]
    shown = store.show("agents")
    assert shown["tags"]["agent_id"] == "conversation_agent"
    assert shown["tags"]["session_id"] == "default_session"
    out = tmp_path / "again.json.gz"
    store.export_format(out, "persist", env="agents")
    assert gzip.decompress(out.read_bytes()).decode() == container()
    assert (
        store.find_snapshots("agents", tags={"agent_id": "conversation_agent"})[0].snapshot
        == result.snapshot
    )


def test_a_tampered_snapshot_is_refused_with_exit_4(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    assert run(tmp_path, "--store", url, "init").returncode == 0
    forged = STATE_TEXT.replace('"n":100.0', '"n":101.0')
    path = tmp_path / "forged.json.gz"
    path.write_bytes(gzip.compress(container(forged, hash_of=STATE_TEXT).encode()))
    proc = run(tmp_path, "--store", url, "import", str(path), "--env", "agents")
    assert proc.returncode == 4, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "content_hash does not match" in lines[0]
    assert Store.open(url).envs() == []


@pytest.mark.parametrize("damage", ["truncated", "not-json", "no-metadata"])
def test_a_damaged_snapshot_is_refused(tmp_path: Path, damage: str) -> None:
    raw = gzip.compress(container().encode())
    data = {
        "truncated": raw[: len(raw) // 2],
        "not-json": gzip.compress(b"{not json"),
        "no-metadata": gzip.compress(b'{"agent_state": {}}'),
    }[damage]
    path = tmp_path / "bad.json.gz"
    path.write_bytes(data)
    store = Store.init((tmp_path / "store").as_uri())
    with pytest.raises(BundleError) as err:
        store.import_file(path, "agents")
    assert err.value.exit_code == 4 and "\n" not in str(err.value)
    assert store.envs() == []


def test_a_saved_object_exports_as_a_valid_persist_snapshot(
    any_store_url: str, tmp_path: Path
) -> None:
    store = Store.init(any_store_url)
    state: dict[str, Any] = {"messages": [{"role": "user", "content": "héllo"}], "step": 2.5}
    store.save_object(
        state, "agents", agent_id="planner", session_id="s-42", description="after planning"
    )
    out = tmp_path / "planner.json.gz"
    store.export_format(out, "persist", env="agents")
    snap = persist.read(out.read_bytes(), out.name)  # verifies content_hash
    assert snap.agent_state == state
    assert (snap.metadata.agent_id, snap.metadata.session_id) == ("planner", "s-42")
    assert snap.metadata.description == "after planning"
    assert_valid("persist-snapshot", json.loads(gzip.decompress(out.read_bytes())))
    again = Store.init((tmp_path / "other").as_uri())
    again.import_file(out, "agents")  # and statesync reads what it wrote
    assert again.show("agents")["tags"]["agent_id"] == "planner"


def test_an_uncompressed_snapshot_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "plain.json.gz"  # persist-core's NoCompression adapter: plain JSON
    path.write_text(container())
    store = Store.init((tmp_path / "store").as_uri())
    assert getattr(store.import_file(path, "agents"), "format", None) == "persist"
    assert store.show("agents")["tags"]["snapshot_index"] == "3"
