"""Every command's ``--help`` teaches: each argument has help, defaults are stated,
each command shows examples and its environment variables, the top level the exit codes.

The parser tree is walked, so a command or option added later is checked too.
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys

import pytest

from statesync.cli.helptext import EXIT_CODES, walk
from statesync.cli.main import main
from statesync.cli.parser import build
from statesync.version import __version__
from tests.helpers import child_output

PARSERS = dict(walk(build()))
COMMANDS = list(PARSERS)


def help_of(path: str, capsys: pytest.CaptureFixture[str]) -> str:
    """``statesync PATH --help`` through the real entry point; its stdout."""
    with pytest.raises(SystemExit) as done:
        main([*path.split(), "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: statesync {path}".rstrip())
    return " ".join(out.split())  # argparse wraps lines: compare words


def arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction | argparse._HelpAction)
    ]


def test_the_walk_finds_every_command_and_subcommand() -> None:
    assert len(COMMANDS) > 40
    for expected in ("push", "keys init", "keys signing new", "serve tokens add", "gc policy"):
        assert expected in COMMANDS


@pytest.mark.parametrize("path", COMMANDS)
def test_every_argument_has_help_with_its_default_and_every_command_examples(
    path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = PARSERS[path]
    text = help_of(path, capsys)
    for action in arguments(parser):
        name = action.option_strings[-1] if action.option_strings else action.dest
        assert action.help and action.help.strip(), f"statesync {path}: {name} has no help"
        if action.help == argparse.SUPPRESS:
            continue
        first_words = " ".join(action.help.split()[:3]).split("%")[0].strip()
        assert first_words in text, f"statesync {path}: help of {name} not shown"
        if worth_stating(action):
            assert "default" in action.help, f"statesync {path}: {name} hides its default"
    for sub in parser._actions:
        if isinstance(sub, argparse._SubParsersAction):
            for choice in sub._choices_actions:
                assert choice.help, f"statesync {path} {choice.dest}: a subcommand without help"
    if path:
        assert "examples: " in text, f"statesync {path} --help has no examples"
        assert "Global flags" in text


def worth_stating(action: argparse.Action) -> bool:
    """A default a reader needs: not a switch's False, a counter's 0, or 'nothing'."""
    if action.nargs == 0 or isinstance(action, argparse._CountAction):
        return False
    return action.default not in (None, "", [], argparse.SUPPRESS)


def test_a_default_shows_with_its_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert "show at most N snapshots (default: 20)" in help_of("log", capsys)
    assert "(default: 10m)" in help_of("lock", capsys)
    assert "(default: 127.0.0.1:8470)" in help_of("serve", capsys)


def test_an_env_flag_names_its_fallbacks(capsys: pytest.CaptureFixture[str]) -> None:
    for path in ("push", "pull", "status", "log", "import", "watch", "info"):
        assert "$STATESYNC_ENV, else env in statesync.toml, else 'default'" in help_of(path, capsys)


def test_top_level_help_lists_exit_codes_variables_and_precedence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_of("", capsys)
    for code, meaning in EXIT_CODES:
        assert f"{code} {meaning}" in text
    for var in ("STATESYNC_STORE", "STATESYNC_CONFIG", "STATESYNC_ENV"):
        assert var in text
    assert "STATESYNC_PASSPHRASE_COMMAND" in text
    assert "Precedence: flag, then environment variable, then statesync.toml" in text


def test_version_names_statesync_python_and_the_platform() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "statesync.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert re.fullmatch(
        rf"statesync {re.escape(__version__)} \(Python {re.escape(platform.python_version())} "
        rf"\w+; {re.escape(platform.platform())}\)",
        line,
    ), line


def test_help_imports_nothing_heavy() -> None:
    """``statesync --help`` stays fast: no SDK, web stack, shtab or man-page generator."""
    code = (
        "import sys\n"
        "from statesync.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('shtab', 'argparse_manpage', 'boto3', 'azure', 'google', 'starlette',"
        " 'uvicorn', 'cryptography', 'zstandard', 'statesync.api')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n"
    )
    assert child_output(code).splitlines()[-1] == "[]"
