"""The README's commands from a fresh clone, as a new user types them.

``git clone`` this repository (what is committed: HEAD) into a temporary
folder, run ``./scripts/quickstart.sh`` with a fresh home folder whose
``~/.local/bin`` is not on PATH, then type what the quickstart says: the PATH
line, ``statesync``, a command it showed, a command of its "try next". A cloud
store without its extra names a command; typing that command makes the store
usable. Every ``pip install`` line of the README resolves (``--dry-run``), and
the application keeps working once the clone is gone. ``./scripts/test.sh``
(the second set-up command) is the whole suite and is not run here.

Long (about a minute: a virtualenv, pip, the SDK of one cloud): ``STATESYNC_LONG=1``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"

pytestmark = pytest.mark.long


def _user_env(home: Path) -> dict[str, str]:
    """A new user's environment: a fresh home, the system PATH, pip's own settings."""
    keep = {k: v for k, v in os.environ.items() if k.startswith(("PIP_", "LANG", "LC_"))}
    return {**keep, "HOME": str(home), "PATH": SYSTEM_PATH, "STATESYNC_RETRY_BUDGET": "2s"}


def _sh(
    script: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("fresh")
    clone, home = base / "clone", base / "home"
    home.mkdir()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    env = _user_env(home)
    first = _sh("./scripts/quickstart.sh", env, clone, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    return {"clone": clone, "home": home, "env": env, "out": first.stdout}


def _shown(out: str) -> list[str]:
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


def _path_line(out: str) -> str:
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("export PATH=")]
    assert len(lines) == 1, out
    return lines[0]


def test_quickstart_shows_each_command_and_what_next(installed: dict[str, object]) -> None:
    out = str(installed["out"])
    home = Path(str(installed["home"]))
    shown = _shown(out)
    statesync = [c for c in shown if c.startswith("statesync ")]
    assert [c.split()[1] for c in statesync] == ["init", "push", "log", "pull"]
    work = home / ".local/share/statesync/quickstart/agent-state"
    assert statesync[1].startswith(f"statesync push {work} --env quickstart -m 'quickstart 20")
    assert "Try next" in out
    assert _path_line(out) == 'export PATH="$HOME/.local/bin:$PATH"'
    link = home / ".local/bin/statesync"
    assert link.is_symlink()
    assert link.resolve() == (home / ".local/share/statesync/venv/bin/statesync").resolve()
    # The licence travels with the application (pyproject.toml's license-files).
    venv = home / ".local/share/statesync/venv"
    (licence,) = venv.glob("lib/python3*/site-packages/statesync-*.dist-info/licenses/LICENSE")
    assert licence.read_bytes() == (ROOT / "LICENSE").read_bytes()


def test_after_the_path_line_typing_statesync_works(installed: dict[str, object]) -> None:
    out, env = str(installed["out"]), installed["env"]
    assert isinstance(env, dict)
    typed = _path_line(out)
    # Without the line, `statesync` is not found: that is why the quickstart says it.
    assert _sh("statesync --help", env, Path("/")).returncode == 127
    # A command the quickstart showed, typed exactly as shown, prints what it printed.
    log = next(c for c in _shown(out) if c.startswith("statesync log "))
    proc = _sh(f"{typed}\n{log}", env, Path("/"))
    assert proc.returncode == 0, proc.stderr
    printed = out.split(f"+ {log}\n", 1)[1].split("\n+ ", 1)[0]
    assert proc.stdout.strip() == printed.strip()
    # The first suggestion of "try next" runs as written.
    first_try = out.split("Try next", 1)[1].splitlines()[1].strip()
    assert first_try.startswith("statesync status ")
    proc = _sh(f"{typed}\n{first_try}", env, Path("/"))
    assert proc.returncode == 0, proc.stderr


def test_a_missing_extra_names_the_command_that_adds_it(installed: dict[str, object]) -> None:
    clone, env = installed["clone"], installed["env"]
    assert isinstance(env, dict)
    bin_dir = Path(str(installed["home"])) / ".local/bin"
    s3 = {**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x"}
    s3 |= {"AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    probe = f"{bin_dir}/statesync --store s3://bucket/p envs"
    missing = _sh(probe, s3, Path("/"))
    assert missing.returncode == 2, missing.stderr
    (line,) = missing.stderr.strip().splitlines()
    m = re.fullmatch(r"statesync: error: s3:// stores need the 's3' extra: (.*)", line)
    assert m, line
    assert m.group(1).endswith(f"-m pip install {shlex.quote(f'{clone}[s3]')}")
    added = _sh(m.group(1), env, Path("/"), timeout=600)
    assert added.returncode == 0, added.stderr
    # Now the SDK loads: the store is simply unreachable (exit 1), no extra is named.
    after = _sh(probe, s3, Path("/"))
    assert after.returncode == 1, after.stderr
    assert "extra" not in after.stderr and "127.0.0.1:9" in after.stderr


def test_every_readme_install_line_resolves(installed: dict[str, object]) -> None:
    clone, env = Path(str(installed["clone"])), installed["env"]
    assert isinstance(env, dict)
    readme = re.sub(r"\s*\n\s*", " ", (clone / "README.md").read_text(encoding="utf-8"))
    targets = sorted(
        {t for t in re.findall(r"pip install '([^']+)'`", readme) if t.startswith(".")}
    )
    assert len(targets) >= 7, targets
    python = Path(str(installed["home"])) / ".local/share/statesync/venv/bin/python"
    for target in targets:
        proc = _sh(f"{python} -m pip install --dry-run -q '{target}'", env, clone, timeout=600)
        assert proc.returncode == 0, f"pip install '{target}': {proc.stderr}"


def test_the_application_outlives_the_clone(installed: dict[str, object]) -> None:
    clone, env = Path(str(installed["clone"])), installed["env"]
    assert isinstance(env, dict)
    again = _sh("./scripts/quickstart.sh", env, clone, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "statesync init" not in again.stdout  # the store exists: not created twice
    shutil.rmtree(clone)
    proc = _sh(_path_line(again.stdout) + "\nstatesync log --env quickstart", env, Path("/"))
    assert proc.returncode == 0, proc.stderr
    assert "quickstart" in proc.stdout
