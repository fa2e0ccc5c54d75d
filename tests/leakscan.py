"""After the whole suite: no planted secret value is anywhere in any test store.

Tests that put a secret into a folder use :func:`planted` for its value. At the
end of the session (see ``tests/conftest.py``) every object of every store the
session wrote (local stores under pytest's base temporary folder, and the
buckets the session's rigs made on the loopback emulators) is read, raw and
zstd-decompressed (a pack is a run of frames), and searched for the planted
marker, also in base64 and UTF-16. Sealed values (AES-GCM) carry no trace of
it; a clear one does. The same bytes, and every ``*.vv.log`` file the session
left under its base temporary folder (the fault tests keep their CLI's
stderr at ``-vv`` there), also go through an independent detector: the
credential patterns of Yelp's ``detect-secrets`` (:func:`detector_hits`),
which knows nothing of our markers. Its entropy and keyword plugins are left
out: a store is made of hashes and ciphertext, and redacted documents keep
their keys. Local objects are scanned by a process pool.
Memory stores die with their worker process and are not scanned.

Beyond the stores (issue 18): the transcripts of ``tests/leakrecord.py`` —
every CLI run's stderr and stdout, every HTTP response a test read — and the
``*.vv.log`` files are searched for the marker *and* every value the session
planted there (passphrases, tokens and account keys the CLI ran with, request
credentials; store objects for the marker only: each needle costs one more
pass over every byte), and go through the detector too; records that hand back the user's own data
(``cat``, ``export``, a Terraform state read) only through the detector.
:func:`mode_findings` walks the tests' private user folders and folders for
the files statesync keeps private (keys, trust, pins, token files, the machine
id, folder records): a file wider than 0600 or a promised folder wider than
0700 is a finding. A finding names the file (and the record), never the value.
"""

from __future__ import annotations

import base64
import concurrent.futures
import functools
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statesync.errors import StatesyncError

#: The marker every planted secret value carries; nothing else in the suite writes it.
MARKER = "pl4nted-s3cr3t"
#: Objects larger than this are read only raw (test stores hold no such secrets).
MAX_INFLATE = 256 * 1024 * 1024


def planted(name: str) -> str:
    """A secret value for a test folder; the end-of-session scan looks for it in every store."""
    return f"{MARKER}-{name}"


def needles_of(value: str) -> list[bytes]:
    """The byte strings that betray ``value``: raw, UTF-16, and base64 however it is aligned."""
    raw = value.encode(errors="surrogateescape")
    out = [
        raw,
        value.encode("utf-16-le", "surrogatepass"),
        value.encode("utf-16-be", "surrogatepass"),
    ]
    # base64 of any bytes holding the value holds base64(raw[k:k+9]) for the k
    # that puts raw[k] on a 3-byte group boundary (values of 11+ bytes).
    if len(raw) >= 11:
        out += [base64.b64encode(raw[k : k + 9]) for k in range(3)]
    return out


NEEDLES = needles_of(MARKER)


def inflated(raw: bytes) -> bytes:
    """Every zstd frame in ``raw`` decompressed and joined (b"" if there is none)."""
    import zstandard

    out: list[bytes] = []
    start = raw.find(b"\x28\xb5\x2f\xfd")
    while start != -1 and sum(map(len, out)) < MAX_INFLATE:
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(
                raw[start:], read_across_frames=True
            )
            out.append(reader.read(MAX_INFLATE))
            break
        except zstandard.ZstdError:
            start = raw.find(b"\x28\xb5\x2f\xfd", start + 1)
    return b"".join(out)


def leaks(raw: bytes) -> bool:
    """True if ``raw`` or its decompressed form holds a planted secret."""
    return _planted_in(NEEDLES, raw, inflated(raw))


def _planted_in(needles: Iterable[bytes], *blobs: bytes) -> bool:
    return any(n in blob for blob in blobs for n in needles)


#: detect-secrets plugins left out: they flag every hash, ciphertext and redacted key.
_NOISY = {"Base64HighEntropyString", "HexHighEntropyString", "KeywordDetector", "IPPublicDetector"}


