"""PyYAML is imported only when a YAML document is read: pushes and pulls of JSON and
text, the most common state, never pay for it (about a tenth of a command's imports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write

_CODE = """
import sys
from pathlib import Path
from statesync.api import Store
store = Store.init(sys.argv[1])
store.push(Path(sys.argv[2]), "dev")
store.push(Path(sys.argv[2]), "dev")
store.pull(Path(sys.argv[3]), "dev")
print(sorted(m for m in sys.modules if m == "yaml" or m.startswith(("yaml.", "_yaml"))))
"""


@pytest.mark.parametrize("yaml_file", [False, True], ids=["json-and-text", "with-yaml"])
def test_yaml_is_imported_only_for_yaml_documents(yaml_file: bool, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "state.json", {"api_token": "s3cr3t-value", "n": 1})
    write(src, "notes.txt", "plain\n")
    if yaml_file:
        write(src, "config.yaml", "password: hunter2\nn: 1\n")
    proc = subprocess.run(
        [sys.executable, "-c", _CODE, str(tmp_path / "store"), str(src), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.strip()
    assert (loaded != "[]") == yaml_file, loaded
    assert (tmp_path / "out" / "notes.txt").read_text() == "plain\n"
    pulled = (tmp_path / "out" / "state.json").read_text()
    assert '"n": 1' in pulled and "s3cr3t-value" not in pulled  # redacted, then pulled
