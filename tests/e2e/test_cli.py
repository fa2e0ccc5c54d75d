"""The CLI contract of ARCHITECTURE.md §5: commands, --json fields, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write

CLOUD_SDKS = ("boto3", "botocore", "azure", "google", "langgraph", "langchain_core", "ormsgpack")


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "statesync.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=120,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("statesync: error: ") and text in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = (tmp_path / "store").as_uri()
    assert run("--store", url, "init").returncode == 0
    return url


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write(root, "state.json", {"a": 1})
    write(root, "data.bin", os.urandom(100_000))
    return root


def test_push_json_reports_the_contract_fields(store: str, src: Path) -> None:
    proc = run(
        "--store",
        store,
        "--json",
        "push",
        str(src),
        "--env",
        "dev",
        "-m",
        "hi",
        "--tag",
        "team=core",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for field in ("snapshot", "env", "serial", "uploaded_bytes", "reused_bytes", "files"):
        assert field in out
    assert out["env"] == "dev" and out["serial"] == 1 and out["files"] == 2
    assert proc.stderr == ""  # no progress bar when not at a terminal
    log = json.loads(run("--store", store, "--json", "log", "--env", "dev").stdout)
    assert log["snapshots"][0]["tags"] == {"team": "core"}


def test_full_cycle_in_human_output(store: str, src: Path, tmp_path: Path) -> None:
    assert "pushed 2 files to dev" in run("--store", store, "push", str(src), "--env", "dev").stdout
    assert "no changes" in run("--store", store, "push", str(src), "--env", "dev").stdout
    pulled = run("--store", store, "pull", str(tmp_path / "out"), "--env", "dev")
    assert pulled.returncode == 0 and "pulled" in pulled.stdout
    assert (tmp_path / "out" / "state.json").read_bytes() == (src / "state.json").read_bytes()
    write(src, "state.json", {"a": 2})
    status = run("--store", store, "status", str(src), "--env", "dev")
    assert "modified  state.json" in status.stdout
    run("--store", store, "push", str(src), "--env", "dev")
    snaps = json.loads(run("--store", store, "--json", "log", "--env", "dev").stdout)["snapshots"]
    diff = run("--store", store, "diff", snaps[1]["snapshot"], "dev")
    assert diff.stdout.strip() == "~ state.json  (/a)"
    show = run("--store", store, "--json", "show", snaps[0]["snapshot"][:8])
    assert json.loads(show.stdout)["id"] == snaps[0]["snapshot"]


def test_init_twice_fails(store: str) -> None:
    assert_one_line_error(run("--store", store, "init"), 1, "already exists")


def test_unknown_scheme_is_a_usage_error(tmp_path: Path) -> None:
    assert_one_line_error(run("--store", "ftp://x/y", "log"), 2, "unknown store URL scheme")


def test_store_not_initialised(tmp_path: Path, src: Path) -> None:
    proc = run("--store", str(tmp_path / "nothing"), "push", str(src))
    assert_one_line_error(proc, 1, "statesync init")
    assert not (tmp_path / "nothing" / "snapshots").exists()


def test_missing_environment(store: str, tmp_path: Path) -> None:
    assert_one_line_error(
        run("--store", store, "pull", str(tmp_path / "o"), "--env", "nope"),
        1,
        "'nope' does not exist",
    )
    assert not (tmp_path / "o").exists()


def test_bad_tag_and_bad_env_are_usage_errors(store: str, src: Path) -> None:
    assert_one_line_error(run("--store", store, "push", str(src), "--tag", "novalue"), 2, "K")
    assert_one_line_error(
        run("--store", store, "push", str(src), "--env", "../x"), 2, "invalid environment name"
    )


def test_conflict_exit_code(store: str, src: Path, tmp_path: Path) -> None:
    run("--store", store, "push", str(src), "--env", "dev")
    other = tmp_path / "other"
    write(other, "x.txt", "x")
    proc = run("--store", store, "push", str(other), "--env", "dev")
    assert_one_line_error(proc, 3, "pushed by")


def test_corruption_exit_code_and_untouched_target(store: str, src: Path, tmp_path: Path) -> None:
    run("--store", store, "push", str(src), "--env", "dev")
    [pack] = [p for p in (tmp_path / "store" / "objects").rglob("*") if p.is_file()]
    body = bytearray(pack.read_bytes())
    body[len(body) // 2] ^= 0xFF
    pack.write_bytes(bytes(body))
    proc = run("--store", store, "pull", str(tmp_path / "out"), "--env", "dev")
    assert_one_line_error(proc, 4, "objects/")
    assert not (tmp_path / "out").exists()


def test_store_from_environment_variable_and_config_file(src: Path, tmp_path: Path) -> None:
    url = (tmp_path / "envstore").as_uri()
    assert run("init", env={"STATESYNC_STORE": url}).returncode == 0
    assert (tmp_path / "envstore" / "statesync.json").is_file()
    write(tmp_path / "proj", "statesync.toml", 'store = "local-store"\n')
    assert run("init", cwd=tmp_path / "proj").returncode == 0
    assert (tmp_path / "proj" / "local-store" / "statesync.json").is_file()


def test_default_store_lives_in_the_data_folder(src: Path, tmp_path: Path) -> None:
    data = tmp_path / "data-home"
    assert run("init", env={"XDG_DATA_HOME": str(data)}).returncode == 0
    assert (data / "statesync" / "store" / "statesync.json").is_file()


def _imported_sdks(code: str) -> list[str]:
    probe = (
        f"import sys\n{code}\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {CLOUD_SDKS!r}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"')))


def test_help_and_local_push_import_no_cloud_sdk(store: str, src: Path) -> None:
    help_run = (
        "from statesync.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert _imported_sdks(help_run) == []
    assert (
        _imported_sdks(
            "from statesync.cli import main\n"
            f"main(['-q', '--store', {store!r}, 'push', {str(src)!r}])"
        )
        == []
    )
