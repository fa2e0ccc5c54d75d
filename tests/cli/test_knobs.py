"""The conventional knobs: flag, then environment variable, then statesync.toml, then
the default — for the config file, the store and the environment — and ``--identity``.

Each rung is checked through ``statesync info`` (cheap, no store), and the
commands are shown to obey the same resolution with real pushes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import write


@pytest.fixture(autouse=True)
def _no_outside_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("STATESYNC_") and var != "STATESYNC_RETRY_BUDGET":
            monkeypatch.delenv(var)


def resolved(cwd: Path, *flags: str, env: dict[str, str] | None = None) -> Any:
    proc = run("--json", *flags, "info", cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """A folder with its own statesync.toml, and another file elsewhere."""
    work = tmp_path / "work"
    write(work, "statesync.toml", 'store = "folder-store"\nenv = "from-folder"\n')
    write(tmp_path, "other/statesync.toml", 'store = "other-store"\nenv = "from-other"\n')
    write(tmp_path, "third/statesync.toml", 'store = "third-store"\nenv = "from-third"\n')
    return {"work": work, "other": tmp_path / "other", "third": tmp_path / "third"}


def test_config_file_precedence_flag_env_folder_none(
    tmp_path: Path, layout: dict[str, Path]
) -> None:
    work, other, third = layout["work"], layout["other"], layout["third"]
    env = {"STATESYNC_CONFIG": str(other / "statesync.toml")}
    flag = ["--config", str(third / "statesync.toml")]
    assert resolved(work, *flag, env=env)["config_file"] == {
        "value": str(third / "statesync.toml"),
        "source": "--config",
    }
    assert resolved(work, env=env)["config_file"] == {
        "value": str(other / "statesync.toml"),
        "source": "STATESYNC_CONFIG",
    }
    assert resolved(work)["config_file"]["source"] == "found in folder"
    assert resolved(tmp_path)["config_file"] == {"value": None, "source": "none"}
    # The file chosen is the one whose store and env are used.
    doc = resolved(work, env=env)
    assert doc["store"]["value"] == str(other / "other-store")
    assert doc["env"] == {"value": "from-other", "source": str(other / "statesync.toml")}


def test_a_named_config_file_that_is_missing_is_a_usage_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.toml")
    assert_one_line_error(run("--config", missing, "info"), 2, "--config names")
    assert_one_line_error(
        run("info", env={"STATESYNC_CONFIG": missing}), 2, "STATESYNC_CONFIG names"
    )
    # Nothing is half-done: the store is not created.
    proc = run("--config", missing, "init", cwd=tmp_path)
    assert proc.returncode == 2 and not (tmp_path / "xdg-data").exists()


def test_env_precedence_flag_variable_file_default(tmp_path: Path, layout: dict[str, Path]) -> None:
    work = layout["work"]
    variable = {"STATESYNC_ENV": "from-variable"}
    assert resolved(work, env=variable)["env"] == {
        "value": "from-variable",
        "source": "STATESYNC_ENV",
    }
    got = resolved(work)["env"]
    assert got == {"value": "from-folder", "source": str(work / "statesync.toml")}
    assert resolved(tmp_path)["env"] == {"value": "default", "source": "default"}
    proc = run("--json", "info", "--env", "from-flag", cwd=work, env=variable)
    assert json.loads(proc.stdout)["env"] == {"value": "from-flag", "source": "--env"}


def test_store_precedence_flag_variable_file_default(
    tmp_path: Path, layout: dict[str, Path]
) -> None:
    work = layout["work"]
    variable = {"STATESYNC_STORE": "memory://from-variable"}
    flag = resolved(work, "--store", "memory://from-flag", env=variable)["store"]
    assert flag == {"value": "memory://from-flag", "source": "--store"}
    assert resolved(work, env=variable)["store"]["source"] == "STATESYNC_STORE"
    assert resolved(work)["store"]["value"] == str(work / "folder-store")
    assert resolved(tmp_path)["store"]["source"] == "default"


def test_commands_push_and_read_the_resolved_environment(tmp_path: Path) -> None:
    """STATESYNC_ENV and the file's env reach push, log and pull; --env still wins."""
    store = (tmp_path / "store").as_uri()
    write(tmp_path, "cfg/statesync.toml", f'store = "{store}"\nenv = "from-file"\n')
    cfg = ["--config", str(tmp_path / "cfg" / "statesync.toml")]
    src = tmp_path / "src"
    write(src, "state.json", {"n": 1})
    assert run(*cfg, "init").returncode == 0
    pushed = run(*cfg, "--json", "push", str(src), env={"STATESYNC_ENV": "from-var"})
    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout)["env"] == "from-var"
    write(src, "state.json", {"n": 2})
    assert run(*cfg, "push", str(src), "--force").returncode == 0  # the file's env
    write(src, "state.json", {"n": 3})
    flagged = run(*cfg, "push", str(src), "--env", "from-flag", env={"STATESYNC_ENV": "x"})
    assert flagged.returncode == 0, flagged.stderr
    envs = run(*cfg, "--json", "envs")
    assert sorted(json.loads(envs.stdout)["envs"]) == ["from-file", "from-flag", "from-var"]
    log = run(*cfg, "--json", "log", env={"STATESYNC_ENV": "from-var"})
    assert json.loads(log.stdout)["env"] == "from-var"
    out = tmp_path / "out"
    assert run(*cfg, "pull", str(out)).returncode == 0
    assert json.loads((out / "state.json").read_text()) == {"n": 2}


def test_watch_seals_secrets_with_the_global_identity(tmp_path: Path) -> None:
    """``--identity`` reaches the long-running service, not only one-shot commands."""
    from tests.service.watchproc import WatchProc

    store = (tmp_path / "store").as_uri()
    key = tmp_path / "ci.key"
    assert run("--store", store, "init").returncode == 0
    assert run("keys", "keyfile", "new", str(key)).returncode == 0
    spec = f"keyfile:{key}"
    assert run("--store", store, "keys", "init", "dev", "--recipient", spec).returncode == 0
    folder = tmp_path / "app"
    write(folder, ".env", "API_TOKEN=tok-5a4b3c2d1e\n")
    args = ("--identity", spec, "--include-secrets", "--settle", "0.5s")
    with WatchProc(store, folder, *args) as w:
        w.wait_event("push", lambda e: e["serial"] == 1)
        assert w.terminate() == 0
    out = tmp_path / "out"
    got = run("--store", store, "--identity", spec, "pull", str(out), "--env", "dev")
    assert got.returncode == 0, got.stderr
    assert (out / ".env").read_text() == "API_TOKEN=tok-5a4b3c2d1e\n"
