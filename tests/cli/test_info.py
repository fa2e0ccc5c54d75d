"""``statesync info``: what statesync will use and why, as text and one JSON object,
with no secret in either."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import assert_one_line_error, run

PLANTED = "planted-Secret-4e1f"


@pytest.fixture(autouse=True)
def _no_outside_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("STATESYNC_") and var != "STATESYNC_RETRY_BUDGET":
            monkeypatch.delenv(var)


def info(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
    proc = run(*args, "--json", "info", cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_defaults_when_nothing_is_configured(tmp_path: Path) -> None:
    doc = info(cwd=tmp_path)
    assert doc["format_version"] == 1
    assert doc["config_file"] == {"value": None, "source": "none"}
    assert doc["env"] == {"value": "default", "source": "default"}
    assert doc["store"]["source"] == "default"
    assert doc["store"]["value"] == str(tmp_path / "xdg-data" / "statesync" / "store")
    assert doc["folders"] == {
        "config": str(tmp_path / "xdg-config" / "statesync"),
        "data": str(tmp_path / "xdg-data" / "statesync"),
        "state": str(tmp_path / "xdg-state" / "statesync"),
        "cache": str(tmp_path / "xdg-cache" / "statesync"),
    }
    assert doc["signing_key"] == {
        "path": str(tmp_path / "xdg-config" / "statesync" / "signing.key"),
        "exists": False,
    }
    assert doc["recipients"] == [] and doc["identities"] == []
    assert doc["passphrase"] == {"value": None, "source": "none"}


def test_config_found_in_a_parent_folder_names_store_env_and_recipients(tmp_path: Path) -> None:
    (tmp_path / "statesync.toml").write_text(
        'store = "shared-store"\nenv = "staging"\n'
        '[keys]\nrecipients = ["passphrase:team", "keyfile:team.key"]\n'
    )
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    doc = info("--identity", "keyfile:/keys/ci.key", cwd=work)
    toml = str(tmp_path / "statesync.toml")
    assert doc["config_file"] == {"value": toml, "source": "found in folder"}
    assert doc["store"] == {"value": str(tmp_path / "shared-store"), "source": toml}
    assert doc["env"] == {"value": "staging", "source": toml}
    assert doc["recipients"] == ["passphrase:team", f"keyfile:{tmp_path / 'team.key'}"]
    assert doc["identities"] == ["keyfile:/keys/ci.key"]


def test_text_output_says_the_same(tmp_path: Path) -> None:
    proc = run("--store", "s3://bucket/team", "info", "--env", "prod", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(":", 1) for line in proc.stdout.splitlines() if ": " in line)
    assert lines["store"].split() == ["s3://bucket/team", "[--store]"]
    assert lines["environment"].split() == ["prod", "[--env]"]
    assert lines["config file"].split() == ["(none)", "[none]"]
    assert "(not there yet)" in lines["signing key"]


def test_no_secret_reaches_the_output(tmp_path: Path) -> None:
    env = {
        "STATESYNC_PASSPHRASE": PLANTED,
        "STATESYNC_PASSPHRASE_COMMAND": f"echo {PLANTED}",
        "STATESYNC_PASSPHRASE_TEAM": PLANTED,
        "AZURE_STORAGE_CONNECTION_STRING": f"AccountName=a;AccountKey={PLANTED}",
        "AWS_SECRET_ACCESS_KEY": PLANTED,
        "STATESYNC_STORE": f"s3://user:{PLANTED}@bucket/p?endpoint=http://127.0.0.1:9&token={PLANTED}",
    }
    for json_flag in (["--json"], []):
        proc = run(*json_flag, "info", cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        assert PLANTED not in proc.stdout + proc.stderr
    doc = info(cwd=tmp_path, env=env)
    assert doc["passphrase"] == {"value": "(set)", "source": "STATESYNC_PASSPHRASE"}
    assert doc["environment"]["STATESYNC_PASSPHRASE_COMMAND"] == "(set)"
    assert doc["environment"]["AZURE_STORAGE_CONNECTION_STRING"] == "(set)"
    assert doc["store"]["value"] == ("s3://user:***@bucket/p?endpoint=http://127.0.0.1:9&token=***")
    assert doc["store"]["source"] == "STATESYNC_STORE"


def test_a_broken_config_file_is_a_one_line_usage_error(tmp_path: Path) -> None:
    (tmp_path / "statesync.toml").write_text('env = ["dev"]\n')
    assert_one_line_error(run("info", cwd=tmp_path), 2, "env must be a string")
