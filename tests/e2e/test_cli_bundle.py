"""``statesync export`` / ``statesync import`` through the real command line.

Exit codes (ARCHITECTURE.md §5): 0 ok, 2 usage, 4 integrity (a bad bundle); errors
are one line on stderr, never a traceback, never a secret value.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import tree, write

SECRET = "cli-s3cret-value-9876"


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    env.pop("STATESYNC_STORE", None)
    return subprocess.run(
        [sys.executable, "-m", "statesync.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("statesync: error: ") and text in lines[0], lines[0]
    assert "Traceback" not in proc.stderr and SECRET not in proc.stderr
    return lines[0]


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = (tmp_path / "store").as_uri()
    ok(run(tmp_path, "--store", url, "--json", "init"))
    src = tmp_path / "src"
    write(src, "app.json", {"name": "agent", "api_token": SECRET})
    write(src, "policy.yaml", "network:\n  allow: []\n")
    write(src, "bin/tool.wasm", b"\x00asm" + os.urandom(50_000))
    ok(run(tmp_path, "--store", url, "--json", "push", str(src), "--env", "dev"))
    return url


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".tar.zst"])
def test_export_then_import_round_trips(tmp_path: Path, store: str, suffix: str) -> None:
    out = tmp_path / f"state{suffix}"
    exported = ok(
        run(
            tmp_path,
            "--store",
            store,
            "--json",
            "export",
            "--env",
            "dev",
            "-o",
            str(out),
            "--include-binaries",
            "--description",
            "handoff",
            "--tag",
            "from=agent-a",
        )
    )
    assert exported["files"] == 3 and exported["binaries_included"] == 1
    assert exported["format"] == suffix.lstrip(".")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    imported = ok(run(tmp_path, "--store", store, "--json", "import", str(out), "--env", "b"))
    assert imported["env"] == "b" and imported["serial"] == 1 and imported["changed"] is True
    ok(run(tmp_path, "--store", store, "--json", "pull", str(tmp_path / "a"), "--env", "dev"))
    ok(run(tmp_path, "--store", store, "--json", "pull", str(tmp_path / "b"), "--env", "b"))
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert SECRET not in (tmp_path / "b" / "app.json").read_text()


def test_path_filter_and_skip_existing(tmp_path: Path, store: str) -> None:
    out = tmp_path / "policy.json"
    res = ok(
        run(
            tmp_path,
            "--store",
            store,
            "--json",
            "export",
            "--env",
            "dev",
            "-o",
            str(out),
            "--path",
            "*.yaml",
        )
    )
    assert res["files"] == 1
    doc = json.loads(out.read_text())
    assert [c["path"] for c in doc["components"]] == ["policy.yaml"]
    assert doc["policies"] == ["policy.yaml"]
    again = ok(
        run(
            tmp_path,
            "--store",
            store,
            "--json",
            "import",
            str(out),
            "--env",
            "dev",
            "--skip-existing",
        )
    )
    assert again["skipped"] == ["policy.yaml"] and again["changed"] is False


def test_human_output_of_export_and_import(tmp_path: Path, store: str) -> None:
    out = tmp_path / "s.yaml"
    proc = run(tmp_path, "--store", store, "export", "--env", "dev", "-o", str(out))
    assert proc.returncode == 0 and proc.stderr == "" and "s.yaml" in proc.stdout
    proc = run(tmp_path, "--store", store, "import", str(out), "--env", "copy")
    assert proc.returncode == 0 and "bin/tool.wasm" in proc.stdout  # listed as missing


def test_unknown_suffix_is_exit_2(tmp_path: Path, store: str) -> None:
    proc = run(tmp_path, "--store", store, "export", "--env", "dev", "-o", str(tmp_path / "x.zip"))
    one_line_error(proc, 2, "unknown bundle type")
    assert not (tmp_path / "x.zip").exists()
    (tmp_path / "x.zip").write_text("{}")
    one_line_error(
        run(tmp_path, "--store", store, "import", str(tmp_path / "x.zip")), 2, "unknown bundle type"
    )


def test_missing_bundle_is_exit_2(tmp_path: Path, store: str) -> None:
    proc = run(tmp_path, "--store", store, "import", str(tmp_path / "none.json"))
    one_line_error(proc, 2, "no such bundle file")


def test_filter_matching_nothing_is_exit_2(tmp_path: Path, store: str) -> None:
    proc = run(
        tmp_path,
        "--store",
        store,
        "export",
        "--env",
        "dev",
        "-o",
        str(tmp_path / "x.json"),
        "--path",
        "nothing/**",
    )
    one_line_error(proc, 2, "matches")


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".tar.zst"])
def test_truncated_bundle_is_exit_4_and_writes_nothing(
    tmp_path: Path, store: str, suffix: str
) -> None:
    out = tmp_path / f"full{suffix}"
    ok(
        run(
            tmp_path,
            "--store",
            store,
            "--json",
            "export",
            "--env",
            "dev",
            "-o",
            str(out),
            "--include-binaries",
        )
    )
    data = out.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    one_line_error(run(tmp_path, "--store", store, "import", str(cut), "--env", "new"), 4, cut.name)
    envs = ok(run(tmp_path, "--store", store, "--json", "envs"))
    assert envs["envs"] == ["dev"]


def test_bad_bundles_are_exit_4(tmp_path: Path, store: str) -> None:
    cases = {
        "version.json": {"format": "statesync-bundle", "version": 99},
        "evil.json": {
            "format": "statesync-bundle",
            "version": 1,
            "created_at": "x",
            "component_count": 1,
            "metadata": {},
            "components": [
                {
                    "path": "../evil",
                    "kind": "document",
                    "mode": 420,
                    "size": 1,
                    "sha256": "0" * 64,
                    "encoding": "utf-8",
                    "content": "x",
                }
            ],
        },
    }
    expect = {"version.json": "version 99", "evil.json": "unsafe path '../evil'"}
    for name, doc in cases.items():
        (tmp_path / name).write_text(json.dumps(doc))
        one_line_error(
            run(tmp_path, "--store", store, "import", str(tmp_path / name)), 4, expect[name]
        )
    (tmp_path / "broken.json").write_text('{"format": "statesync-bundle", ')
    one_line_error(
        run(tmp_path, "--store", store, "import", str(tmp_path / "broken.json")),
        4,
        "not valid JSON",
    )
    assert ok(run(tmp_path, "--store", store, "--json", "envs"))["envs"] == ["dev"]
