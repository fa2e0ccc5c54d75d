"""Export/import bundles (.json, .yaml, .tar.zst): round trips, filters, and refusal of bad input.

Every refusal test checks the exception (and its exit code) *and* that the
store did not change by a single byte.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
import zstandard

from statesync.api import Store
from statesync.errors import (
    BundleError,
    IntegrityError,
    RefConflict,
    StatesyncError,
    UsageError,
)
from statesync.sync.bundle import exporting as bundle_export
from statesync.sync.bundle.importing import plan_import
from statesync.sync.bundle.tar import read_tar
from statesync.sync.secrets.policy import MARKER
from statesync.sync.store.chunkindex import load_index
from statesync.sync.store.content import read_entry
from statesync.sync.store.manifest import load_manifest
from statesync.sync.store.refs import read_ref
from tests.helpers import tree, write

FORMATS = [".json", ".yaml", ".tar.zst"]
SECRET = "sup3r-s3cret-VALUE-4242"
CANARY = "visible-canary-1337"


# --- fixtures and helpers ----------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(_mkdir(tmp_path / "tmp")))
    s = Store.init((tmp_path / "store").as_uri())
    yield s
    s.close()


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write(root, "app.json", {"db": {"host": "db1", "password": SECRET}, "n": 1})
    write(root, "config/policy.yaml", "network:\n  allow:\n    - host: api.example.com\n")
    write(root, "notes.txt", "héllo\u2028wörld\r\n\ttabs and trailing  \n", mode=0o640)
    write(root, "data/blob.bin", b"\x00\x01\xff" + os.urandom(300_000))
    write(root, "data/big.bin", os.urandom(5 * 1024 * 1024 + 7))
    write(root, "empty.txt", b"")
    write(root, "données/ünï.json", {"k": "v", "nested": {"list": [1, 2.5, None, True]}})
    write(root, ".env", f"TOKEN={SECRET}\n")
    os.symlink("notes.txt", root / "latest")
    return root


@pytest.fixture
def dev(store: Store, src: Path) -> str:
    """The snapshot id of ``src`` pushed to env ``dev``."""
    return store.push(src, "dev", message="first").snapshot


def entries(store: Store, env: str) -> dict[str, tuple[Any, ...]]:
    head = store.log(env, 1)[0].snapshot
    return {
        e.path: (e.kind, e.mode, e.size, e.digest, tuple(e.secret_pointers), e.target)
        for e in load_manifest(store.repo, head).entries
    }


def store_state(tmp_path: Path) -> dict[str, str]:
    """Every file of the local store (and the cache) -> sha256 of its bytes."""
    out = {}
    for base in (tmp_path / "store", tmp_path / "cache"):
        for p in sorted(base.rglob("*")):
            if p.is_file():
                out[str(p.relative_to(tmp_path))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def plaintexts(root: Path) -> bytes:
    """Raw bytes of every store file plus every zstd frame in them, decompressed."""
    out = []
    for p in root.rglob("*"):
        if not p.is_file():
            continue
        raw = p.read_bytes()
        out.append(raw)
        start = raw.find(b"\x28\xb5\x2f\xfd")
        while start >= 0:
            with contextlib.suppress(zstandard.ZstdError):
                out.append(zstandard.ZstdDecompressor().decompressobj().decompress(raw[start:]))
            start = raw.find(b"\x28\xb5\x2f\xfd", start + 1)
    return b"\n".join(out)


def comp(
    path: str, data: bytes | str, kind: str = "document", encoding: str = "utf-8", **over: Any
) -> dict[str, Any]:
    raw = data.encode() if isinstance(data, str) else data
    content = raw.decode() if encoding == "utf-8" else base64.b64encode(raw).decode()
    out = {
        "path": path,
        "kind": kind,
        "mode": 0o644,
        "size": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "encoding": encoding,
        "content": content,
    }
    out.update(over)
    return out


def doc(components: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    out = {
        "format": "statesync-bundle",
        "version": 1,
        "created_at": "2025-01-01T00:00:00+00:00",
        "component_count": len(components),
        "metadata": {"description": "hand made"},
        "components": components,
    }
    out.update(over)
    return out


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


def write_tar(
    path: Path, header: dict[str, Any], members: list[tuple[str, bytes]], tail: bytes = b""
) -> Path:
    """A .tar.zst with ``header`` as its first member (``None``: no header) then ``members``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        head = [("statesync-bundle.json", json.dumps(header).encode())] if header else []
        for name, data in head + members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(buf.getvalue()) + tail)
    return path


