"""Typed records inside, the same JSON outside: manifests hash as before, old records load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from statesync.errors import IntegrityError
from statesync.sync.folder.workdir import RECORD_DIR, RECORD_FILE, FileRow, WorkRecord
from statesync.sync.store import codec
from statesync.sync.store.encryption import PLAINTEXT, Encryption
from statesync.sync.store.manifest import ChunkRef, Entry, Manifest, parse_manifest

STORE = "s" * 32
#: sha256 of the canonical JSON of _manifest(enc), measured on the code before
#: ``encryption`` and chunk refs became types (when they were the dict shown
#: beside each and ``[chunk id, size]`` lists).
BEFORE = [
    (PLAINTEXT, {}, "32622ccd111bec4c989f683f1023b2e0f7e2f9db38714e2bc2ab44094fe36941"),
    (
        Encryption(secrets=True, everything=False, generation=2),
        {"secrets": True, "all": False, "generation": 2},
        "ecab39cf9a08443964d0f5b1ee8d13cd139c4c1d446ac0a03c6f64fafd3231f1",
    ),
    (
        Encryption(secrets=True, everything=True, generation=1),
        {"secrets": True, "all": True, "generation": 1},
        "04505bd4e3e78544553f72ec5996bbfc774cd078901f967eb37c4a1a2c732cf2",
    ),
]


def _manifest(enc: Encryption) -> Manifest:
    return Manifest(
        store_id=STORE,
        env="dev",
        parents=["a" * 64],
        entries=[
            Entry("b.json", "document", 0o644, 3, "d" * 64, [ChunkRef("c" * 64, 3)], ["/token"]),
            Entry(
                "a.txt",
                "binary",
                0o600,
                5,
                "e" * 64,
                [ChunkRef("f" * 64, 2), ChunkRef("0" * 64, 3)],
            ),
            Entry("l", "symlink", 0o777, 0, "1" * 64, [], [], "a.txt"),
        ],
        message="m",
        tags={"k": "v"},
        secret_files=[".env"],
        encryption=enc,
        created_at="2026-01-01T00:00:00+00:00",
        author="u",
        host="h",
        tool_version="0.0.0",
    )


@pytest.mark.parametrize(("enc", "wire", "digest"), BEFORE)
def test_a_manifest_serialises_byte_for_byte_as_before(
    enc: Encryption, wire: dict[str, Any], digest: str
) -> None:
    doc = _manifest(enc).to_json()
    assert doc["encryption"] == wire
    assert codec.sha256_hex(codec.canonical_json(doc)) == digest
    again = parse_manifest(json.loads(codec.canonical_json(doc)), "m", STORE)
    assert again.encryption == enc
    assert again.by_path()["a.txt"].chunks == [ChunkRef("f" * 64, 2), ChunkRef("0" * 64, 3)]
    assert codec.canonical_json(again.to_json()) == codec.canonical_json(doc)


def test_encryption_wire_form_round_trips() -> None:
    assert PLAINTEXT.to_json() == {} and not PLAINTEXT.encrypted
    assert Encryption.from_json({}) == PLAINTEXT
    enc = Encryption.from_json({"secrets": False, "all": True, "generation": 4})
    assert enc == Encryption(secrets=False, everything=True, generation=4) and enc.encrypted
    assert enc.key_generation() == 4
    with pytest.raises(IntegrityError):
        Encryption.from_json({"secrets": True, "generation": 0})
    with pytest.raises(IntegrityError):
        Encryption(secrets=True).key_generation()


def test_a_record_written_before_file_rows_were_typed_loads_and_saves_the_same(
    tmp_path: Path,
) -> None:
    entry: dict[str, Any] = {
        "path": "a.json",
        "kind": "document",
        "mode": 420,
        "size": 2,
        "digest": "d" * 64,
        "chunks": [["c" * 64, 2]],
        "secret_pointers": ["/k"],
        "target": None,
    }
    new = {
        "snapshot": "n" * 64,
        "serial": 3,
        "files": {"a.json": [2, 17, 99, entry]},
        "written_at_ns": 5,
        "secrets_included": True,
        "sealing": {"secrets": True, "all": False, "generation": 1},
    }
    old = {
        "snapshot": "o" * 64,
        "serial": 1,
        "files": {"a.json": [2, 17, 99, entry]},
        "written_at_ns": 4,
        "secrets_included": False,
    }  # before ``sealing`` existed
    doc = {
        "version": 1,
        "envs": {f"{STORE}/dev": new, f"{STORE}/old": old},
        "serials": {f"{STORE}/dev": 3},
    }
    (tmp_path / RECORD_DIR).mkdir(mode=0o700)  # as statesync makes it
    (tmp_path / RECORD_DIR / RECORD_FILE).write_text(json.dumps(doc, separators=(",", ":")))
    record = WorkRecord.load(tmp_path)
    rec = record.get(STORE, "dev")
    assert rec is not None and rec.sealing == Encryption(True, False, 1)
    row = rec.files["a.json"]
    assert isinstance(row, FileRow) and row.stat_key() == [2, 17, 99]
    assert row.entry() == Entry(**{**entry, "chunks": [ChunkRef("c" * 64, 2)]})
    assert row.entry().chunks[0].cid == "c" * 64 and row.entry() is not row.entry()
    assert (row.digest, row.mode) == ("d" * 64, 420)
    legacy = record.get(STORE, "old")
    assert legacy is not None and legacy.sealing == PLAINTEXT and legacy.files["a.json"] == row
    record.set(STORE, "dev", rec)
    assert record.doc["envs"][f"{STORE}/dev"] == new
    assert json.dumps(rec.to_json()) == json.dumps(new)  # same keys, same order
    record.save()
    assert json.loads((tmp_path / RECORD_DIR / RECORD_FILE).read_text())["envs"] == {
        f"{STORE}/dev": new,
        f"{STORE}/old": old,
    }
