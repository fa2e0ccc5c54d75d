"""The coverage-guided run of the document parsers (``scripts/fuzz_atheris.py``), long run only.

Each target is fuzzed for ``STATESYNC_ATHERIS_SECONDS`` (default 60) in its own
process; any exception that is not one of ours, an input slower than 20 s, or
more than 2 GiB of memory is a finding and fails the test with the input's file.
Skipped where atheris has no wheel (it installs only on Linux x86_64, CPython
3.11 to 3.13; see the ``dev`` extra).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fuzz_atheris.py"


def _targets() -> tuple[str, ...]:
    """The script's targets (it imports only the standard library at its top)."""
    spec = importlib.util.spec_from_file_location("fuzz_atheris", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    targets: tuple[str, ...] = module.TARGETS
    return targets


TARGETS = _targets()


@pytest.mark.long
@pytest.mark.parametrize("target", TARGETS)
def test_a_coverage_guided_run_finds_nothing(target: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    seconds = int(os.environ.get("STATESYNC_ATHERIS_SECONDS", "60"))
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            target,
            "--all",
            "--seconds",
            str(seconds),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=seconds * 3 + 300,
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert rows and rows[0]["target"] == target, proc.stdout + proc.stderr
    row = rows[0]
    print(json.dumps(row))
    assert row["finding"] is None and proc.returncode == 0, row
    assert row.get("executions", 0) > 0, (row, (tmp_path / target / "log.txt").read_text()[-2000:])