def tar_header(components: list[dict[str, Any]]) -> dict[str, Any]:
    stripped = [
        {k: v for k, v in c.items() if k not in ("encoding", "content")} for c in components
    ]
    return doc(stripped)


def read_tar_header(path: Path) -> dict[str, Any]:
    raw = zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        names = tar.getnames()
        assert names[0] == "statesync-bundle.json"
        f = tar.extractfile(names[0])
        assert f is not None
        header: dict[str, Any] = json.loads(f.read())
        header["_members"] = names[1:]
        return header


def load_bundle_doc(path: Path) -> dict[str, Any]:
    if path.name.endswith(".tar.zst"):
        return read_tar_header(path)
    text = path.read_text()
    return dict(json.loads(text) if path.suffix == ".json" else yaml.safe_load(text))


def refused(
    store: Store,
    tmp_path: Path,
    path: Path,
    env: str = "new",
    error: type[Exception] = BundleError,
    match: str = "",
) -> StatesyncError:
    """Import ``path``; assert it raises ``error`` and that the store is unchanged."""
    before = store_state(tmp_path)
    envs = {e: store.log(e, 1)[0].snapshot for e in store.envs()}
    with pytest.raises(error) as info:
        store.import_(path, env)
    assert match in str(info.value)
    assert "\n" not in str(info.value) and SECRET not in str(info.value)
    assert store_state(tmp_path) == before
    assert {e: store.log(e, 1)[0].snapshot for e in store.envs()} == envs
    assert list((tmp_path / "tmp").iterdir()) == []  # no temp folder left behind
    assert isinstance(info.value, StatesyncError)
    return info.value


