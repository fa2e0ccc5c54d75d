"""Fuzzed Wassette (JSON, YAML) and Persist (.json.gz) files: ``import`` then ``pull`` stay clean.

Each example mutates a real file — one field set to a hostile value or a
component id / path set to a traversal, absolute or non-UTF-8 name, or raw
bytes truncated, flipped or made invalid UTF-8 — and ``statesync import``
(then ``pull``, if accepted) must end with a documented exit code and a
one-line error, writing nothing outside the store and the pull target.
"""

from __future__ import annotations

import copy
import gzip
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from statesync.formats import persist
from tests.formats.conftest import FIXTURES
from tests.fuzzing import (
    HOSTILE,
    assert_clean,
    cli,
    fuzz_settings,
    hostile_names,
    set_at,
    snapshot_tree,
    value_paths,
)
from tests.helpers import write

KINDS = ["wassette.json", "wassette.yaml", "persist.json.gz"]


def _seed(kind: str) -> Any:
    if kind == "wassette.json":
        return json.loads((FIXTURES / "wassette-snapshot.json").read_text())
    if kind == "wassette.yaml":
        return yaml.safe_load((FIXTURES / "wassette-state.yaml").read_text())
    return {"state": {"messages": ["hi", {"role": "user"}], "n": 1.5}}


def _encode(kind: str, doc: Any, meta: dict[str, Any] | None) -> bytes:
    if kind == "wassette.json":
        return json.dumps(doc).encode("utf-8", "surrogatepass")
    if kind == "wassette.yaml":
        try:
            return yaml.safe_dump(doc, allow_unicode=True).encode("utf-8", "surrogatepass")
        except (yaml.YAMLError, UnicodeError, ValueError):
            return json.dumps(doc).encode()
    body = {"metadata": meta, "agent_state": doc}
    return gzip.compress(json.dumps(body).encode("utf-8", "surrogatepass"), mtime=0)


def _persist_meta() -> dict[str, Any]:
    raw = persist.build(
        _seed("persist.json.gz"),
        agent_id="agent",
        session_id="s1",
        snapshot_index=0,
        timestamp="2026-01-01T00:00:00Z",
        description=None,
    )
    meta = json.loads(gzip.decompress(raw))["metadata"]
    assert isinstance(meta, dict)
    return meta


@pytest.mark.parametrize("kind", KINDS)
@fuzz_settings(default=6, long=300)
@given(pick=st.data())
def test_a_fuzzed_agent_state_file_is_refused_cleanly_or_lands_inside_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, pick: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as scratch:
        root = Path(scratch)
        monkeypatch.chdir(root)
        url = (root / "store").as_uri()
        write(root / "box" / "sentinel", "keep.txt", "sentinel\n")
        target = root / "box" / "target"
        code, err = cli("--store", url, "init")
        assert code == 0, err
        doc = _seed(kind)
        meta = _persist_meta() if kind == "persist.json.gz" else None
        tree: Any = {"doc": doc, "meta": meta} if meta else doc
        names = [*HOSTILE, *hostile_names(root)]
        for _ in range(pick.draw(st.integers(1, 3))):
            set_at(
                tree,
                pick.draw(st.sampled_from(value_paths(tree))),
                # a copy: HOSTILE's lists and dicts are shared by every example, and a later
                # draw may set a value inside one (a circular document, or HOSTILE itself
                # changed for the next example: hypothesis' FlakyStrategyDefinition)
                copy.deepcopy(pick.draw(st.sampled_from(names))),
            )
        raw = _encode(kind, tree["doc"] if meta else tree, tree["meta"] if meta else None)
        if pick.draw(st.booleans()):
            # Where to cut, as a fraction: the bundle's length depends on the temp folder's
            # random name (gzip compresses it differently), and a bound that changes between
            # replays of one example is hypothesis' FlakyStrategyDefinition (long run, 2026-12-03).
            at = pick.draw(st.integers(0, 1 << 16)) * max(len(raw) - 1, 0) >> 16
            raw = pick.draw(st.sampled_from([raw[:at], raw[:at] + b"\xff\xfe" + raw[at:]]))
        bundle = root / f"in.{kind}"
        bundle.write_bytes(raw)
        before = snapshot_tree(root, (root / "store", target))
        code, err = cli("--store", url, "import", str(bundle), "--env", "agents")
        assert_clean(code, err, kind)
        if code == 0:
            code, err = cli("--store", url, "pull", str(target), "--env", "agents", "--force")
            assert_clean(code, err, (kind, "pull"))
        assert snapshot_tree(root, (root / "store", target)) == before
        assert not Path("/etc/statesync-escape").exists()


def test_a_lone_surrogate_in_a_wassette_id_is_exit_4_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the fuzz test above: ``"component_id": "\\ud800"`` was an internal error."""
    monkeypatch.chdir(tmp_path)
    url = (tmp_path / "store").as_uri()
    assert cli("--store", url, "init")[0] == 0
    doc = _seed("wassette.json")
    doc["components"][0]["component_id"] = "\ud800"
    path = tmp_path / "w.json"
    path.write_bytes(json.dumps(doc).encode())
    code, err = cli("--store", url, "import", str(path), "--env", "agents")
    assert code == 4, err
    assert_clean(code, err)
    assert "surrogate" in err
