"""``statesync completion SHELL`` loads in the real shell and completes; ``statesync man``
is a manual page groff renders without warnings, covering every command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from statesync.cli.helptext import EXIT_CODES, walk
from statesync.cli.parser import build


def statesync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statesync.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    proc = statesync("completion", "bash")
    assert proc.returncode == 0, proc.stderr
    path = tmp_path_factory.mktemp("completion") / "statesync.bash"
    path.write_text(proc.stdout)
    return path


def bash(script: str) -> subprocess.CompletedProcess[str]:
    assert shutil.which("bash"), "bash is part of the test machine"
    return subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True, timeout=60
    )


def complete(script: Path, *words: str) -> list[str]:
    """What bash offers after ``words`` (the last one being completed)."""
    cword = len(words) - 1
    line = " ".join(f"'{w}'" for w in words)
    proc = bash(
        f"source '{script}'; COMP_WORDS=({line}); COMP_CWORD={cword}; "
        f'COMP_LINE="{" ".join(words)}"; COMP_POINT=${{#COMP_LINE}}; '
        '_shtab_statesync statesync; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_bash_completion_loads_and_registers_statesync(bash_script: Path) -> None:
    proc = bash(f"source '{bash_script}' && complete -p statesync")
    assert proc.returncode == 0, proc.stderr
    assert "statesync" in proc.stdout and "-F _shtab_statesync" in proc.stdout


def test_bash_completes_commands_subcommands_and_flags(bash_script: Path) -> None:
    assert {"push", "pull"} <= set(complete(bash_script, "statesync", "pu"))
    assert "rotate" in complete(bash_script, "statesync", "keys", "")
    assert "--include-secrets" in complete(bash_script, "statesync", "push", "--inc")
    assert {"bash", "zsh", "fish"} <= set(complete(bash_script, "statesync", "completion", ""))


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command(shell: str) -> None:
    proc = statesync("completion", shell)
    assert proc.returncode == 0, proc.stderr
    for name in ("push", "pull", "keys", "completion", "info"):
        assert name in proc.stdout
    if shutil.which(shell):  # load it where the shell is installed
        check = (
            "source /dev/stdin"
            if shell == "fish"
            else "autoload -U compinit; compinit -u; source /dev/stdin"
        )
        done = subprocess.run(
            [shell, "-c", check], input=proc.stdout, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr


def test_an_unknown_shell_is_a_usage_error() -> None:
    proc = statesync("completion", "tcsh")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "invalid choice: 'tcsh'" in proc.stderr


def test_man_page_renders_without_warnings_and_covers_every_command(tmp_path: Path) -> None:
    proc = statesync("man")
    assert proc.returncode == 0, proc.stderr
    page = proc.stdout
    assert page.startswith('.TH STATESYNC "1"')
    for path, _ in walk(build()):
        if path:
            roff = path.replace("-", "\\-")
            assert f"\\fBstatesync {roff}\\fR" in page, f"no section for statesync {path}"
    assert ".SS push\n.nf\nstatesync push ./state \\-\\-env dev" in page  # each command's examples
    for heading in ("ENVIRONMENT", "EXIT STATUS", "EXAMPLES"):
        assert f".SH {heading}" in page
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff not installed")
    done = subprocess.run(
        [groff, "-man", "-Tutf8", "-ww"],
        input=page,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    plain = re.sub(".\b", "", done.stdout)  # grotty's overstrike bold and underline
    text = " ".join(plain.replace("\u2010", "-").replace("\u2212", "-").split())
    for code, meaning in EXIT_CODES:
        assert f"{code} {meaning}".split("(")[0].strip() in text
    assert "STATESYNC_PASSPHRASE_COMMAND" in text and "--include-secrets" in text
