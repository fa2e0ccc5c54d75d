"""Parts of a folder: ``pull --path``, ``push/pull --exclude`` and ``.statesyncignore``.

Patterns have ``.gitignore`` semantics (the matcher of the secret globs):
negation, folders, anchors. What a selection leaves out is never written,
removed or recorded.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.inproc import Cli
from tests.helpers import tree, write


@pytest.fixture
def cli(capfdbinary: pytest.CaptureFixture[bytes], tmp_path: Path) -> Cli:
    run = Cli((tmp_path / "store").as_uri(), capfdbinary)
    run.ok("init")
    return run


def stored_paths(cli: Cli, env: str = "default") -> set[str]:
    return {e["path"] for e in cli.ok("--json", "show", env).json()["entries"]}


def snapshot_of(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    write(src, "config/app.json", '{"a": 1}\n')
    write(src, "config/db.json", '{"b": 2}\n')
    write(src, "tasks/one.json", '{"t": 1}\n')
    write(src, "notes.txt", "notes\n")
    return src


def test_pull_path_writes_only_matching_files_and_leaves_the_rest(cli: Cli, tmp_path: Path) -> None:
    cli.ok("push", str(snapshot_of(tmp_path)))
    dst = tmp_path / "dst"
    write(dst, "notes.txt", "my own notes\n")  # in the snapshot, not selected: untouched
    write(dst, "local.json", "{}\n")  # not in the snapshot: not removed
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in dst.rglob("*")}
    cli.ok("pull", str(dst), "--path", "config/", "--path", "/tasks/one.json", "--force")
    got = tree(dst)
    assert set(got) == {
        "notes.txt",
        "local.json",
        "config/app.json",
        "config/db.json",
        "tasks/one.json",
    }
    assert (dst / "config/app.json").read_bytes() == b'{"a": 1}\n'
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before} == before
    assert not (dst / ".statesync").exists()  # a partial pull is not a sync: no record


def test_pull_path_keeps_the_folder_record_as_it_was(cli: Cli, tmp_path: Path) -> None:
    src = snapshot_of(tmp_path)
    cli.ok("push", str(src))
    record = (src / ".statesync" / "state.json").read_bytes()
    write(src, "notes.txt", "changed here\n")
    cli.ok("pull", str(src), "--path", "*.json", "--force")
    assert (src / ".statesync" / "state.json").read_bytes() == record
    assert (src / "notes.txt").read_text() == "changed here\n"
    assert cli.ok("--json", "status", str(src)).json()["modified"] == ["notes.txt"]


def test_pull_path_matching_nothing_fails_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    cli.ok("push", str(snapshot_of(tmp_path)))
    dst = tmp_path / "dst"
    cli("pull", str(dst), "--path", "nothing/*.yaml").one_line_error(1, "matches --path")
    assert not dst.exists()
    assert not [n for n in os.listdir(tmp_path) if "dst" in n]  # no staging folder left
    cli("pull", str(dst), "--path", "!").one_line_error(2, "invalid pattern")


def test_statesyncignore_folders_negation_and_anchors(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, ".statesyncignore", "# build output\nbuild/\n*.log\n!keep.log\n/top.tmp\n")
    for rel in (
        "build/a.o",
        "sub/build/b.o",
        "x.log",
        "sub/keep.log",
        "keep.log",
        "top.tmp",
        "sub/top.tmp",
        "state.json",
    ):
        write(src, rel, rel)
    cli.ok("push", str(src))
    assert stored_paths(cli) == {
        ".statesyncignore",
        "keep.log",
        "sub/keep.log",
        "sub/top.tmp",
        "state.json",
    }


def test_push_exclude_adds_to_the_ignore_file_and_wins_ties(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, ".statesyncignore", "*.log\n")
    write(src, "a.log", "a")
    write(src, "cache/x.json", "{}")
    write(src, "state.json", "{}")
    cli.ok("push", str(src), "--exclude", "cache/", "--exclude", "!a.log")
    assert stored_paths(cli) == {".statesyncignore", "a.log", "state.json"}
    cli("push", str(src), "--exclude", "\\").one_line_error(2, "invalid pattern")
    cli("push", str(src), "--dry-run", "--exclude", "x").one_line_error(
        2, "does not take --exclude"
    )


def test_pull_never_removes_or_overwrites_ignored_files(cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write(other, "state.json", '{"v": 1}\n')
    write(other, "run.log", "theirs\n")
    cli.ok("push", str(other), "--env", "dev")
    src = tmp_path / "src"
    write(src, ".statesyncignore", "*.log\nscratch/\n")
    write(src, "run.log", "mine\n")
    write(src, "scratch/big.bin", b"\0" * 1000)
    cli.ok("pull", str(src), "--env", "dev", "--force")
    assert (src / "run.log").read_text() == "mine\n"  # in the snapshot, but ignored here
    assert (src / "scratch/big.bin").read_bytes() == b"\0" * 1000
    assert (src / "state.json").read_text() == '{"v": 1}\n'
    cli.ok("pull", str(src), "--env", "dev", "--force", "--exclude", "state.json")
    write(src, "state.json", '{"v": 2}\n')
    cli.ok("pull", str(src), "--env", "dev", "--force", "--exclude", "state.json")
    assert (src / "state.json").read_text() == '{"v": 2}\n'


def test_an_ignore_file_that_is_a_link_is_refused(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(tmp_path, "elsewhere", "*.json\n")
    write(src, "state.json", "{}")
    os.symlink(tmp_path / "elsewhere", src / ".statesyncignore")
    cli("push", str(src)).one_line_error(1, "is a link")
