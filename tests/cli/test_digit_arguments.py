"""Numbers read from text take ASCII digits only: ``²`` passes ``str.isdigit`` but not ``int()``.

Found by the server route fuzz (``/env/E?page=²`` was a 500 with a traceback);
the same test guarded ports, a Persist export's ``snapshot_index`` tag, a
Content-Length, and JSON pointers into documents. Each was an internal error.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from statesync.api import Store
from tests.fuzzing import assert_clean, cli
from tests.helpers import write

DIGITS = ["\u00b2", "\u0661"]  # superscript two (int() refuses it), Arabic-Indic one


# Only "²": with U+0661 taken as port 1, a broken parser would start the watch (no end).
@pytest.mark.parametrize("digit", ["\u00b2"])
@pytest.mark.parametrize("command", ["serve --listen", "watch --metrics"])
def test_a_port_in_other_digits_is_a_usage_error(tmp_path: Path, command: str, digit: str) -> None:
    name, flag = command.split()
    store = Store.init((tmp_path / "store").as_uri())
    args = [name, *([str(tmp_path)] if name == "watch" else []), flag, f"127.0.0.1:{digit}"]
    code, err = cli(*args, "--store", store.url, "--env", "dev")
    assert_clean(code, err, args)
    assert code == 2, err


@pytest.mark.parametrize("digit", DIGITS)
def test_a_persist_export_with_a_snapshot_index_in_other_digits_exports(
    tmp_path: Path, digit: str
) -> None:
    store = Store.init((tmp_path / "store").as_uri())
    write(tmp_path / "w", "agent_state.json", {"messages": []})
    store.push(tmp_path / "w", "dev", tags={"snapshot_index": digit})
    out = tmp_path / "o.json.gz"
    code, err = cli(
        "export", "--store", store.url, "--env", "dev", "-o", str(out), "--format", "persist"
    )
    assert_clean(code, err)
    assert code == 0 and out.exists(), err
    assert json.loads(gzip.decompress(out.read_bytes()))["metadata"]["snapshot_index"] == 0
