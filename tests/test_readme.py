"""The README's set-up and install lines, checked against the repository.

Fast and offline: every ``pip install`` the README shows installs from a path
(statesync is not on an index) with extras that ``pyproject.toml`` declares;
every extra the code names in an error exists; the set-up is two commands that
exist; LICENSE is the licence ``pyproject.toml`` declares. The commands
themselves run from a fresh clone in ``tests/e2e/test_fresh_clone.py``.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest

from statesync.backends import _DRIVERS
from statesync.errors import install_command

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
EXTRAS = set(PYPROJECT["project"]["optional-dependencies"])
# Inline code may wrap: join each paragraph's lines before matching.
FLAT = re.sub(r"\s*\n\s*", " ", README)
PIP_TARGETS = re.findall(r"pip install ([^`]+?)`", FLAT)


def _extras_of(target: str) -> set[str]:
    m = re.fullmatch(r"(.*)\[([a-z0-9,]+)\]", target)
    assert m, f"README install line {target!r} names no extra"
    return set(m.group(2).split(","))


def test_readme_has_install_lines() -> None:
    assert len(PIP_TARGETS) >= 8, PIP_TARGETS


@pytest.mark.parametrize("line", PIP_TARGETS)
def test_every_pip_install_line_installs_from_the_clone(line: str) -> None:
    (target,) = shlex.split(line)
    path, _, _ = target.partition("[")
    # "statesync[s3]" would ask an index, which has no statesync: a path works.
    assert path.startswith((".", "/")), f"README: pip install {line} finds nothing on an index"
    unknown = _extras_of(target) - EXTRAS
    assert not unknown, f"README: pip install {line}: pyproject.toml has no extra {unknown}"


def test_quickstart_extras_in_readme_and_script_exist() -> None:
    script = (ROOT / "scripts" / "quickstart.sh").read_text(encoding="utf-8")
    named = re.findall(r"STATESYNC_EXTRAS=([a-z0-9,]+)", FLAT + script)
    assert named
    for value in named:
        assert set(value.split(",")) <= EXTRAS, value


def test_the_extras_the_readme_lists_exist() -> None:
    para = FLAT[FLAT.index("**Extras.**") :]
    para = para[: para.index("Into the application")]
    listed = set(re.findall(r"`([a-z0-9]+)`", para))
    assert {"s3", "azure", "gcs", "all", "server", "serve", "service", "langgraph"} <= listed
    assert listed <= EXTRAS


def test_all_extra_is_every_cloud() -> None:
    deps = PYPROJECT["project"]["optional-dependencies"]
    assert deps["all"] == ["statesync[s3,azure,gcs]"]
    assert all(deps[cloud] for cloud in ("s3", "azure", "gcs"))


def _extras_named_in_code() -> set[str]:
    found = {extra for _, extra, _ in _DRIVERS.values() if extra}
    for path in (ROOT / "src" / "statesync").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "install_command"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    return found


def test_every_extra_an_error_names_exists() -> None:
    named = _extras_named_in_code()
    assert {"s3", "azure", "gcs", "server", "service"} <= named
    assert named <= EXTRAS


def test_install_command_names_this_interpreter_and_an_installable_source() -> None:
    words = shlex.split(install_command("s3"))
    assert words[:4] == [sys.executable, "-m", "pip", "install"]
    source, _, extra = words[4].partition("[")
    assert extra == "s3]"
    # This checkout runs from an editable or path install: the source is a folder with
    # the project in it, so the command works as printed.
    assert (Path(source) / "pyproject.toml").is_file(), source


def _setup_section() -> str:
    start = README.index("## Set-up")
    return README[start : README.index("\n## ", start + 1)]


def test_set_up_is_two_commands_that_exist() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", _setup_section(), re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert commands == ["./scripts/quickstart.sh", "./scripts/test.sh"]
    for command in commands:
        assert os.access(ROOT / command, os.X_OK), f"{command} is not executable"


def test_license_matches_pyproject() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text
    assert "APPENDIX: How to apply the Apache License to your work." in text
