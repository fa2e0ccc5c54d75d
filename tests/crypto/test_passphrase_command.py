"""STATESYNC_PASSPHRASE_COMMAND: a real child process gives the passphrase; every way it
can fail is a one-line KeyFailure that names the program and never what it printed."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from statesync.crypto.providers import default_identities
from statesync.crypto.providers.passphrase import read_passphrase
from statesync.crypto.providers.passphrase_command import run_passphrase_command
from statesync.errors import KeyFailure

SECRET = "s3cret pass phrase"
PY = shlex.quote(sys.executable)


def script(code: str) -> str:
    return f"{PY} -c {shlex.quote(code)}"


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    run_passphrase_command.cache_clear()
    for var in ("STATESYNC_PASSPHRASE", "STATESYNC_PASSPHRASE_FILE", "STATESYNC_PASSPHRASE_TEAM"):
        monkeypatch.delenv(var, raising=False)


def test_stdout_is_the_passphrase_with_one_newline_stripped() -> None:
    assert run_passphrase_command(script(f"print({SECRET!r})")) == SECRET
    assert run_passphrase_command(script("print(' padded \\n')")) == " padded \n"


def test_it_runs_once_per_process(tmp_path: Path) -> None:
    counter = str(tmp_path / "count")
    code = f"f=open({counter!r},'a'); f.write('x'); print('pw')"
    for _ in range(3):
        assert run_passphrase_command(script(code)) == "pw"
    assert Path(counter).read_text() == "x"


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (script(f"print({SECRET!r}); raise SystemExit(3)"), "exited with status 3"),
        (script("pass"), "printed no passphrase"),
        (script("import sys; sys.stdout.buffer.write(b'\\xff\\xfe')"), "not UTF-8"),
        ("/no/such/program --flag", "cannot run 'program'"),
        ("'unbalanced", "cannot split"),
        ("   ", "names no command"),
    ],
)
def test_failures_are_key_failures_that_leak_nothing(command: str, says: str) -> None:
    with pytest.raises(KeyFailure) as err:
        run_passphrase_command(command)
    message = str(err.value)
    assert says in message and "\n" not in message
    assert SECRET not in message and "--flag" not in message and err.value.exit_code == 6


def test_order_value_then_file_then_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STATESYNC_PASSPHRASE_COMMAND", script("print('from-command')"))
    assert read_passphrase("default") == "from-command"
    monkeypatch.setenv("STATESYNC_PASSPHRASE_TEAM_COMMAND", script("print('team-command')"))
    assert read_passphrase("team") == "team-command"
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n")
    monkeypatch.setenv("STATESYNC_PASSPHRASE_FILE", str(secret_file))
    assert read_passphrase("default") == "from-file"
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "from-value")
    assert read_passphrase("default") == "from-value"


def test_a_label_named_command_does_not_take_the_command_as_its_passphrase(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STATESYNC_PASSPHRASE_COMMAND", script("print('from-command')"))
    assert read_passphrase("command") == "from-command"


def test_the_command_alone_makes_a_passphrase_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATESYNC_PASSPHRASE_COMMAND", script("print('pw')"))
    assert [p.type for p in default_identities([])] == ["passphrase"]
