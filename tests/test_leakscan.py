"""The end-of-session secret scan (tests/leakscan.py) finds what it must, and only that."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from statesync import Store
from tests.helpers import write
from tests.leakscan import check, planted, scan


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder outside pytest's base temp: the session scan must not see these stores."""
    path = Path(tempfile.mkdtemp(prefix="leakscan-"))
    yield path
    shutil.rmtree(path)


def _push(root: Path, files: dict[str, object]) -> None:
    store = Store.init((root / "store").as_uri())
    for rel, data in files.items():
        write(root / "work", rel, data)
    store.push(root / "work", env="dev")


def test_a_clear_value_is_found_inside_a_compressed_pack(outside: Path) -> None:
    files: dict[str, object] = {f"f{i}.json": {"n": i} for i in range(20)}
    files["notes.json"] = {"note": planted("clear")}  # not a secret key: goes to the store
    _push(outside, files)
    assert any("/objects/" in f.name and f.planted for f in scan(outside, clouds=False)[0])


def test_a_redacted_value_is_not_found(outside: Path) -> None:
    _push(outside, {"db.json": {"password": planted("db")}, "other.json": {"n": 1}})
    assert scan(outside, clouds=False)[0] == []


def test_a_base64_copy_is_found(outside: Path) -> None:
    import base64

    blob = base64.b64encode(b"xy" + planted("b64").encode() + b"z")
    _push(outside, {"blob.json": {"data": blob.decode()}})
    assert scan(outside, clouds=False)[0] != []


# --- the independent detector (detect-secrets' credential patterns) ----------------

#: Assembled here so that this file itself holds no credential-shaped string.
AWS_KEY = "AKIA" + "IOSFODNN7" + "ABCDEFG"
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----"


def test_the_detector_finds_a_private_key_inside_a_compressed_blob() -> None:
    import zstandard

    raw = b"\x00junk" + zstandard.ZstdCompressor().compress(f"x\n{PEM}\nMIIE\n".encode())
    finding = check("objects/ab/pack", raw)
    assert finding is not None and "PrivateKeyDetector" in finding.detectors
    assert not finding.planted


def test_the_detector_finds_an_aws_key_in_a_log(outside: Path) -> None:
    (outside / "push.vv.log").write_text(f"statesync: DEBUG: sent {AWS_KEY}\n")
    (outside / "clean.vv.log").write_text("statesync: DEBUG: nothing here\n")
    found, count = scan(outside, clouds=False, workers=1)
    assert count == 2
    hits = [(Path(f.name).name, f.detectors) for f in found]
    assert hits == [("push.vv.log", ("AWSKeyDetector",))]


def test_hashes_ciphertext_and_redacted_keys_are_not_hits(outside: Path) -> None:
    _push(outside, {"db.json": {"password": planted("db"), "token": "x" * 40}})
    found, count = scan(outside, clouds=False)
    assert count > 3 and found == []