# --- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", FORMATS)
def test_round_trip_with_binaries_recreates_the_snapshot(
    store: Store, dev: str, src: Path, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"bundle{suffix}"
    res = store.export(
        out,
        env="dev",
        include_binaries=True,
        description="prod backup",
        tags={"team": "core", "ticket": "42"},
    )
    assert res.snapshot == dev and res.files == 8 and res.binaries_included == 2
    assert res.bytes == out.stat().st_size and res.omitted_binaries == []
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bundle")] == []
    header = load_bundle_doc(out)
    assert header["metadata"]["description"] == "prod backup"
    assert header["metadata"]["tags"] == {"team": "core", "ticket": "42"}
    assert header["metadata"]["snapshot"] == dev and header["metadata"]["env"] == "dev"
    assert header["policies"] == ["config/policy.yaml"]
    assert header["secrets"] == {"files": [".env"], "values": {"app.json": ["/db/password"]}}
    imported = store.import_(out, "copy")
    assert imported.changed and imported.serial == 1 and imported.parent is None
    assert imported.missing == [] and imported.skipped == [] and imported.imported == 8
    assert entries(store, "copy") == entries(store, "dev")
    assert tree(_pull(store, "copy", tmp_path)) == tree(_pull(store, "dev", tmp_path))
    [log] = store.log("copy")
    assert log.message == "prod backup" and log.tags == {"team": "core", "ticket": "42"}


def _pull(store: Store, env: str, tmp_path: Path) -> Path:
    out = tmp_path / f"pulled-{env}"
    store.pull(out, env)
    return out


@pytest.mark.parametrize("suffix", FORMATS)
def test_without_binaries_they_are_listed_not_carried(
    store: Store, dev: str, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"bundle{suffix}"
    res = store.export(out, env="dev")
    assert res.binaries_included == 0
    assert res.omitted_binaries == ["data/big.bin", "data/blob.bin"]
    assert out.stat().st_size < 100_000
    header = load_bundle_doc(out)
    big = next(c for c in header["components"] if c["path"] == "data/big.bin")
    assert big["include_binary"] is False and "content" not in big
    if suffix == ".tar.zst":
        assert "files/data/big.bin" not in header["_members"]
    imported = store.import_(out, "copy")
    assert imported.missing == ["data/big.bin", "data/blob.bin"]
    want = {p: e for p, e in entries(store, "dev").items() if not p.endswith(".bin")}
    assert entries(store, "copy") == want


@pytest.mark.parametrize("suffix", FORMATS)
def test_binaries_without_content_come_from_the_environment(
    store: Store, dev: str, tmp_path: Path, suffix: str
) -> None:
    store.export(tmp_path / f"full{suffix}", env="dev", include_binaries=True)
    store.import_(tmp_path / f"full{suffix}", "stage")
    store.export(tmp_path / f"slim{suffix}", env="dev")
    again = store.import_(tmp_path / f"slim{suffix}", "stage")
    assert again.missing == [] and not again.changed and again.serial == 1
    assert entries(store, "stage") == entries(store, "dev")


@pytest.mark.parametrize("suffix", FORMATS)
def test_path_filters_select_components(
    store: Store, dev: str, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"part{suffix}"
    res = store.export(out, env="dev", paths=["config", "*.txt"], include_binaries=True)
    assert res.files == 3 and res.secret_files == []
    header = load_bundle_doc(out)
    assert [c["path"] for c in header["components"]] == [
        "config/policy.yaml",
        "empty.txt",
        "notes.txt",
    ]
    assert header["metadata"]["paths"] == ["config", "*.txt"]
    store.import_(out, "part")
    dev_entries = entries(store, "dev")
    assert entries(store, "part") == {
        p: dev_entries[p] for p in ("config/policy.yaml", "empty.txt", "notes.txt")
    }


def test_a_filter_that_matches_nothing_is_a_usage_error(
    store: Store, dev: str, tmp_path: Path
) -> None:
    with pytest.raises(UsageError):
        store.export(tmp_path / "x.json", env="dev", paths=["nothing/**"])
    assert not (tmp_path / "x.json").exists()


def test_export_by_snapshot_id(store: Store, dev: str, tmp_path: Path) -> None:
    res = store.export(tmp_path / "b.yml", snapshot=dev[:10])
    assert res.snapshot == dev and res.format == "yaml"


@pytest.mark.parametrize("name", ["bundle.zip", "bundle", "bundle.tar", "bundle.zst"])
def test_unknown_suffix_is_a_usage_error(store: Store, dev: str, tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError) as info:
        store.export(tmp_path / name, env="dev")
    assert info.value.exit_code == 2 and not (tmp_path / name).exists()
    (tmp_path / name).write_bytes(b"{}")
    refused(store, tmp_path, tmp_path / name, error=UsageError)


def test_missing_bundle_file_is_a_usage_error(store: Store, tmp_path: Path) -> None:
    for name in ("nope.json", "nope.tar.zst"):
        refused(store, tmp_path, tmp_path / name, error=UsageError, match="no such bundle")


@pytest.mark.parametrize("suffix", FORMATS)
def test_skip_existing_keeps_the_environments_files(
    store: Store, dev: str, src: Path, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"b{suffix}"
    store.export(out, env="dev", include_binaries=True)
    other = tmp_path / "other"
    write(other, "app.json", {"mine": True})
    write(other, "only-here.txt", "stage only\n")
    store.push(other, "stage")
    before = entries(store, "stage")
    res = store.import_(out, "stage", skip_existing=True)
    assert res.skipped == ["app.json"] and res.changed and res.serial == 2
    after = entries(store, "stage")
    assert after["app.json"] == before["app.json"]
    assert after["only-here.txt"] == before["only-here.txt"]
    assert after["notes.txt"] == entries(store, "dev")["notes.txt"]
    replaced = store.import_(out, "stage")  # without skip-existing the bundle wins
    assert (
        replaced.skipped == []
        and entries(store, "stage")["app.json"] == entries(store, "dev")["app.json"]
    )
    assert entries(store, "stage")["only-here.txt"] == before["only-here.txt"]


def test_importing_the_same_bundle_twice_changes_nothing(
    store: Store, dev: str, tmp_path: Path
) -> None:
    store.export(tmp_path / "b.json", env="dev", include_binaries=True)
    first = store.import_(tmp_path / "b.json", "copy")
    again = store.import_(tmp_path / "b.json", "copy")
    assert not again.changed and again.snapshot == first.snapshot and again.serial == 1


def test_export_is_atomic_when_reading_fails(
    store: Store, dev: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for suffix in FORMATS:
        out = tmp_path / f"keep{suffix}"
        out.write_bytes(b"previous bundle")

        def broken(*args: Any) -> Iterator[bytes]:
            yield b"x" * 10
            raise IntegrityError("objects/ab/cd: chunk abcd is corrupt")

        monkeypatch.setattr(bundle_export, "iter_entry", broken)
        monkeypatch.setattr(bundle_export, "read_entry", lambda *a: b"".join(broken()))
        with pytest.raises(IntegrityError):
            store.export(out, env="dev", include_binaries=True)
        assert out.read_bytes() == b"previous bundle"
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".keep")) == []
        monkeypatch.undo()


def test_empty_bundle_creates_an_empty_environment(store: Store, tmp_path: Path) -> None:
    res = store.import_(write_json(tmp_path / "e.json", doc([])), "blank")
    assert res.files == 0 and res.serial == 1
    assert entries(store, "blank") == {}


# --- secrets --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", FORMATS)
def test_secret_values_in_imported_documents_are_redacted(
    store: Store, tmp_path: Path, suffix: str
) -> None:
    app = json.dumps({"api_token": SECRET, "name": CANARY})
    conf = f"db:\n  password: {SECRET}\n  host: h\n"
    comps = [comp("app.json", app), comp("conf.yaml", conf)]
    path = tmp_path / f"s{suffix}"
    if suffix == ".tar.zst":
        write_tar(
            path,
            tar_header(comps),
            [("files/app.json", app.encode()), ("files/conf.yaml", conf.encode())],
        )
    elif suffix == ".json":
        write_json(path, doc(comps))
    else:
        path.write_text(yaml.safe_dump(doc(comps)))
    store.import_(path, "dev")
    raw = plaintexts(tmp_path / "store")
    assert CANARY.encode() in raw  # the scan does see stored plaintext...
    assert SECRET.encode() not in raw  # ...and the secret is not there
    head = store.log("dev", 1)[0].snapshot
    by_path = load_manifest(store.repo, head).by_path()
    stored = read_entry(store.repo, load_index(store.repo), by_path["app.json"])
    assert json.loads(stored)["api_token"] == MARKER
    assert by_path["app.json"].secret_pointers == ["/api_token"]
    assert by_path["conf.yaml"].secret_pointers == ["/db/password"]


@pytest.mark.parametrize("suffix", [".json", ".tar.zst"])
def test_secret_files_in_a_bundle_are_never_stored(
    store: Store, tmp_path: Path, suffix: str
) -> None:
    files = {".env": f"TOKEN={SECRET}\n", "secrets/db.txt": SECRET, "ok.txt": CANARY}
    comps = [comp(p, d) for p, d in files.items()]
    path = tmp_path / f"s{suffix}"
    if suffix == ".tar.zst":
        write_tar(path, tar_header(comps), [(f"files/{p}", d.encode()) for p, d in files.items()])
    else:
        write_json(path, doc(comps))
    res = store.import_(path, "dev")
    assert res.secret_files == [".env", "secrets/db.txt"] and res.imported == 1
    assert set(entries(store, "dev")) == {"ok.txt"}
    raw = plaintexts(tmp_path / "store")
    assert CANARY.encode() in raw and SECRET.encode() not in raw
    head = store.log("dev", 1)[0].snapshot
    assert load_manifest(store.repo, head).secret_files == [".env", "secrets/db.txt"]


def test_exported_documents_carry_markers_not_secrets(
    store: Store, dev: str, tmp_path: Path
) -> None:
    for suffix in FORMATS:
        out = tmp_path / f"b{suffix}"
        store.export(out, env="dev", include_binaries=True)
        raw = out.read_bytes()
        if suffix == ".tar.zst":
            raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
        assert SECRET.encode() not in raw and b"db1" in raw


# --- refusals: nothing is written -------------------------------------------------------


@pytest.mark.parametrize("suffix", FORMATS)
def test_truncated_bundles_are_refused(store: Store, dev: str, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"b{suffix}"
    store.export(out, env="dev", include_binaries=True)
    data = out.read_bytes()
    # Every cut that loses data; a document losing only its final newline is still whole.
    cuts = {len(data) // 2, len(data) // 3, len(data) - 2, 200, 0}
    if suffix == ".tar.zst":
        cuts |= {len(data) - 1, len(data) - 4, 10}
    for cut in sorted(cuts):
        bad = tmp_path / f"cut{suffix}"
        bad.write_bytes(data[:cut])
        refused(store, tmp_path, bad)
        refused(store, tmp_path, bad, env="dev")


def test_yaml_cut_between_components_is_refused(store: Store, dev: str, tmp_path: Path) -> None:
    out = tmp_path / "b.yaml"
    store.export(out, env="dev")
    text = out.read_text()
    cut = text.rindex("\n- path:") + 1
    (tmp_path / "cut.yaml").write_text(text[:cut])
    refused(store, tmp_path, tmp_path / "cut.yaml", match="truncated")


def test_tar_with_trailing_garbage_is_refused(store: Store, tmp_path: Path) -> None:
    c = comp("a.txt", "hi")
    path = write_tar(
        tmp_path / "g.tar.zst", tar_header([c]), [("files/a.txt", b"hi")], tail=b"garbage"
    )
    refused(store, tmp_path, path, match="after the end")


@pytest.mark.parametrize(
    "text",
    [
        '{"format": "statesync-bundle", "version": 1,',
        '{"format": "statesync-bundle" "version": 1}',
        "",
        "not json at all",
        "[1, 2]",
        '"string"',
        '{"a": 1, "a": 2}',
    ],
)
def test_malformed_json_is_refused(store: Store, tmp_path: Path, text: str) -> None:
    (tmp_path / "m.json").write_text(text)
    refused(store, tmp_path, tmp_path / "m.json")


@pytest.mark.parametrize("text", ["format: [unclosed", "a: b\n c: d: e\n", "- 1\n- 2\n", "\t- bad"])
def test_malformed_yaml_is_refused(store: Store, tmp_path: Path, text: str) -> None:
    (tmp_path / "m.yaml").write_text(text)
    refused(store, tmp_path, tmp_path / "m.yaml")


def test_not_a_tar_zst_is_refused(store: Store, tmp_path: Path) -> None:
    (tmp_path / "x.tar.zst").write_bytes(b"\x28\xb5\x2f\xfd" + os.urandom(300))
    refused(store, tmp_path, tmp_path / "x.tar.zst")
    (tmp_path / "y.tar.zst").write_bytes(zstandard.ZstdCompressor().compress(b"not a tar"))
    refused(store, tmp_path, tmp_path / "y.tar.zst")


@pytest.mark.parametrize("version", [2, 0, "1", None, True, 1.0])
def test_unknown_format_version_is_refused(store: Store, tmp_path: Path, version: Any) -> None:
    path = write_json(tmp_path / "v.json", doc([comp("a.txt", "a")], version=version))
    err = refused(store, tmp_path, path, match="version")
    assert repr(version) in str(err)
    tar = write_tar(tmp_path / "v.tar.zst", {**tar_header([]), "version": version}, [])
    refused(store, tmp_path, tar, match=f"version {version!r}")


def test_wrong_format_name_is_refused(store: Store, tmp_path: Path) -> None:
    path = write_json(tmp_path / "w.json", doc([], format="wassette-state"))
    refused(store, tmp_path, path, match="not a statesync bundle")


UNSAFE = [
    "../evil",
    "/etc/passwd",
    "a/../../evil",
    ".statesync/state.json",
    "a//b",
    "./a",
    "a\\..\\b",
    "",
    "a/",
    "x\x00y",
]


@pytest.mark.parametrize("bad", UNSAFE)
def test_unsafe_component_paths_are_refused(
    store: Store, dev: str, tmp_path: Path, bad: str
) -> None:
    comps = [comp("ok.txt", "fine"), comp(bad, "evil")]
    refused(
        store, tmp_path, write_json(tmp_path / "p.json", doc(comps)), env="dev", match="unsafe path"
    )
    members = [("files/ok.txt", b"fine"), (f"files/{bad}", b"evil")]
    refused(
        store,
        tmp_path,
        write_tar(tmp_path / "p.tar.zst", tar_header(comps), members),
        match="unsafe path",
    )
    assert not (tmp_path / "evil").exists() and not Path("/etc/passwd.statesync").exists()


def test_unsafe_secret_names_and_symlinks_are_refused(store: Store, tmp_path: Path) -> None:
    path = write_json(tmp_path / "s.json", doc([], secrets={"files": ["../x"], "values": {}}))
    refused(store, tmp_path, path, match="unsafe path")
    target = "../../etc"  # kept verbatim, but nothing may lie under a link
    link = {
        "path": "l",
        "kind": "symlink",
        "mode": 0o777,
        "size": 0,
        "target": target,
        "sha256": hashlib.sha256(target.encode()).hexdigest(),
    }
    refused(
        store,
        tmp_path,
        write_json(tmp_path / "l.json", doc([link, comp("l/passwd", "x")])),
        match="which is a link",
    )
    empty = {**link, "target": "", "sha256": hashlib.sha256(b"").hexdigest()}
    refused(store, tmp_path, write_json(tmp_path / "e.json", doc([empty])), match="invalid target")


def test_tar_member_path_tricks_are_refused(store: Store, tmp_path: Path) -> None:
    c = comp("a.txt", "hi")
    header = tar_header([c])
    cases = {
        "unexpected": [("files/a.txt", b"hi"), ("files/../../evil", b"x")],
        "repeated": [("files/a.txt", b"hi"), ("files/a.txt", b"hi")],
        "missing": [],
    }
    for name, members in cases.items():
        refused(
            store,
            tmp_path,
            write_tar(tmp_path / f"{name}.tar.zst", header, members),
            match="missing" if name == "missing" else "member",
        )
    no_header = write_tar(tmp_path / "nh.tar.zst", {}, [("files/a.txt", b"hi")])
    refused(store, tmp_path, no_header, match="not a statesync bundle")
    inline = write_tar(tmp_path / "in.tar.zst", doc([c]), [("files/a.txt", b"hi")])
    refused(store, tmp_path, inline, match="inline content")


def test_symlink_member_in_tar_is_refused(store: Store, tmp_path: Path) -> None:
    c = comp("a.txt", "hi")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        head = json.dumps(tar_header([c])).encode()
        info = tarfile.TarInfo("statesync-bundle.json")
        info.size = len(head)
        tar.addfile(info, io.BytesIO(head))
        link = tarfile.TarInfo("files/a.txt")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    path = tmp_path / "ln.tar.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))
    refused(store, tmp_path, path, match="member")


def test_sha256_and_size_mismatches_are_refused(store: Store, dev: str, tmp_path: Path) -> None:
    good = comp("a.txt", "the real content")
    wrong_sha = {**good, "sha256": hashlib.sha256(b"other").hexdigest()}
    refused(
        store,
        tmp_path,
        write_json(tmp_path / "h.json", doc([wrong_sha])),
        env="dev",
        match="sha256",
    )
    wrong_size = {**good, "size": good["size"] + 1}
    refused(
        store,
        tmp_path,
        write_json(tmp_path / "z.json", doc([wrong_size])),
        match="bytes but the bundle says",
    )
    tampered = write_tar(
        tmp_path / "h.tar.zst", tar_header([good]), [("files/a.txt", b"the fake content")]
    )
    refused(store, tmp_path, tampered, env="dev", match="sha256")
    short = write_tar(tmp_path / "s.tar.zst", tar_header([good]), [("files/a.txt", b"short")])
    refused(store, tmp_path, short, match="bytes but the bundle says")
    yaml_path = tmp_path / "h.yaml"
    yaml_path.write_text(yaml.safe_dump(doc([wrong_sha])))
    refused(store, tmp_path, yaml_path, match="sha256")


def test_an_exported_bundle_with_one_changed_byte_is_refused(
    store: Store, dev: str, tmp_path: Path
) -> None:
    out = tmp_path / "b.json"
    store.export(out, env="dev")
    text = out.read_text().replace("api.example.com", "api.example.org")
    (tmp_path / "t.json").write_text(text)
    refused(store, tmp_path, tmp_path / "t.json", env="dev", match="sha256")


@pytest.mark.parametrize("content", ["!!!not base64!!!", "YWJj\nZA==", "YWJjZA", "é"])
def test_bad_base64_is_refused(store: Store, tmp_path: Path, content: str) -> None:
    c = {**comp("b.bin", b"abcd", kind="binary", encoding="base64"), "content": content}
    refused(store, tmp_path, write_json(tmp_path / "b.json", doc([c])), match="base64")


BAD_COMPONENTS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("kind", lambda c: {**c, "kind": "device"}, "unknown kind"),
    ("mode", lambda c: {**c, "mode": "0644"}, "'mode'"),
    ("negative size", lambda c: {**c, "size": -1}, "'size'"),
    ("bool size", lambda c: {**c, "size": True}, "'size'"),
    ("sha", lambda c: {**c, "sha256": "ABC"}, "sha256"),
    ("no sha", lambda c: {k: v for k, v in c.items() if k != "sha256"}, "sha256"),
    ("encoding", lambda c: {**c, "encoding": "rot13"}, "unknown encoding"),
    ("no content", lambda c: {k: v for k, v in c.items() if k != "content"}, "content"),
    ("content type", lambda c: {**c, "content": 42}, "content"),
    ("document omitted", lambda c: {**c, "include_binary": False}, "only a binary"),
    ("not a mapping", lambda c: ["a.txt"], "not a mapping"),
    ("path type", lambda c: {**c, "path": 7}, "not a string"),
]


@pytest.mark.parametrize(
    ("label", "change", "match"), BAD_COMPONENTS, ids=[b[0] for b in BAD_COMPONENTS]
)
def test_malformed_components_are_refused(
    store: Store, tmp_path: Path, label: str, change: Callable[[dict[str, Any]], Any], match: str
) -> None:
    comps = [comp("ok.txt", "fine"), change(comp("a.txt", "text"))]
    refused(store, tmp_path, write_json(tmp_path / "c.json", doc(comps)), match=match)


BAD_DOCS: list[tuple[str, dict[str, Any], str]] = [
    ("components type", {"components": {"a": 1}}, "'components'"),
    ("count", {"component_count": 5}, "truncated"),
    ("no count", {"component_count": None}, "component_count"),
    ("metadata type", {"metadata": []}, "'metadata'"),
    ("tags type", {"metadata": {"tags": {"a": 1}}}, "tags"),
    ("description type", {"metadata": {"description": 3}}, "description"),
    ("secrets type", {"secrets": []}, "secrets"),
    ("pointer", {"secrets": {"files": [], "values": {"a.txt": ["no-slash"]}}}, "pointer"),
    ("policies", {"policies": "p.yaml"}, "policies"),
    ("created_at", {"created_at": 5}, "created_at"),
]


@pytest.mark.parametrize(("label", "over", "match"), BAD_DOCS, ids=[b[0] for b in BAD_DOCS])
def test_malformed_documents_are_refused(
    store: Store, tmp_path: Path, label: str, over: dict[str, Any], match: str
) -> None:
    document = doc([comp("a.txt", "x")])
    document.update(over)
    refused(store, tmp_path, write_json(tmp_path / "d.json", document), match=match)


def test_duplicate_and_nested_paths_are_refused(store: Store, tmp_path: Path) -> None:
    dup = doc([comp("a.txt", "1"), comp("a.txt", "2")])
    refused(store, tmp_path, write_json(tmp_path / "d.json", dup), match="duplicate path")
    nested = doc([comp("a", "1"), comp("a/b", "2")])
    refused(store, tmp_path, write_json(tmp_path / "n.json", nested), match="lies under")


def test_a_file_clashing_with_an_environment_folder_is_refused(
    store: Store, dev: str, tmp_path: Path
) -> None:
    err = refused(
        store,
        tmp_path,
        write_json(tmp_path / "c.json", doc([comp("config", "x")])),
        env="dev",
        error=StatesyncError,
        match="lies under",
    )
    assert err.exit_code == 1


def test_a_bad_component_late_in_the_bundle_writes_nothing(
    store: Store, dev: str, tmp_path: Path
) -> None:
    many = [comp(f"f{i:03}.txt", f"content {i}\n" * 50) for i in range(50)]
    many.append({**comp("z.txt", "z"), "sha256": "0" * 64})
    refused(store, tmp_path, write_json(tmp_path / "late.json", doc(many)), env="dev")
    members = [(f"files/{c['path']}", c["content"].encode()) for c in many]
    refused(
        store, tmp_path, write_tar(tmp_path / "late.tar.zst", tar_header(many), members), env="dev"
    )


# --- concurrency and temp folders ---------------------------------------------------------


def test_a_concurrent_writer_makes_import_a_conflict(
    store: Store, dev: str, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_json(tmp_path / "b.json", doc([comp("new.txt", "from the bundle")]))
    real = plan_import

    def racing(*args: Any, **kwargs: Any) -> Any:
        write(src, "app.json", {"changed": "by someone else"})
        store.push(src, "dev")
        return real(*args, **kwargs)

    monkeypatch.setattr("statesync.sync.bundles.plan_import", racing)
    with pytest.raises(RefConflict) as info:
        store.import_(tmp_path / "b.json", "dev")
    assert info.value.exit_code == 3
    state = read_ref(store.repo, "dev")
    assert state is not None and state.ref.serial == 2
    assert "new.txt" not in entries(store, "dev")


def test_tar_import_extracts_into_a_private_folder_and_removes_it(
    store: Store, dev: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.export(tmp_path / "b.tar.zst", env="dev", include_binaries=True)
    seen: list[int] = []
    real = read_tar

    def spy(path: Path, tmp: Path) -> Any:
        seen.append(stat.S_IMODE(tmp.stat().st_mode))
        return real(path, tmp)

    monkeypatch.setattr("statesync.sync.bundles.read_tar", spy)
    store.import_(tmp_path / "b.tar.zst", "copy")
    assert seen == [0o700]
    assert list((tmp_path / "tmp").iterdir()) == []
    assert entries(store, "copy") == entries(store, "dev")
