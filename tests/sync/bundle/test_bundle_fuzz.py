"""Fuzzed bundles (.json, .yaml, .tar.zst): ``import`` then ``pull`` never crash or escape.

A real export is mutated — a field set to a hostile value, a path or link
target set to a traversal / absolute / non-UTF-8 name, a link planted under
a file's path, raw bytes flipped or truncated, tar members of the wrong type
or name — and ``statesync import`` (then ``pull``, if the import was
accepted) must end with a documented exit code and a one-line error, and
must write nothing outside the store and the pull's target (a sentinel tree
around the target is compared byte for byte).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
import zstandard
from hypothesis import given
from hypothesis import strategies as st

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

FORMATS = [".json", ".yaml", ".tar.zst"]
ESCAPE_ABS = Path("/etc/statesync-escape")


class Rig:
    """A store with one push, its three exports, and a sentinel tree around a pull target."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = (root / "store").as_uri()
        self.target = root / "box" / "deep" / "er" / "target"
        self.count = 0
        src = root / "src"
        write(src, "c.json", {"a": 1, "password": "hunter2"})
        write(src, "d.yaml", "k: v\n")
        write(src, "b.bin", os.urandom(64))
        os.symlink("c.json", src / "l.json")
        write(root / "box" / "sentinel", "keep.txt", "sentinel\n")
        self.target.parent.mkdir(parents=True)
        (root / "bundles").mkdir()
        for args in (["init"], ["push", str(src), "--env", "dev"]):
            code, err = cli("--store", self.url, *args)
            assert code == 0, err
        self.exports: dict[str, Path] = {}
        for ext in FORMATS:
            out = root / f"export{ext}"
            code, err = cli(
                "--store", self.url, "export", "--env", "dev", "-o", str(out), "--include-binaries"
            )
            assert code == 0, err
            self.exports[ext] = out
        names = ("store", "bundles", "tmp", "xdg-cache", "xdg-state")
        self.skip = (*(root / name for name in names), self.target)
        self.before = snapshot_tree(root, self.skip)

    def check(self, bundle: Path, context: object) -> None:
        """Import ``bundle`` into a fresh env, pull it if accepted; nothing may escape."""
        self.count += 1
        env = f"imp{self.count}"
        code, err = cli("--store", self.url, "import", str(bundle), "--env", env)
        assert_clean(code, err, (context, "import"))
        if code == 0:
            code, err = cli("--store", self.url, "pull", str(self.target), "--env", env, "--force")
            assert_clean(code, err, (context, "pull"))
        assert snapshot_tree(self.root, self.skip) == self.before, context
        assert not ESCAPE_ABS.exists(), context


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return Rig(tmp_path)


# --- reading and writing the three forms --------------------------------------------


