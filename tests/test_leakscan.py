"""The end-of-session secret scan (tests/leakscan.py) finds what it must, and only that."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from statesync import Store
from tests.helpers import write
from tests.leakscan import planted, scan


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
    assert any("/objects/" in name for name in scan(outside, clouds=False)[0])


def test_a_redacted_value_is_not_found(outside: Path) -> None:
    _push(outside, {"db.json": {"password": planted("db")}, "other.json": {"n": 1}})
    assert scan(outside, clouds=False)[0] == []


def test_a_base64_copy_is_found(outside: Path) -> None:
    import base64

    blob = base64.b64encode(b"xy" + planted("b64").encode() + b"z")
    _push(outside, {"blob.json": {"data": blob.decode()}})
    assert scan(outside, clouds=False)[0] != []
