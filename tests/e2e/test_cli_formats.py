"""``statesync import`` of Wassette and Persist files and ``export --format``, through the CLI.

Exit codes (DESIGN.md §7): 0 ok, 2 usage (a file in no known format), 4 a
malformed or tampered file; errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.formats.conftest import FIXTURES, assert_valid


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
    out: dict[str, object] = json.loads(proc.stdout)
    return out


def test_wassette_import_and_export_through_the_cli(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    ok(run(tmp_path, "--store", url, "--json", "init"))
    got = ok(
        run(
            tmp_path,
            "--store",
            url,
            "--json",
            "import",
            str(FIXTURES / "wassette-snapshot.json"),
            "--env",
            "dev",
        )
    )
    assert got["format"] == "wassette" and got["env"] == "dev" and got["serial"] == 1
    ok(
        run(
            tmp_path,
            "--store",
            url,
            "--json",
            "import",
            str(FIXTURES / "wassette-state.yaml"),
            "--env",
            "dev",
            "--skip-existing",
        )
    )
    out = tmp_path / "state.json"
    result = ok(
        run(
            tmp_path,
            "--store",
            url,
            "--json",
            "export",
            "--env",
            "dev",
            "--format",
            "wassette",
            "-o",
            str(out),
            "--include-binaries",
            "--component",
            "fetch-rs",
            "--description",
            "handoff to agent B",
            "--tag",
            "ticket=T-9",
        )
    )
    assert result["files"] == 1
    doc = json.loads(out.read_text())
    assert_valid("wassette-snapshot", doc)
    assert doc["components"][0]["include_binary"] is True
    assert doc["metadata"]["description"] == "handoff to agent B"
    assert doc["metadata"]["tags"]["ticket"] == "T-9"
    proc = run(
        tmp_path,
        "--store",
        url,
        "export",
        "--env",
        "dev",
        "-o",
        "b.json",
        "--component",
        "fetch-rs",
    )
    assert proc.returncode == 2 and "--component selects Wassette components" in proc.stderr
    out_yaml = tmp_path / "state.yaml"
    ok(
        run(
            tmp_path,
            "--store",
            url,
            "--json",
            "export",
            "--env",
            "dev",
            "--format",
            "wassette-yaml",
            "-o",
            str(out_yaml),
            "--path",
            "weather-*",
        )
    )
    state = yaml.safe_load(out_yaml.read_text())
    assert_valid("wassette-state", state)
    assert [c["component_id"] for c in state["components"]] == ["weather-js"]


def test_a_file_in_no_known_format_is_exit_2(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    ok(run(tmp_path, "--store", url, "--json", "init"))
    (tmp_path / "notes.json").write_text('{"hello": "world"}')
    proc = run(tmp_path, "--store", url, "import", "notes.json", "--env", "dev")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "a Wassette state file (JSON or YAML) or a Persist snapshot" in proc.stderr


def test_a_malformed_wassette_file_is_exit_4_and_writes_nothing(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    ok(run(tmp_path, "--store", url, "--json", "init"))
    doc = json.loads((FIXTURES / "wassette-snapshot.json").read_text())
    doc["components"][1]["component_id"] = doc["components"][0]["component_id"]
    (tmp_path / "dup.json").write_text(json.dumps(doc))
    proc = run(tmp_path, "--store", url, "import", "dup.json", "--env", "dev")
    assert proc.returncode == 4 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "duplicate component ID" in proc.stderr and "Traceback" not in proc.stderr
    assert ok(run(tmp_path, "--store", url, "--json", "envs"))["envs"] == []
