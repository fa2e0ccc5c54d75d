"""The end-of-session secret scan (tests/leakscan.py) finds what it must, and only that."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from statesync import Store
from tests import leakrecord, leakscan
from tests.helpers import write
from tests.leakscan import Finding, check, mode_findings, planted, scan


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder outside pytest's base temp: the session scan must not see these stores."""
    path = Path(tempfile.mkdtemp(prefix="leakscan-"))
    yield path
    shutil.rmtree(path)


def _push(root: Path, files: dict[str, object]) -> None:
    store = Store.init((root / "store").as_uri())
    for rel, data in files.items():
        write(root / "work", rel, data)
    store.push(root / "work", env="dev")


def test_a_clear_value_is_found_inside_a_compressed_pack(outside: Path) -> None:
    files: dict[str, object] = {f"f{i}.json": {"n": i} for i in range(20)}
    files["notes.json"] = {"note": planted("clear")}  # not a secret key: goes to the store
    _push(outside, files)
    assert any("/objects/" in f.name and f.planted for f in scan(outside, clouds=False)[0])


def test_a_redacted_value_is_not_found(outside: Path) -> None:
    _push(outside, {"db.json": {"password": planted("db")}, "other.json": {"n": 1}})
    assert scan(outside, clouds=False)[0] == []


def test_a_base64_copy_is_found(outside: Path) -> None:
    import base64

    blob = base64.b64encode(b"xy" + planted("b64").encode() + b"z")
    _push(outside, {"blob.json": {"data": blob.decode()}})
    assert scan(outside, clouds=False)[0] != []


# --- the independent detector (detect-secrets' credential patterns) ----------------

#: Assembled here so that this file itself holds no credential-shaped string.
AWS_KEY = "AKIA" + "IOSFODNN7" + "ABCDEFG"
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----"


def test_the_detector_finds_a_private_key_inside_a_compressed_blob() -> None:
    import zstandard

    raw = b"\x00junk" + zstandard.ZstdCompressor().compress(f"x\n{PEM}\nMIIE\n".encode())
    finding = check("objects/ab/pack", raw)
    assert finding is not None and "PrivateKeyDetector" in finding.detectors
    assert not finding.planted


def test_the_detector_finds_an_aws_key_in_a_log(outside: Path) -> None:
    (outside / "push.vv.log").write_text(f"statesync: DEBUG: sent {AWS_KEY}\n")
    (outside / "clean.vv.log").write_text("statesync: DEBUG: nothing here\n")
    found, count = scan(outside, clouds=False, workers=1)
    assert count == 2
    hits = [(Path(f.name).name, f.detectors) for f in found]
    assert hits == [("push.vv.log", ("AWSKeyDetector",))]


def test_hashes_ciphertext_and_redacted_keys_are_not_hits(outside: Path) -> None:
    _push(outside, {"db.json": {"password": planted("db"), "token": "x" * 40}})
    found, count = scan(outside, clouds=False)
    assert count > 3 and found == []


# --- transcripts (CLI output, HTTP responses), planted values, file modes ----------


