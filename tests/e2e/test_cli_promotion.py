"""The CLI of the store's promotion rule: the same from any folder; statesync.toml only narrows."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import write


def test_cli_rule_is_the_same_from_any_folder_and_toml_only_narrows(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    assert run("--store", url, "init").returncode == 0
    write(tmp_path / "src", "state.json", {"v": 1})
    assert run("--store", url, "push", str(tmp_path / "src"), "--env", "dev").returncode == 0
    assert run("--store", url, "promotion", "allow", "dev->staging").returncode == 0
    # A folder whose statesync.toml would allow dev->prod: the store's rule still refuses.
    loose = tmp_path / "loose"
    write(loose, "statesync.toml", '[promotion]\nallowed = ["dev->prod", "dev->staging"]\n')
    assert_one_line_error(run("--store", url, "promotion", "allow", "nope"), 2, "FROM->TO")
    refused = run("--store", url, "promote", "dev", "prod", cwd=loose)
    assert_one_line_error(refused, 1, "store's promotion rule")
    # A folder whose statesync.toml is stricter narrows the store's rule locally.
    strict = tmp_path / "strict"
    write(strict, "statesync.toml", "[promotion]\nallowed = []\n")
    assert_one_line_error(
        run("--store", url, "promote", "dev", "staging", cwd=strict), 1, "statesync.toml"
    )
    assert run("--store", url, "promote", "dev", "staging", cwd=loose).returncode == 0
    shown = json.loads(run("--store", url, "--json", "promotion", "show").stdout)
    assert shown["allowed"] == ["dev->staging"]
