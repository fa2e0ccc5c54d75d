"""The package's imports flow one way (docs/ARCHITECTURE.md, "Layers"), with no cycle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "import_graph.py"


def test_imports_flow_one_way_without_cycles() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith(", 0 cycles, 0 imports against the layers")


def test_the_check_fails_on_an_import_against_the_layers(tmp_path: Path) -> None:
    """The checker itself can fail: a copy of the tree importing upwards is refused."""
    src = SCRIPT.parent.parent / "src"
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    (copy / "scripts" / "import_graph.py").write_bytes(SCRIPT.read_bytes())
    subprocess.run(["cp", "-r", str(src), str(copy / "src")], check=True)
    pkg = copy / "src" / "statesync"
    aead = pkg / "crypto" / "aead.py"
    aead.write_text(aead.read_text() + "\nfrom statesync.sync.store import layout  # noqa\n")
    layout = pkg / "sync" / "store" / "layout.py"
    layout.write_text(layout.read_text() + "\nfrom statesync.sync import push  # noqa\n")
    proc = subprocess.run(
        [sys.executable, str(copy / "scripts" / "import_graph.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "against the layers: statesync.crypto.aead -> statesync.sync.store.layout" in proc.stdout
    assert "against the layers: statesync.sync.store.layout -> statesync.sync.push" in proc.stdout
    cycles = [line for line in proc.stdout.splitlines() if line.startswith("cycle: ")]
    assert cycles and all("statesync.sync.store.layout -> statesync.sync.push" in c for c in cycles)