@pytest.fixture
def transcripts(outside: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A transcript folder of this test's own (the session's stays untouched)."""
    folder = outside / "transcripts"
    folder.mkdir()
    monkeypatch.setenv(leakrecord.TRANSCRIPTS_VAR, str(folder))
    monkeypatch.setattr(leakrecord, "_known", set())
    return folder


def _names(found: list[Finding]) -> list[str]:
    """The kinds of records found (``FILE: TEST KIND`` without file and test)."""
    return [f.name.split(": ", 1)[-1].split(" ", 1)[-1] for f in found]


def test_a_planted_value_in_an_error_message_is_found(outside: Path, transcripts: Path) -> None:
    leakrecord.record_cli(["push", "dir"], 1, "", f"statesync: error: bad {planted('err')}\n")
    leakrecord.record_cli(["push", "dir"], 0, "pushed\n", "")
    found, _ = scan(outside / "none", clouds=False, transcripts=transcripts)
    assert len(found) == 1 and found[0].planted
    assert "statesync push dir (exit 1) stderr" in found[0].name
    assert planted("err") not in str(found[0])  # the report names the record, not the value


def test_a_passphrase_from_the_environment_is_planted(
    outside: Path, transcripts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passphrase = "tr0ub4dor and 3 more words"
    monkeypatch.setenv("STATESYNC_PASSPHRASE", passphrase)
    leakrecord.record_cli(
        ["-vv", "pull"], 0, "", f"statesync: DEBUG: unlocking with {passphrase}\n"
    )
    found, _ = scan(outside / "none", clouds=False, transcripts=transcripts)
    assert [f.planted for f in found] == [True]
    assert passphrase not in str(found[0]) and "pull" in found[0].name


def test_a_token_in_an_http_body_or_header_is_found(outside: Path, transcripts: Path) -> None:
    token = "ssk_" + "q" * 30
    leakrecord.plant_authorization(f"Bearer {token}")
    leakrecord.record_http("GET", "/env/prod", 200, {"x-debug": token}, b"<html>ok</html>")
    leakrecord.record_http("GET", "/", 200, {}, f"<p>{token}</p>".encode())
    leakrecord.record_http("GET", "/healthz", 200, {}, b"ok")
    found, _ = scan(outside / "none", clouds=False, transcripts=transcripts)
    assert _names(found) == ["HTTP GET /env/prod -> 200", "HTTP GET / -> 200"]


def test_a_state_read_may_hold_the_folders_secret_but_not_a_private_key(
    outside: Path, transcripts: Path
) -> None:
    state = f'{{"password": "{planted("tf")}"}}'.encode()
    leakrecord.record_http("GET", "/tf/prod", 200, {}, state, payload=True)
    assert scan(outside / "none", clouds=False, transcripts=transcripts)[0] == []
    leakrecord.record_http("GET", "/tf/prod", 200, {}, f"{PEM}\nMIIE\n".encode(), payload=True)
    found, _ = scan(outside / "none", clouds=False, transcripts=transcripts)
    assert [f.detectors for f in found] == [("PrivateKeyDetector",)]


def test_a_planted_value_is_also_searched_in_vv_logs(outside: Path, transcripts: Path) -> None:
    passphrase = "a passphrase that got logged"
    leakrecord.plant(passphrase)
    (outside / "pull.vv.log").write_text(f"statesync: DEBUG: {passphrase}\n")
    found, _ = scan(outside, clouds=False, transcripts=transcripts)
    assert [(Path(f.name).name, f.planted) for f in found] == [("pull.vv.log", True)]


def test_a_cli_run_through_subprocess_is_recorded(outside: Path, transcripts: Path) -> None:
    import subprocess
    import sys

    leakrecord.install()
    bad = outside / planted("in-a-path")
    proc = subprocess.run(
        [sys.executable, "-m", "statesync.cli", "--store", bad.as_uri(), "log"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and planted("in-a-path") in proc.stderr  # it names the store
    found, _ = scan(outside / "none", clouds=False, transcripts=transcripts)
    assert ["statesync log (exit" in f.name and "stderr" in f.name for f in found] == [True]


@pytest.mark.parametrize(
    "rel",
    [
        "xdg-config/statesync/signing.key",
        "xdg-config/statesync/trust.json",
        "xdg-state/statesync/machine-id",
        "elsewhere/team.key",
        "elsewhere/tokens.json",
        "work/.statesync/state.json",
    ],
)
def test_a_private_file_readable_by_others_is_found(outside: Path, rel: str) -> None:
    path = write(outside, rel, "k", mode=0o600)
    path.parent.chmod(0o700)  # as statesync makes it
    assert mode_findings(outside)[0] == []
    path.chmod(0o644)
    found, count = mode_findings(outside)
    assert [(f.name, f.problem) for f in found] == [(str(path), "mode 0644 wider than 0600")]
    assert count >= 1


def test_a_private_folder_readable_by_others_is_found(outside: Path) -> None:
    write(outside, "xdg-config/statesync/pins.json", "{}", mode=0o600)
    (outside / "xdg-config/statesync").chmod(0o700)
    assert mode_findings(outside)[0] == []
    (outside / "xdg-config/statesync").chmod(0o755)
    assert [f.problem for f in mode_findings(outside)[0]] == ["mode 0755 wider than 0700"]


def test_files_statesync_writes_pass_the_mode_check(outside: Path) -> None:
    from statesync.crypto import signing
    from statesync.crypto.providers.keyfile import new_keyfile

    config = outside / "xdg-config" / "statesync"
    signing.generate(config / "signing.key")
    new_keyfile(outside / "keys" / "team.key")
    found, count = mode_findings(outside)
    assert found == [] and count == 3  # the folder and both keys


def test_a_store_object_named_like_a_key_is_not_a_private_file(outside: Path) -> None:
    write(outside, "store/statesync.json", "{}")
    write(outside, "store/objects/x.key", "sealed", mode=0o644)
    assert mode_findings(outside) == ([], 0)


def test_a_users_key_file_inside_a_working_folder_is_the_users(outside: Path) -> None:
    write(outside, "work/secrets/api.key", "k", mode=0o644)  # as the test wrote it, pushed as is
    (outside / "work/.statesync").mkdir(mode=0o700)
    assert mode_findings(outside) == ([], 1)


def test_a_binary_payload_holding_the_record_separator_stays_one_record(
    outside: Path, transcripts: Path
) -> None:
    body = b"\x00" + leakrecord.SEP + b"1\tfake\toutput\n" + planted("tar").encode()
    leakrecord.record_cli(["export", "--env", "dev"], 0, body, "")
    assert scan(outside / "none", clouds=False, transcripts=transcripts)[0] == []
    leakrecord.record_cli(["log"], 0, body, "")
    found, _ = scan(outside / "none", clouds=False, transcripts=transcripts)
    assert [("statesync log (exit 0) stdout" in f.name, f.planted) for f in found] == [(True, True)]


def test_a_file_a_test_put_in_a_record_folder_is_not_the_record(outside: Path) -> None:
    write(outside, "work/.statesync/extra", "temp", mode=0o644)  # as test_watch does
    (outside / "work/.statesync").chmod(0o700)
    assert mode_findings(outside) == ([], 1)


# --- the emulators' buckets: fetched by a thread pool, every bucket checked -----------


def test_a_value_planted_in_an_emulator_bucket_is_found(
    outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One bucket per running emulator, a clean object in each and the marker, zstd-packed,
    in one of them: the scan reads every object and names exactly the planted one."""
    import zstandard

    from statesync.backends import open_backend
    from tests.cloud_rigs import RIGS as CLOUD

    # The buckets go to this test's own list, not the session's (its scan must not see them).
    monkeypatch.setenv(leakscan.BUCKETS_VAR, str(outside / "buckets"))
    urls = [url for rig in CLOUD.values() if (url := rig(outside))]
    if not urls:
        pytest.skip("no emulator started (run scripts/test.sh)")
    secret = zstandard.ZstdCompressor().compress(b"x" * 100 + planted("bucket").encode())
    for i, url in enumerate(urls):
        backend = open_backend(url)
        try:
            for k in range(5):
                backend.put(f"objects/clean{k}", f"clean {i} {k}".encode())
            if i == len(urls) - 1:
                backend.put("objects/packed", secret)
        finally:
            backend.close()
    report = leakscan.scan_all(outside / "none", transcripts=None)
    assert report.objects == 5 * len(urls) + 1
    assert [(f.name, f.planted) for f in report.found] == [(f"{urls[-1]}/objects/packed", True)]


def test_a_sealed_token_that_spells_a_credential_pattern_is_not_a_detector_hit() -> None:
    """Found by the long fuzz run: a forged token of generation 1234567890 stored as it is
    read as a Telegram bot token; a credential beside it is still found."""
    token = "statesync:enc:v2:1234567890:" + "A" * 35
    assert check("obj", f'{{"password": "{token}"}}'.encode()) is None
    assert check("obj", f'{{"password": "{token}", "aws": "{AWS_KEY}"}}'.encode()) is not None
