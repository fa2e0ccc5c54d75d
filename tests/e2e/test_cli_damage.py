"""Through the CLI: damage stays local, verify names it, repair rebuilds it (local and S3)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

import pytest

from statesync.api import Store
from statesync.backends.base import OVERWRITE
from statesync.sync.store import layout
from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import tree, write
from tests.rigs import RIGS


@pytest.fixture(params=["local", "s3"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    found = RIGS[request.param](tmp_path) if request.param in RIGS else None
    if found is None:
        pytest.skip(f"{request.param} emulator not started (run scripts/test.sh)")
    assert run("--store", found, "init").returncode == 0
    return found


@pytest.fixture
def src(tmp_path: Path, url: str) -> Path:
    root = tmp_path / "src"
    write(root, "state.json", {"a": 1})
    write(root, "data.bin", os.urandom(200_000))
    assert run("--store", url, "push", str(root), "--env", "dev").returncode == 0
    return root


def backend(url: str) -> object:
    return Store.open(url).repo.backend


def only(url: str, prefix: str) -> str:
    [key] = [m.key for m in Store.open(url).repo.backend.list(prefix)]
    return key


def jrun(
    url: str, *args: str, code: int = 0, env: dict[str, str] | None = None
) -> dict[str, object]:
    proc = run("--store", url, "--json", *args, env=env)
    assert proc.returncode == code, proc.stderr
    out: dict[str, object] = json.loads(proc.stdout)
    return out


def test_verify_of_a_missing_environment_exits_1(url: str, src: Path) -> None:
    assert_one_line_error(run("--store", url, "verify", "--env", "nope"), 1, "'nope'")


def test_verify_names_a_deleted_pack_and_repair_and_a_push_heal_it(
    url: str, src: Path, tmp_path: Path
) -> None:
    first = jrun(url, "log", "--env", "dev")["snapshots"][0]["snapshot"]  # type: ignore[index]
    pack = only(url, layout.OBJECTS)
    Store.open(url).repo.backend.delete(pack)
    proc = run("--store", url, "verify")
    assert proc.returncode == 4 and pack in proc.stderr and "data.bin" in proc.stderr
    report = jrun(url, "verify", code=4)
    [damage] = cast(list[dict[str, Any]], report["damaged"])
    assert damage["object"] == pack and damage["envs"] == ["dev"]
    assert sorted(damage["files"]) == ["data.bin", "state.json"]
    lost = run("--store", url, "repair")
    assert lost.returncode == 4 and "lost: " + pack in lost.stdout and "data.bin" in lost.stdout
    # --force: an unchanged folder's push otherwise stops at "no changes" without the store
    assert run("--store", url, "push", str(src), "--env", "dev", "--force").returncode == 0
    assert run("--store", url, "repair").returncode == 0
    out = tmp_path / "out"
    pulled = run("--store", url, "pull", str(out), "--snapshot", first)
    assert pulled.returncode == 0, pulled.stderr
    assert tree(out) == tree(src)


def test_a_corrupt_index_warns_and_repair_rebuilds_it(url: str, src: Path, tmp_path: Path) -> None:
    index = only(url, layout.INDEX)
    be = Store.open(url).repo.backend
    body = bytearray(be.get(index)[0])
    body[5] ^= 0xFF
    be.put(index, bytes(body), OVERWRITE)
    assert index in run("--store", url, "verify", "--read-data").stderr  # not the cached copy
    fresh = {"XDG_CACHE_HOME": str(tmp_path / "m2-cache")}
    pulled = run("--store", url, "pull", str(tmp_path / "out"), "--env", "dev", env=fresh)
    assert pulled.returncode == 0 and index in pulled.stderr and "repair" in pulled.stderr
    assert tree(tmp_path / "out") == tree(src)
    result = jrun(url, "repair")
    assert result["rebuilt_index"] == index and result["lost"] == []
    assert run("--store", url, "verify", "--read-data").returncode == 0


def test_a_torn_ref_is_reported_and_can_be_replaced(url: str, src: Path) -> None:
    assert run("--store", url, "push", str(src), "--env", "prod", "--force").returncode == 0
    be = Store.open(url).repo.backend
    ref = be.get(layout.ref_key("dev"))[0]
    be.put(layout.ref_key("dev"), ref[:20], OVERWRITE)
    logs = jrun(url, "log", "--all-envs")
    assert list(logs["envs"]) == ["prod"]  # type: ignore[call-overload]
    assert "malformed ref" in logs["errors"]["dev"]  # type: ignore[index]
    assert "broken" in run("--store", url, "envs").stdout
    assert_one_line_error(run("--store", url, "push", str(src), "--env", "dev"), 4, "malformed ref")
    pushed = jrun(url, "push", str(src), "--env", "dev", "--force")
    assert pushed["serial"] == 2
    assert jrun(url, "envs")["errors"] == {}