def _load(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The bundle document and, for a tar, the member bytes by component path."""
    if not path.name.endswith(".tar.zst"):
        return json.loads(path.read_bytes()) if path.suffix == ".json" else _yaml(path), {}
    raw = zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read()
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r|") as tar:
        doc: dict[str, Any] = {}
        for member in tar:
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "statesync-bundle.json":
                doc = json.loads(data)
            else:
                files[member.name.removeprefix("files/")] = data
    return doc, files


def _yaml(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_bytes())
    assert isinstance(doc, dict)
    return doc


Member = tuple[str, bytes, bytes]  # name, data, tar type


def _tar(doc_bytes: bytes, members: list[Member]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, kind in [("statesync-bundle.json", doc_bytes, tarfile.REGTYPE), *members]:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            info.linkname = "../../escape" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return zstandard.ZstdCompressor().compress(buf.getvalue())


def _dump(doc: dict[str, Any], ext: str, files: dict[str, bytes]) -> bytes:
    body = json.dumps(doc, indent=1).encode("utf-8", "surrogatepass")
    if ext == ".yaml":
        try:
            return yaml.safe_dump(doc, allow_unicode=True).encode("utf-8", "surrogatepass")
        except (yaml.YAMLError, UnicodeError, ValueError):
            return body  # JSON is YAML, near enough for a fuzzer
    if ext == ".json":
        return body
    members = [(f"files/{path}", data, tarfile.REGTYPE) for path, data in files.items()]
    return _tar(body, members)


# --- mutations ------------------------------------------------------------------------


def _rename(doc: dict[str, Any], files: dict[str, bytes], pick: st.DataObject, rig: Rig) -> None:
    """A component's path, or a link's target, becomes a hostile name."""
    comps = doc["components"]
    comp = comps[pick.draw(st.integers(0, len(comps) - 1))]
    name = pick.draw(st.sampled_from(hostile_names(rig.root)) | st.text(max_size=40))
    key = "target" if comp["kind"] == "symlink" and pick.draw(st.booleans()) else "path"
    if key == "path" and comp["path"] in files:
        files[name] = files.pop(comp["path"])
    comp[key] = name


def _link_then_file(doc: dict[str, Any], files: dict[str, bytes], pick: st.DataObject) -> None:
    """A link ``link`` to a place outside, and a file written through it (``link/escape``)."""
    target = pick.draw(st.sampled_from(["..", "../..", "../../../box/sentinel", "/etc", "/tmp"]))
    data = b'{"escaped": true}\n'
    comps = doc["components"]
    comps.append(
        {
            "path": "link",
            "kind": "symlink",
            "mode": 511,
            "size": 0,
            "sha256": hashlib.sha256(target.encode()).hexdigest(),
            "target": target,
        }
    )
    comp: dict[str, Any] = {
        "path": pick.draw(st.sampled_from(["link/escape", "link/keep.txt", "link/x/y.json"])),
        "kind": "document",
        "mode": 420,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if "content" in comps[0] or any("content" in c for c in comps):
        comp.update({"encoding": "utf-8", "content": data.decode()})
    else:
        files[comp["path"]] = data
    comps.append(comp)
    doc["component_count"] = len(comps)


def _field(doc: dict[str, Any], pick: st.DataObject, rig: Rig) -> None:
    where = pick.draw(st.sampled_from(value_paths(doc)))
    value = pick.draw(st.sampled_from([*HOSTILE, *hostile_names(rig.root)]))
    set_at(doc, where, value)


def _bytes(raw: bytes, pick: st.DataObject) -> bytes:
    """Raw damage: a truncation, a flipped byte, invalid UTF-8, a duplicate key, deep nesting."""
    how = pick.draw(st.sampled_from(["truncate", "flip", "utf8", "dup", "deep"]))
    at = pick.draw(st.integers(0, max(len(raw) - 1, 0)))
    if how == "truncate":
        return raw[:at]
    if how == "flip":
        return raw[:at] + bytes([raw[at] ^ pick.draw(st.integers(1, 255))]) + raw[at + 1 :]
    if how == "utf8":
        return raw[:at] + b"\xff\xc3(" + raw[at:]
    if how == "dup":
        return raw.replace(b"{", b'{"format": "statesync-bundle", ', 1)
    return raw.replace(b'"policies": []', b'"policies": ' + b"[" * 100_000 + b"]" * 100_000, 1)


@pytest.mark.parametrize("ext", FORMATS)
@fuzz_settings(default=6, long=300)
@given(pick=st.data())
def test_a_fuzzed_bundle_is_refused_cleanly_or_lands_inside_the_target(
    rig: Rig, ext: str, pick: st.DataObject
) -> None:
    doc, files = _load(rig.exports[ext])
    how = pick.draw(st.sampled_from(["rename", "link", "field", "bytes"]))
    if how == "rename":
        _rename(doc, files, pick, rig)
    elif how == "link":
        _link_then_file(doc, files, pick)
    elif how == "field":
        _field(doc, pick, rig)
    raw = _dump(doc, ext, files)
    if how == "bytes":
        raw = _bytes(raw if ext != ".tar.zst" else json.dumps(doc).encode(), pick)
        if ext == ".tar.zst":
            raw = _tar(raw, [(f"files/{p}", d, tarfile.REGTYPE) for p, d in files.items()])
    bundle = rig.root / "bundles" / f"b{rig.count}{ext}"
    bundle.write_bytes(raw)
    rig.check(bundle, (ext, how))


@pytest.mark.parametrize(
    "kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE, tarfile.DIRTYPE]
)
@pytest.mark.parametrize("name", ["files/c.json", "files/../../escape", "/etc/statesync-escape"])
def test_a_tar_member_that_is_not_a_regular_file_is_refused(
    rig: Rig, kind: bytes, name: str
) -> None:
    doc, files = _load(rig.exports[".tar.zst"])
    members = [(f"files/{p}", d, tarfile.REGTYPE) for p, d in files.items() if p != "c.json"]
    bundle = rig.root / "bundles" / "special.tar.zst"
    bundle.write_bytes(_tar(json.dumps(doc).encode(), [(name, b"", kind), *members]))
    code, err = cli("--store", rig.url, "import", str(bundle), "--env", "special")
    assert code == 4, err
    assert_clean(code, err)
    assert snapshot_tree(rig.root, rig.skip) == rig.before


def test_a_duplicate_key_in_a_tar_header_is_refused(rig: Rig) -> None:
    doc, files = _load(rig.exports[".tar.zst"])
    body = json.dumps(doc).encode().replace(b"{", b'{"format": "statesync-bundle", ', 1)
    members = [(f"files/{p}", d, tarfile.REGTYPE) for p, d in files.items()]
    bundle = rig.root / "bundles" / "dup.tar.zst"
    bundle.write_bytes(_tar(body, members))
    code, err = cli("--store", rig.url, "import", str(bundle), "--env", "dup")
    assert code == 4, err
    assert "duplicate key" in err


@pytest.mark.parametrize("ext", FORMATS)
def test_a_component_path_that_is_not_utf8_text_is_refused(rig: Rig, ext: str) -> None:
    """Found by the fuzz test: a ``.tar.zst`` header naming ``"a\\udcffb"`` (a lone
    surrogate, which JSON's escapes allow) was "internal error: UnicodeEncodeError"."""
    doc, files = _load(rig.exports[ext])
    comp = next(c for c in doc["components"] if c["kind"] != "symlink")
    if comp["path"] in files:
        files["a\udcffb"] = files.pop(comp["path"])
    comp["path"] = "a\udcffb"
    bundle = rig.root / "bundles" / f"surrogate{ext}"
    bundle.write_bytes(_dump(doc, ext, files))
    code, err = cli("--store", rig.url, "import", str(bundle), "--env", "imp")
    assert code == 4, err
    assert_clean(code, err, ext)