@functools.cache
def _detectors() -> list[tuple[str, re.Pattern[str]]]:
    """(plugin, pattern) for every credential pattern detect-secrets knows."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    out = []
    plugins: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    for plugin in plugins:
        if plugin.__name__ not in _NOISY:
            out += [(plugin.__name__, rx) for rx in getattr(plugin, "denylist", ())]
    return out


def detector_hits(*blobs: bytes) -> list[str]:
    """The detect-secrets plugins whose credential patterns match ``blobs`` (as text).

    Each pattern runs over the whole text at once (C speed); only lines it
    matched go to the plugin's own ``analyze_line``, which confirms the hit.
    """
    found: set[str] = set()
    for blob in blobs:
        text = _printable(blob)
        for name, rx in _detectors():
            if name in found:
                continue
            for match in rx.finditer(text):
                start = text.rfind("\n", 0, match.start()) + 1
                end = text.find("\n", match.end())
                if _confirmed(name, text[start : end if end != -1 else len(text)]):
                    found.add(name)
                    break
    return sorted(found)


#: Runs of printable ASCII, as ``strings`` finds them: every credential pattern is
#: ASCII, and random binary data (most of a store) holds almost no long run.
_RUNS = re.compile(rb"[\t\n\r\x20-\x7e]{16,}")


#: A sealed value as the store keeps it (``statesync:enc:v1:GEN:BASE64``): ciphertext, or
#: a fuzz test's forged token. Its base64 can spell a credential pattern by chance (a
#: generation of 8-10 digits and 35 base64 characters is a Telegram bot token to
#: detect-secrets), so the detector never reads it; the planted-value search still does.
_SEALED = re.compile(r"statesync:enc:v\d+:[0-9]*:?[A-Za-z0-9+/=_-]*")


def _printable(blob: bytes) -> str:
    """The printable runs of ``blob``, one per line, sealed tokens left out (the detector
    reads only these)."""
    text = "\n".join(run.decode("ascii") for run in _RUNS.findall(blob))
    return _SEALED.sub("statesync:enc:", text) if "statesync:enc:v" in text else text


def _confirmed(plugin: str, line: str) -> bool:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import default_settings

    plugins: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    classes = {c.__name__: c for c in plugins}
    with default_settings():
        return bool(classes[plugin]().analyze_line(filename="store", line=line[:4096]))


@dataclass(frozen=True)
class Finding:
    """One object, log, record or file that leaks: a planted value, detector plugins, a mode."""

    name: str
    planted: bool
    detectors: tuple[str, ...]
    problem: str = ""

    def __str__(self) -> str:
        what = (["planted secret"] if self.planted else []) + list(self.detectors)
        what += [self.problem] if self.problem else []
        return f"{self.name}: {', '.join(what)}"


def check(name: str, raw: bytes, needles: tuple[bytes, ...] = tuple(NEEDLES)) -> Finding | None:
    """The finding for one object's bytes, or None if it is clean."""
    plain = inflated(raw)
    planted_hit = _planted_in(needles, raw, plain)
    hits = tuple(detector_hits(raw, plain))
    return Finding(name, planted_hit, hits) if planted_hit or hits else None


def _check_file(path: str, needles: tuple[bytes, ...] = tuple(NEEDLES)) -> Finding | None:
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return None  # removed meanwhile (a test's store may be cleaned up)
    return check(path, raw, needles)


def local_store_files(root: Path) -> list[str]:
    """The path of every object of every local store (a folder with statesync.json)."""
    return inventory(root).store_files


#: How tests name the CLI's stderr they keep for this scan (see test_network_faults).
LOG_SUFFIX = ".vv.log"


def log_files(root: Path) -> list[str]:
    """Every ``*.vv.log`` the session's tests left (CLI stderr at ``-vv``)."""
    return inventory(root).logs


#: The file (set by the controller, see tests/conftest.py) where rigs note the buckets they make.
BUCKETS_VAR = "STATESYNC_LEAKSCAN_BUCKETS"


def record_bucket(scheme: str, bucket: str) -> None:
    """Note a bucket a rig made on an emulator, so the end-of-session scan reads it."""
    path = os.environ.get(BUCKETS_VAR)
    if path:
        with open(path, "a") as fh:  # one short line: appends from workers do not interleave
            fh.write(f"{scheme} {bucket}\n")


def bucket_urls() -> list[str]:
    """``scheme://bucket`` of every bucket this session's rigs made on the emulators."""
    path = os.environ.get(BUCKETS_VAR)
    lines = Path(path).read_text().split() if path and Path(path).is_file() else []
    return [f"{scheme}://{bucket}" for scheme, bucket in zip(lines[::2], lines[1::2], strict=True)]


def bucket_findings(url: str, threads: int = 8) -> tuple[int, list[Finding]]:
    """How many objects one emulator bucket holds, and the findings among them.

    Run by each process of the scan's pool on its share of the buckets: the
    SDKs' work per request (most of the scan) then runs on every core, and no
    object's bytes travel between processes.
    """
    from statesync.backends import open_backend

    backend = open_backend(url)

    def fetch(key: str) -> Finding | None:
        try:
            raw = backend.get(key)[0]
        except StatesyncError:  # a fault test's damaged object
            return None
        return check(f"{url}/{key}", raw)

    try:
        keys = [m.key for m in backend.list("")]
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            found = [f for f in pool.map(fetch, keys) if f]
    finally:
        backend.close()
    return len(keys), found


