"""Coverage-guided fuzzing (atheris, libFuzzer) of the document parsers (issue 18).

Usage::

    python scripts/fuzz_atheris.py --list
    python scripts/fuzz_atheris.py TARGET --seconds 60 [--out DIR]   # one target, in process
    python scripts/fuzz_atheris.py --all --seconds 60 [--out DIR]    # each in its own process

Each target feeds bytes to one parser. Its own errors (:class:`StatesyncError`,
and for the span locators the ``ValueError`` their callers catch for "does
not parse") are expected; any other exception is a finding: libFuzzer stops,
prints it and writes the input as ``DIR/crash-*``. ``--all`` prints one JSON
line per target: executions, executions per second, coverage (libFuzzer's
``cov`` edges and ``ft`` features), corpus size, and the finding if any; it
exits 1 if a target found something. The JSON span scanner is also checked
against ``json.loads`` (it must accept exactly what ``json.loads`` accepts).

atheris installs from a wheel (Linux x86_64, CPython 3.11 to 3.13: the ``dev``
extra's marker); elsewhere this script says so and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "formats" / "fixtures"
TARGETS = (
    "json-spans",
    "yaml-spans",
    "toml-spans",
    "wassette",
    "persist",
    "bundle-json",
    "bundle-yaml",
    "bundle-tar",
)
_DONE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/\S+ .*exec/s: (\d+)")
_LAST = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/\S+ .*exec/s: (\d+)")


def _target(name: str, scratch: Path) -> Callable[[bytes], None]:
    """The fuzz function of ``name`` (statesync imported under atheris' instrumentation)."""
    import gzip

    import atheris
    import zstandard

    # statesync's modules report the branches they take to libFuzzer (instrument_all,
    # which would add yaml and tarfile, costs 80 s of start-up per target).
    with atheris.instrument_imports(include=["statesync"]):
        from statesync.errors import StatesyncError
        from statesync.formats import detect, persist, wassette
        from statesync.sync.bundle import document, tar
        from statesync.sync.secrets import docspans, tomlspans
        from statesync.sync.secrets.policy import SecretPolicy

    policy = SecretPolicy()

    def spans(locator: Any) -> Callable[[bytes], None]:
        def run(data: bytes) -> None:
            try:
                locator.locate(data, policy)
                locator.at(data, {"/a", "/password", "/0"})
            except (StatesyncError, ValueError):  # UnicodeDecodeError is a ValueError
                pass

        return run

    json_locator = docspans.JsonLocator()

    def json_spans(data: bytes) -> None:
        spans(json_locator)(data)
        try:
            text = data.decode("utf-8")
            json.loads(text)
        except (ValueError, RecursionError):
            return
        # json.loads took it: the scanner must take it too (or stop at a document limit)
        with contextlib.suppress(StatesyncError):
            json_locator.at(data, {"/a"})

    def toml_spans(data: bytes) -> None:
        import tomllib

        try:
            text = data.decode("utf-8")
            doc = tomllib.loads(text)
        except (ValueError, RecursionError):
            return
        offsets = tomlspans.value_offsets(text)
        assert all(0 <= at <= len(text) for at in offsets.values()), offsets
        del doc

    def file_target(suffix: str, read: Callable[[Path], Any]) -> Callable[[bytes], None]:
        path = scratch / f"input{suffix}"

        def run(data: bytes) -> None:
            path.write_bytes(data)
            with contextlib.suppress(StatesyncError):
                read(path)

        return run

    def wassette_file(path: Path) -> None:
        found = detect.detect(path)
        if found.format == detect.WASSETTE:
            wassette.parse_snapshot(found.doc, path.name)
        elif found.format == detect.WASSETTE_STATE:
            wassette.parse_state(found.doc, path.name)

    def persist_bytes(data: bytes) -> None:
        # Half the inputs are the JSON inside: mutating gzip bytes rarely gets past inflate.
        raw = gzip.compress(data[1:], mtime=0) if data[:1] == b"{" else data
        with contextlib.suppress(StatesyncError):
            persist.read(raw, "input.json.gz")

    def tar_file(path: Path) -> None:
        data = path.read_bytes()
        if data[:1] == b"T":  # the tar stream itself, in a valid zstd frame
            path.write_bytes(zstandard.ZstdCompressor().compress(data[1:]))
        out = Path(tempfile.mkdtemp(dir=scratch))
        try:
            tar.read_tar(path, out)
        finally:
            shutil.rmtree(out, ignore_errors=True)

    wassette_yaml = file_target(".yaml", wassette_file)
    wassette_json = file_target(".json", wassette_file)

    def wassette_any(data: bytes) -> None:
        (wassette_yaml if data[:1] in (b"-", b"#") or b": " in data[:64] else wassette_json)(data)

    return {
        "json-spans": json_spans,
        "yaml-spans": spans(docspans.YamlLocator()),
        "toml-spans": toml_spans,
        "wassette": wassette_any,
        "persist": persist_bytes,
        "bundle-json": file_target(".json", lambda p: document.read_document(p, "json")),
        "bundle-yaml": file_target(".yaml", lambda p: document.read_document(p, "yaml")),
        "bundle-tar": file_target(".tar.zst", tar_file),
    }[name]


def _seeds(name: str, corpus: Path) -> None:
    """A few valid inputs for ``name`` in ``corpus`` (libFuzzer mutates from there)."""
    import gzip

    import zstandard

    corpus.mkdir(parents=True, exist_ok=True)
    seeds: list[bytes] = [b"{}", b'{"a": 1, "password": "x", "list": [1, 2.5e3, null, true]}']
    if name in ("json-spans", "yaml-spans", "wassette"):
        seeds += [p.read_bytes() for p in FIXTURES.glob("*") if p.is_file()]
    if name == "yaml-spans":
        seeds += [b"a: &x 1\nb: *x\npassword: !!str 3\n- list\n", b"%YAML 1.1\n---\nk: |\n  v\n"]
    if name == "toml-spans":
        seeds = [
            b'store = "s3://b/p"\n[secrets]\nglobs = ["*.pem"]\nkey_pattern = "(?i)pass"\n',
            b'a.b."c d" = [1, {x = 2}]\n[[t]]\nk = """m\nl"""\n',
        ]
    if name == "persist":
        seeds = _export_seeds(corpus.parent / "seed-store", "persist")
        seeds.append(b"{" + gzip.decompress(seeds[0]))
    if name.startswith("bundle-"):
        seeds = _export_seeds(corpus.parent / "seed-store", name.removeprefix("bundle-"))
    if name == "bundle-tar":
        seeds.append(b"T" + zstandard.ZstdDecompressor().decompressobj().decompress(seeds[0]))
    for i, seed in enumerate(seeds):
        (corpus / f"seed-{i}").write_bytes(seed)


def _export_seeds(tmp: Path, kind: str) -> list[bytes]:
    """Real files of ``kind`` (json, yaml, tar, persist) made by ``statesync export``."""
    from statesync.cli import main

    store = tmp / "store"
    folder = tmp / "w"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agent_state.json").write_text('{"messages": [{"role": "user", "text": "hi"}]}')
    (folder / "config.json").write_text('{"password": "s3cret", "n": 1}')
    (folder / "notes.yaml").write_text("a: 1\n")
    (folder / "bin.dat").write_bytes(bytes(range(64)))
    if not store.exists():
        main(["init", "--store", str(store), "-q"])
        main(["push", str(folder), "--store", str(store), "--env", "dev", "-q"])
    out = (
        tmp / {"json": "b.json", "yaml": "b.yaml", "tar": "b.tar.zst", "persist": "p.json.gz"}[kind]
    )
    extra = ["--format", "persist"] if kind == "persist" else ["--include-binaries"]
    main(["export", "--store", str(store), "--env", "dev", "-o", str(out), "-q", *extra])
    return [out.read_bytes()]


def run_one(name: str, seconds: int, out: Path) -> None:
    """Fuzz ``name`` for ``seconds`` in this process (libFuzzer exits the process)."""
    import atheris

    scratch = Path(tempfile.mkdtemp(prefix=f"atheris-{name}-"))
    fuzz = _target(name, scratch)  # first: a module imported before it is not instrumented
    corpus = out / name / "corpus"
    _seeds(name, corpus)
    flags = [
        f"-max_total_time={seconds}",
        "-timeout=20",  # one input taking longer is a hang: a finding
        "-rss_limit_mb=2048",  # unbounded memory is a finding
        "-max_len=65536",
        f"-artifact_prefix={out / name}/",
        "-print_final_stats=1",
        str(corpus),
    ]
    atheris.Setup([sys.argv[0], *flags], fuzz)
    atheris.Fuzz()


def run_all(names: list[str], seconds: int, out: Path) -> int:
    """Each target in its own process; one JSON line of figures per target."""
    found = 0
    for name in names:
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, __file__, name, "--seconds", str(seconds), "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=seconds * 3 + 120,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        log = proc.stdout + proc.stderr
        (out / name).mkdir(parents=True, exist_ok=True)
        (out / name / "log.txt").write_text(log)
        figures = _figures(log)
        crashes = sorted(str(p) for p in (out / name).glob("crash-*"))
        crashes += sorted(str(p) for p in (out / name).glob("timeout-*"))
        crashes += sorted(str(p) for p in (out / name).glob("oom-*"))
        finding = _finding(log) if proc.returncode != 0 or crashes else None
        found += finding is not None
        row = {
            "target": name,
            "seconds": round(time.monotonic() - started, 1),
            **figures,
            "exit": proc.returncode,
            "finding": finding,
            "inputs": crashes,
        }
        print(json.dumps(row), flush=True)
    return 1 if found else 0


def _figures(log: str) -> dict[str, int]:
    progress = list(_LAST.finditer(log))
    match = _DONE.search(log) or (progress[-1] if progress else None)
    if match is None:
        return {}
    runs, cov, ft, corp, rate = (int(g) for g in match.groups())
    return {"executions": runs, "exec_per_s": rate, "cov": cov, "ft": ft, "corpus": corp}


def _finding(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if "Uncaught Python exception" in line or "ERROR: libFuzzer" in line:
            tail = [ln for ln in lines[i : i + 40] if re.match(r"^\w*(Error|Exception)\b", ln)]
            return (tail[-1] if tail else line)[:300]
    return (lines[-1] if lines else "no output")[:300]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", choices=TARGETS)
    parser.add_argument("--all", action="store_true", help="every target, one process each")
    parser.add_argument("--list", action="store_true", help="print the targets")
    parser.add_argument("--seconds", type=int, default=60, help="per target (default 60)")
    parser.add_argument("--out", type=Path, default=None, help="corpus and findings folder")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(TARGETS))
        return 0
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed (wheels: Linux x86_64, CPython 3.11-3.13)", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="statesync-atheris-"))
    if args.all:
        return run_all([args.target] if args.target else list(TARGETS), args.seconds, out)
    if not args.target:
        parser.error("name a target, or --all")
    run_one(args.target, args.seconds, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
