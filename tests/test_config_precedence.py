"""load_config's order for each knob: argument (the flag), variable, file, default."""

from __future__ import annotations

from pathlib import Path

import pytest

from statesync.config import find_config_file, load_config
from statesync.errors import UsageError
from tests.helpers import write


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("STATESYNC_CONFIG", "STATESYNC_ENV", "STATESYNC_STORE"):
        monkeypatch.delenv(var, raising=False)


def test_config_file_reasons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = write(tmp_path, "here/statesync.toml", "")
    named = write(tmp_path, "named.toml", "")
    by_var = write(tmp_path, "var.toml", "")
    assert find_config_file(cwd=tmp_path) == find_config_file(cwd=tmp_path / "x")
    assert find_config_file(cwd=tmp_path).reason == "none"
    assert find_config_file(cwd=here.parent).reason == "found in folder"
    monkeypatch.setenv("STATESYNC_CONFIG", str(by_var))
    assert find_config_file(cwd=here.parent).path == by_var.resolve()
    assert find_config_file(named, cwd=here.parent).reason == "--config"
    monkeypatch.setenv("STATESYNC_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(
        UsageError, match=r"STATESYNC_CONFIG names .*gone\.toml, which is not a file"
    ):
        find_config_file(cwd=here.parent)
    with pytest.raises(UsageError, match="--config names"):
        find_config_file(tmp_path, cwd=here.parent)  # a folder is not a config file


def test_env_and_store_resolve_flag_variable_file_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = tmp_path / "proj"
    write(proj, "statesync.toml", 'store = "s"\nenv = "from-file"\n')
    cfg = load_config(cwd=proj)
    assert (cfg.env, cfg.env_source) == ("from-file", str(proj / "statesync.toml"))
    assert cfg.store == str(proj / "s")
    monkeypatch.setenv("STATESYNC_ENV", "from-var")
    monkeypatch.setenv("STATESYNC_STORE", "memory://var")
    cfg = load_config(cwd=proj)
    assert (cfg.env, cfg.env_source, cfg.store) == ("from-var", "STATESYNC_ENV", "memory://var")
    cfg = load_config("memory://flag", cwd=proj, env="from-flag", identities=["keyfile:/k"])
    assert (cfg.env, cfg.env_source, cfg.store, cfg.source) == (
        "from-flag",
        "--env",
        "memory://flag",
        "--store",
    )
    assert cfg.identities == ["keyfile:/k"]
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.delenv("STATESYNC_ENV")
    assert load_config(cwd=empty).env_source == "default"


def test_env_in_the_file_must_be_a_string(tmp_path: Path) -> None:
    write(tmp_path, "statesync.toml", "env = 3\n")
    with pytest.raises(
        UsageError, match=r"statesync\.toml:1: env must be a string, not an integer"
    ):
        load_config(cwd=tmp_path)