# --- transcripts: CLI output and HTTP responses (tests/leakrecord.py) -------------


def planted_values(transcripts: Path | None) -> list[str]:
    """Every value the session's processes planted (``*.planted`` in ``transcripts``)."""
    if transcripts is None or not transcripts.is_dir():
        return []
    values: set[str] = set()
    for path in transcripts.glob("*.planted"):
        values.update(
            v for v in path.read_bytes().decode(errors="surrogateescape").split("\n") if v
        )
    return sorted(values)


def check_transcript(path: str, needles: tuple[bytes, ...]) -> list[Finding]:
    """The records of one transcript file that hold a planted value or a detector hit.

    A finding is named ``FILE: TEST KIND`` (the test and which output), never
    by the value. ``payload`` records (the user's data handed back) go through
    the detector only.
    """
    from tests.leakrecord import records

    try:
        raw = Path(path).read_bytes()
    except OSError:
        return []
    if not _planted_in(needles, raw) and not detector_hits(raw):
        return []  # the common case: one pass over the whole file
    found = []
    for label, payload, body in records(raw):
        planted_hit = not payload and _planted_in(needles, body)
        hits = tuple(detector_hits(body))
        if planted_hit or hits:
            found.append(Finding(f"{Path(path).name}: {label}", planted_hit, hits))
    return found


def transcript_files(transcripts: Path | None) -> list[str]:
    """The record files (``*.txt``) of ``transcripts``."""
    if transcripts is None or not transcripts.is_dir():
        return []
    return sorted(str(p) for p in transcripts.glob("*.txt"))


# --- file modes of what statesync keeps private -----------------------------------

#: Files statesync writes 0600 in the user's config and state folders (``statesync/`` there).
PRIVATE_NAMES = frozenset(
    {
        "signing.key",
        "trust.json",
        "pins.json",
        "serve-tokens.json",
        "machine-id",
        "serials.json",
        "encryption.json",
    }
)
#: The user folders (tests/conftest.py's names) whose ``statesync/`` folder statesync makes 0700.
USER_DIRS = ("xdg-config", "xdg-state")
#: A working folder's record folder (0700) and the record in it (0600).
RECORD_DIR = ".statesync"
RECORD_FILE = "state.json"


def _wider(path: Path, limit: int) -> str:
    """``"mode 0644 > 0600"`` if ``path``'s permission bits exceed ``limit``, else ``""``."""
    try:
        mode = path.lstat().st_mode & 0o777
    except OSError:
        return ""
    return f"mode {mode:04o} wider than {limit:04o}" if mode & ~limit else ""


def private_paths(root: Path) -> list[tuple[Path, int]]:
    """(path, widest mode allowed) for every private file and folder statesync wrote under ``root``.

    The ``statesync/`` folder of each test's config and state folders (0700) and
    the key, trust, pin, token and id files in it (0600); every ``*.key`` and
    ``*tokens.json`` file outside a store (key files, ``keys signing new``,
    ``serve tokens add --tokens``); every working folder's
    record folder (0700) and record (``state.json``, 0600). The other files of a working
    folder (one holding a ``.statesync`` record) are the user's: their modes are
    what the test wrote (or what a push recorded), not checked here.
    """
    return inventory(root).private


@dataclass
class Inventory:
    """What the scan reads under the base temporary folder, found in one walk."""

    store_files: list[str]
    logs: list[str]
    private: list[tuple[Path, int]]


def inventory(root: Path) -> Inventory:
    """Store objects, ``*.vv.log`` files and private paths under ``root`` (one ``os.walk``)."""
    inv = Inventory([], [], [])
    folders: set[str] = set()  # the working folders met so far (os.walk goes top-down)
    for dirpath, dirnames, filenames in os.walk(root):
        if "statesync.json" in filenames:  # a local store: every file is an object
            inv.store_files += _files_under(dirpath)
            dirnames[:] = []
            continue
        inv.logs += _regular(dirpath, [n for n in filenames if n.endswith(LOG_SUFFIX)])
        if RECORD_DIR in dirnames:
            folders.add(dirpath)
        inv.private += _private_here(Path(dirpath), filenames, folders)
    return inv


def _files_under(top: str) -> list[str]:
    out: list[str] = []
    for dirpath, _dirs, files in os.walk(top):
        out += _regular(dirpath, files)
    return out


def _regular(dirpath: str, names: list[str]) -> list[str]:
    paths = [os.path.join(dirpath, n) for n in names]
    return [p for p in paths if not os.path.islink(p) and os.path.isfile(p)]


