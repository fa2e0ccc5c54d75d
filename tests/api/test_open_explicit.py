"""A program that names its store gets exactly what it names: no statesync.toml from cwd.

``Store.open(url)`` and ``Store.open(config=Config(...))`` read no
configuration file; only ``Store.configured`` (the CLI's resolution) does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from statesync.api import Store
from statesync.config import Config
from statesync.errors import StatesyncError, UsageError
from statesync.sync.secrets.policy import SecretPolicy
from tests.helpers import write

POISON = """
store = "file:///nonexistent/poisoned-store"
[secrets]
globs = ["*.json"]
[keys]
recipients = ["keyfile:/nonexistent/poisoned.key"]
[promotion]
allowed = ["nowhere->never"]
"""


@pytest.fixture
def poisoned_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cwd = tmp_path / "app"
    write(cwd, "statesync.toml", POISON)
    monkeypatch.chdir(cwd)
    return cwd


def test_open_by_url_ignores_the_working_folders_statesync_toml(
    poisoned_cwd: Path, tmp_path: Path
) -> None:
    url = (tmp_path / "store").as_uri()
    write(tmp_path / "src", "state.json", '{"a": 1}\n')
    with Store.init(url) as store:
        assert store.config.file.path is None and store.config.recipients == []
        result = store.push(tmp_path / "src", "dev")
        assert result.files == 1  # a document, not a secret file as the poisoned globs say
        store.push(tmp_path / "src", "staging", force=True)
        store.promote("dev", "staging")  # the poisoned [promotion] rule is not applied
    with Store.open(url) as store:
        assert b"".join(store.cat("dev", "state.json")) == b'{"a": 1}\n'
    # The CLI's resolution does read it: the same folder is a different configuration.
    with pytest.raises(StatesyncError) as raised:
        Store.configured()
    assert "poisoned-store" in str(raised.value)


def test_a_broken_statesync_toml_in_cwd_does_not_break_a_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "app", "statesync.toml", "this is [not toml\n")
    monkeypatch.chdir(tmp_path / "app")
    url = (tmp_path / "store").as_uri()
    Store.init(url).close()
    Store.open(url).close()
    with pytest.raises(UsageError, match=r"statesync\.toml"):
        Store.configured(url)


def test_configuration_is_given_explicitly(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    write(tmp_path / "src", "state.json", '{"a": 1}\n')
    write(tmp_path / "src", "notes.txt", "n\n")
    config = Config(url, policy=SecretPolicy(globs=("*.txt",)))
    with Store.init(config=config) as store:
        assert store.policy is config.policy
        store.push(tmp_path / "src", "dev")
        assert [e["path"] for e in store.show("dev")["entries"]] == ["state.json"]


def test_usage_errors_are_value_errors_for_programs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown store URL scheme"):
        Store.open("ftp://host/x")
    with Store.init((tmp_path / "store").as_uri()) as store, pytest.raises(ValueError):
        store.push(tmp_path, "bad env name!")
