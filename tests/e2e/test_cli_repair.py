"""Through the CLI, on the local store and each emulator: a damaged pack is repaired for good.

The reproduction of issue 11's last blocker: one byte flipped in the middle
of a pack. verify names it; ``repair --read-data`` keeps what still verifies,
moves the pack aside and names what is lost; a plain push of the folder that
still holds the files uploads the lost chunks again; verify is clean, and
the old snapshot reads again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.backends.base import OVERWRITE
from statesync.sync.store import layout
from tests.e2e.test_cli import run
from tests.helpers import tree, write
from tests.rigs import RIGS


@pytest.fixture(params=["local", "s3", "azure", "gcs"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    found = RIGS[request.param](tmp_path) if request.param in RIGS else None
    if found is None:
        pytest.skip(f"{request.param} emulator not started (run scripts/test.sh)")
    assert run("--store", found, "init").returncode == 0
    return found


def _keys(url: str, prefix: str) -> list[str]:
    return sorted(m.key for m in Store.open(url).repo.backend.list(prefix))


def _flip_middle_byte(url: str, key: str) -> None:
    backend = Store.open(url).repo.backend
    body = bytearray(backend.get(key)[0])
    body[len(body) // 2] ^= 0x55
    backend.put(key, bytes(body), OVERWRITE)


def test_a_flipped_pack_is_repaired_and_a_plain_push_heals_it(url: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "c.yaml", "".join(f"key{i}: value {i * 7}\n" for i in range(300)))
    for name in "abd":
        write(src, f"{name}.json", {name: list(range(200))})
    pushed = run("--store", url, "--json", "push", str(src), "--env", "dev")
    first = json.loads(pushed.stdout)["snapshot"]
    [pack] = _keys(url, layout.OBJECTS)
    _flip_middle_byte(url, pack)

    seen = run("--store", url, "--json", "verify", "--read-data")
    assert seen.returncode == 4
    [damage] = json.loads(seen.stdout)["damaged"]
    assert damage["object"] == pack and damage["envs"] == ["dev"]
    assert damage["snapshots"] == [first] and damage["files"]

    repaired = run("--store", url, "repair", "--read-data")
    assert repaired.returncode == 4, repaired.stderr
    assert f"moved damaged {pack} aside to {layout.damaged_key(pack)}" in repaired.stdout
    assert f"lost: {pack}" in repaired.stdout and "a push from a folder" in repaired.stdout
    assert all(f in repaired.stdout for f in damage["files"])
    assert _keys(url, layout.DAMAGED) == [layout.damaged_key(pack)]

    healed = run("--store", url, "push", str(src), "--env", "dev")
    assert healed.returncode == 0, healed.stderr
    assert "no changes" in healed.stdout and "re-uploaded" in healed.stdout

    clean = run("--store", url, "verify", "--read-data")
    assert clean.returncode == 0, clean.stderr
    out = tmp_path / "out"
    pulled = run("--store", url, "pull", str(out), "--snapshot", first)
    assert pulled.returncode == 0, pulled.stderr
    assert tree(out) == tree(src)
