"""Links through the CLI: a virtualenv round-trips through every command, nothing escapes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.sync.store.builder import symlink_entry
from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import tree, write
from tests.rigs import RIGS
from tests.sync.folder.test_links import (
    EXPECTED_LINKS,
    file_entry,
    links,
    make_venv,
    outside_of,
    plant,
    sentinel,
)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = RIGS[request.param](tmp_path) if request.param in RIGS else None
    if url is None:
        pytest.skip(f"{request.param} emulator not started (run scripts/test.sh)")
    assert run("--store", url, "init").returncode == 0
    return url


def ok(*args: str) -> str:
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_venv_round_trips_through_every_command(store: str, tmp_path: Path) -> None:
    src = make_venv(tmp_path / "src", tmp_path / "outside")
    want = {**EXPECTED_LINKS, "shared": str(tmp_path / "outside")}
    s = ("--store", store)
    first = json.loads(ok(*s, "--json", "push", str(src), "--env", "dev"))["snapshot"]
    ok(*s, "log", "--env", "dev")
    assert " .venv/bin/python -> /usr/bin/python3\n" in ok(*s, "show", "dev")
    shown = json.loads(ok(*s, "--json", "show", "dev"))
    assert {e["path"]: e.get("target") for e in shown["entries"]}[
        ".venv/bin/python"
    ] == "/usr/bin/python3"
    ok(*s, "verify", "--read-data")
    for name in ("b.json", "b.tar.zst"):
        ok(*s, "export", "--env", "dev", "-o", str(tmp_path / name), "--include-binaries")
        env = name.replace(".", "-")
        ok(*s, "import", str(tmp_path / name), "--env", env)
        ok(*s, "pull", str(tmp_path / env), "--env", env)
        assert links(tmp_path / env) == want
    out = tmp_path / "out"
    ok(*s, "pull", str(out), "--env", "dev")
    assert tree(out) == tree(src) and links(out) == want
    write(src, "app.json", {"changed": True})
    ok(*s, "push", str(src), "--env", "dev")
    ok(*s, "rollback", "dev", first)
    ok(*s, "push", str(src), "--env", "dev", "--force")
    ok(*s, "pull", str(out), "--env", "dev")
    assert links(out) == want
    ok(*s, "verify", "--read-data")
    assert (tmp_path / "outside" / "kept.txt").read_text() == "not ours\n"


def test_pull_never_writes_through_a_local_link(store: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "logs/app.log", "from the snapshot\n")
    ok("--store", store, "push", str(src), "--env", "dev")
    world, out = sentinel(tmp_path)
    out.mkdir()
    os.symlink("../../../elsewhere", out / "logs")
    before = outside_of(world, out)
    proc = run("--store", store, "pull", str(out), "--env", "dev")
    assert_one_line_error(proc, 4, "a link in")
    assert outside_of(world, out) == before
    ok("--store", store, "pull", str(out), "--env", "dev", "--force")
    assert outside_of(world, out) == before
    assert (out / "logs/app.log").read_text() == "from the snapshot\n"


def test_a_planted_link_chain_is_refused_by_every_command(store: str, tmp_path: Path) -> None:
    api = Store.open(store)
    world, out = sentinel(tmp_path)
    write(out, "mine.txt", "mine\n")
    plant(
        api,
        [
            symlink_entry("x", "."),
            symlink_entry("x/y", "."),
            symlink_entry("x/y/z", "../.."),
            file_entry(api, "x/y/z/.bashrc", b"evil\n"),
        ],
    )
    before, inside = outside_of(world, out), tree(out)
    s = ("--store", store)
    for args in (
        ("pull", str(out), "--env", "dev"),
        ("log", "--env", "dev"),
        ("show", "dev"),
        ("export", "--env", "dev", "-o", str(tmp_path / "b.json")),
        ("verify",),
    ):
        proc = run(*s, *args)
        assert proc.returncode == 4, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert outside_of(world, out) == before and tree(out) == inside
    assert not (tmp_path / "b.json").exists()