def _private_here(here: Path, filenames: list[str], folders: set[str]) -> list[tuple[Path, int]]:
    """The private paths of one folder of the walk (see :func:`private_paths`)."""
    if here.name == "statesync" and here.parent.name in USER_DIRS:
        names = [n for n in filenames if n in PRIVATE_NAMES or n.endswith(".key")]
        return [(here, 0o700), *((here / n, 0o600) for n in names)]
    if here.name == RECORD_DIR:
        return [(here, 0o700), *((here / n, 0o600) for n in filenames if n == RECORD_FILE)]
    if folders and any(str(p) in folders for p in (here, *here.parents)):
        return []  # inside a working folder: the user's files
    return [(here / n, 0o600) for n in filenames if _private_name(n)]


def _private_name(name: str) -> bool:
    """A key file (``*.key``) or a token file (``serve --tokens``: ``*tokens.json``)."""
    return name.endswith((".key", "tokens.json"))


def mode_findings(
    root: Path, paths: list[tuple[Path, int]] | None = None
) -> tuple[list[Finding], int]:
    """The private files and folders under ``root`` readable by others; how many were checked."""
    found: list[Finding] = []
    count = 0
    for path, limit in private_paths(root) if paths is None else paths:
        if path.is_symlink():
            continue
        count += 1
        problem = _wider(path, limit)
        if problem:
            found.append(Finding(str(path), False, (), problem))
    return found, count


#: Files beyond which the scan runs in a process pool.
POOL_ABOVE = 5000


@dataclass
class Report:
    """What :func:`scan` read and found."""

    found: list[Finding]
    objects: int = 0
    transcripts: int = 0
    modes: int = 0
    planted: int = 0
    #: seconds per phase (inventory, local, emulators), for the summary line
    took: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: how much was read, how many findings (no value, no name)."""
        return (
            f"{self.objects} store objects and logs, {self.transcripts} CLI/HTTP transcript "
            f"files, {self.modes} private files' modes, {self.planted} planted values besides "
            f"the marker: {len(self.found)} findings"
            + "".join(f"; {k} {v:.1f} s" for k, v in self.took.items())
        )


def scan(
    root: Path,
    clouds: bool = True,
    workers: int | None = None,
    transcripts: Path | None = None,
) -> tuple[list[Finding], int]:
    """The objects, logs, transcripts and private files that leak, and how many were read."""
    report = scan_all(root, clouds, workers, transcripts)
    return report.found, report.objects + report.transcripts + report.modes


def scan_all(
    root: Path,
    clouds: bool = True,
    workers: int | None = None,
    transcripts: Path | None = None,
) -> Report:
    """Everything the session left: stores and logs under ``root``, the emulators'
    buckets (``clouds``), the transcripts in ``transcripts``, the modes of private files.

    Local files are read and checked by ``workers`` processes (default: one
    per CPU above :data:`POOL_ABOVE` files or 8 buckets, else one); the same
    pool fetches and checks the emulators' buckets, a bucket per task
    (:func:`bucket_findings`).
    """
    started = time.monotonic()
    values = planted_values(transcripts)
    needles = tuple(NEEDLES + [n for v in values for n in needles_of(v)])
    inv = inventory(root)
    files = [*inv.store_files, *inv.logs]  # (for the count and the pool's size)
    records = transcript_files(transcripts)
    # A pool pays off only on a large run (measured: 488 objects, 89 MB, took 2.1 s
    # in one process and 4.2 s in a pool of two on the shared machine).
    urls = bucket_urls() if clouds else []
    big = len(files) > POOL_ABOVE or len(urls) > 8
    workers = workers or ((os.cpu_count() or 1) if big else 1)
    found, modes = mode_findings(root, inv.private)
    report = Report(found, len(files), len(records), modes, len(values))
    report.took["inventory"] = time.monotonic() - started
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        # Stores are searched for the marker only: each needle is one more pass over
        # every byte (69 needles made the scan 18 times slower); the values planted
        # besides it (passphrases, tokens) are searched in the logs and transcripts.
        found += [f for f in pool.map(_check_file, inv.store_files, chunksize=32) if f]
        check_log = functools.partial(_check_file, needles=needles)
        found += [f for f in pool.map(check_log, inv.logs, chunksize=32) if f]
        check_records = functools.partial(check_transcript, needles=needles)
        found += [f for fs in pool.map(check_records, records) for f in fs]
        report.took["local"] = time.monotonic() - started - report.took["inventory"]
        if clouds:
            for count, bucket_found in pool.map(bucket_findings, urls):
                report.objects += count
                found += bucket_found
            report.took["emulators"] = time.monotonic() - started - sum(report.took.values())
    return report
