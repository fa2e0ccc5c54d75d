"""Every field read from the store is validated: a malformed one is exit 4, never a crash.

A store writer mutates one JSON field of a real store object (descriptor,
ref, lease, keyring, manifest, pack index), re-naming content-addressed
objects so their ids still match, and every command must end with a
documented exit code and a one-line error, never "internal error".
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statesync.cli import main
from tests import leakrecord
from tests.fuzzing import set_at, value_paths
from tests.helpers import write

#: Values a writer could put anywhere: wrong types, huge, negative, non-finite.
HOSTILE = [
    float("inf"),
    1e400,
    1e20,
    -1,
    2**70,
    1.5,
    True,
    None,
    "x",
    "",
    [],
    {},
    [1, 2],
    {"a": 1},
    "1e400",
    0,
]
PASSPHRASE = "fuzz passphrase"


def cli(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    leakrecord.record_cli(list(args), code, out.getvalue(), err.getvalue())
    return code, err.getvalue()


@pytest.fixture
def pristine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with a signed-off push: documents, a binary, a link, a keyring, a lease."""
    monkeypatch.setenv("STATESYNC_PASSPHRASE", PASSPHRASE)
    store = tmp_path / "store"
    src = tmp_path / "src"
    write(src, "config.json", {"name": "app", "password": "hunter2", "n": [1, 2]})
    write(src, "bin/blob.dat", os.urandom(3000))
    os.symlink("config.json", src / "link.json")
    url = store.as_uri()
    for args in (
        ["init"],
        ["keys", "init", "dev", "--recipient", "passphrase"],
        ["push", str(src), "--env", "dev", "--include-secrets"],
        ["lock", "dev", "--ttl", "1h"],
    ):
        code, err = cli("--store", url, *args)
        assert code == 0, err
    return store


def _objects(store: Path) -> dict[str, Path]:
    found = {
        "descriptor": store / "statesync.json",
        "ref": store / "refs" / "dev",
        "lock": store / "locks" / "dev",
        "keyring": store / "keys" / "dev" / "gen-1.json",
    }
    found["manifest"] = next((store / "snapshots").iterdir())
    found["index"] = next((store / "index").iterdir())
    return found


def _mutate(store: Path, target: str, pick: st.DataObject) -> None:
    path = _objects(store)[target]
    zstd = target in ("manifest", "index")
    raw = path.read_bytes()
    doc = json.loads(zstandard.ZstdDecompressor().stream_reader(raw).read() if zstd else raw)
    where = pick.draw(st.sampled_from(value_paths(doc)))
    set_at(doc, where, pick.draw(st.sampled_from(HOSTILE)))
    body = json.dumps(doc).encode()  # inf is written as Infinity, which json.loads accepts
    if not zstd:
        path.write_bytes(body)
        return
    body = zstandard.ZstdCompressor().compress(body)
    new = path.with_name(hashlib.sha256(body).hexdigest())
    path.unlink()
    new.write_bytes(body)  # a writer renames it so the id still matches
    if target == "manifest":  # and points the ref at it
        ref_path = store / "refs" / "dev"
        ref = json.loads(ref_path.read_bytes())
        ref["snapshot"] = new.name
        ref_path.write_bytes(json.dumps(ref).encode())


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=st.sampled_from(["descriptor", "ref", "lock", "keyring", "manifest", "index"]),
    pick=st.data(),
)
def test_a_mutated_store_field_never_crashes_a_command(
    pristine: Path, target: str, pick: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        store = Path(scratch) / "store"
        shutil.copytree(pristine, store, symlinks=True)
        _mutate(store, target, pick)
        url = store.as_uri()
        src = pristine.parent / "src"
        out = Path(scratch) / "out"
        for args in (
            ["pull", str(out), "--env", "dev", "--force"],
            ["status", str(src), "--env", "dev"],
            ["log", "--env", "dev"],
            ["show", "dev"],
            ["verify", "--read-data"],
            ["keys", "list", "dev"],
            ["lock", "dev"],
            ["push", str(src), "--env", "dev", "--force"],
        ):
            code, err = cli("--store", url, *args)
            assert "internal error" not in err, (target, args, err)
            assert "Traceback" not in err and code in (0, 1, 2, 3, 4, 5, 6), err
            assert code == 0 or err.strip().splitlines()[-1].startswith("statesync: error: ")


@pytest.mark.parametrize(
    ("target", "where", "value", "message"),
    [
        ("descriptor", ("chunking", "min"), 0, "chunking.min"),
        ("descriptor", ("chunking", "max"), "big", "chunking.max"),
        ("descriptor", ("pack_size",), 1e400, "pack_size"),
        ("ref", ("serial",), 1e400, "serial"),
        ("ref", ("serial",), True, "serial"),
        ("manifest", ("entries", 0, "mode"), "rwx", "mode"),
        ("manifest", ("entries", 0, "size"), -1, "size"),
        ("keyring", ("generation",), 1.0, "generation"),
        ("index", ("packs",), {"0" * 64: [["c", -5, 1, 1]]}, "offset"),
    ],
)
def test_each_reported_malformed_field_is_exit_4_naming_it(
    pristine: Path, target: str, where: tuple[Any, ...], value: Any, message: str
) -> None:
    store = pristine
    path = _objects(store)[target]
    zstd = target in ("manifest", "index")
    raw = path.read_bytes()
    doc = json.loads(zstandard.ZstdDecompressor().stream_reader(raw).read() if zstd else raw)
    set_at(doc, where, value)
    body = json.dumps(doc).encode()
    if zstd:
        body = zstandard.ZstdCompressor().compress(body)
        path.unlink()
        path = path.with_name(hashlib.sha256(body).hexdigest())
        if target == "manifest":
            ref = json.loads((store / "refs" / "dev").read_bytes())
            ref["snapshot"] = path.name
            (store / "refs" / "dev").write_bytes(json.dumps(ref).encode())
    path.write_bytes(body)
    # A malformed index is damage that stays local (skipped by pull): verify names it.
    command = (
        ["keys", "list", "dev"]
        if target == "keyring"
        else ["verify"]
        if target == "index"
        else ["pull", str(pristine.parent / "out"), "--env", "dev"]
    )
    code, err = cli("--store", store.as_uri(), *command)
    assert code == 4, err
    assert f"malformed field {message!r}" in err and "internal error" not in err


def test_a_lock_ttl_of_1e20_is_a_malformed_lease_not_a_crash(pristine: Path) -> None:
    lock = pristine / "locks" / "dev"
    doc = json.loads(lock.read_bytes())
    doc["ttl_seconds"] = 1e20
    lock.write_bytes(json.dumps(doc).encode())
    code, err = cli("--store", pristine.as_uri(), "lock", "dev")
    assert code == 4 and "locks/dev: malformed field 'ttl_seconds'" in err, err
