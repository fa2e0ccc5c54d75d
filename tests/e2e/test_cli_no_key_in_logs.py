"""No key material in any output, at any verbosity (issue 19).

Every command runs at ``-vv`` with passphrase, key-file and AWS KMS (moto)
recipients; the data keys of every generation (read back through the API)
and every secret the test used must not appear in stdout or stderr, raw,
in hex or in base64.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from statesync.backends import open_backend
from statesync.crypto.providers.passphrase import PassphraseProvider
from statesync.sync.store.keyring import KeyService
from statesync.sync.store.repo import open_repo
from tests.e2e.test_cli import run
from tests.helpers import write

needs_moto = pytest.mark.skipif(
    not os.environ.get("STATESYNC_TEST_S3"), reason="moto server not started (run scripts/test.sh)"
)

PASSPHRASE = "correct horse battery staple 19"
OTHER_PASSPHRASE = "another passphrase for a recipient"
SECRET_VALUE = "s3cr3t-v4lue-that-must-not-leak-19"
SECRET_FILE = "TOKEN=file-secret-that-must-not-leak-19\n"


def encodings(secret: bytes) -> list[str]:
    """``secret`` as it could appear in a log line: text, hex, base64 (std and URL-safe)."""
    b64 = base64.b64encode(secret).decode()
    forms = [secret.hex(), b64.rstrip("="), base64.urlsafe_b64encode(secret).decode().rstrip("=")]
    try:
        forms.append(secret.decode())
    except UnicodeDecodeError:
        forms.append(repr(secret)[2:-1])  # how bytes print in a debug line
    return forms


@needs_moto
def test_vv_output_of_every_command_holds_no_key_or_secret(tmp_path: Path) -> None:
    import boto3

    arn = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    keyfile = tmp_path / "team.key"
    env = {"STATESYNC_PASSPHRASE_TEAM": PASSPHRASE, "STATESYNC_PASSPHRASE_OTHER": OTHER_PASSPHRASE}
    assert run("keys", "keyfile", "new", str(keyfile), env=env).returncode == 0
    store = (tmp_path / "store").as_uri()
    work = tmp_path / "work"
    # KMS first, so every unwrap of push and pull goes through a KMS Decrypt.
    write(
        work,
        "statesync.toml",
        f'store = "{store}"\n[keys]\nrecipients = '
        f'["aws-kms:{arn}", "passphrase:team", "keyfile:{keyfile}"]\n',
    )
    src = work / "src"
    write(src, "config.json", {"name": "app", "password": SECRET_VALUE})
    write(src, ".env", SECRET_FILE)
    out = tmp_path / "out"
    commands = [
        ["init"],
        ["keys", "init", "dev"],
        ["push", str(src), "--env", "dev", "--include-secrets", "--encrypt", "all"],
        ["status", str(src), "--env", "dev"],
        ["log", "--env", "dev"],
        ["show", "dev"],
        ["pull", str(out), "--env", "dev"],
        ["verify", "--read-data"],
        ["export", "--env", "dev", "-o", str(tmp_path / "b.json")],
        ["keys", "rotate", "dev"],
        ["keys", "add-recipient", "dev", "passphrase:other"],
        ["keys", "list", "dev"],
        ["push", str(src), "--env", "dev", "-m", "after rotate"],
        ["pull", str(out), "--env", "dev"],
        ["keys", "init", "staging"],
        ["promote", "dev", "staging"],
        ["keys", "remove-recipient", "dev", "passphrase:other"],
    ]
    outputs = []
    for args in commands:
        proc = run("-vv", *args, cwd=work, env=env)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, (args, proc.stderr[-2000:])
    text = "\n".join(outputs)

    repo = open_repo(open_backend(store))
    identity = PassphraseProvider("team", source=lambda _label, _confirm: PASSPHRASE)
    service = KeyService(repo, [identity])
    data_keys = [service.data_key("dev", g)[1] for g in service.generations("dev")]
    assert len(data_keys) == 2
    keyfile_key = base64.b64decode(keyfile.read_text().strip())
    secrets = [
        *data_keys,
        keyfile_key,
        PASSPHRASE.encode(),
        OTHER_PASSPHRASE.encode(),
        SECRET_VALUE.encode(),
        SECRET_FILE.strip().encode(),
    ]
    for secret in secrets:
        for form in encodings(secret):
            assert form not in text, f"secret leaked in -vv output ({form[:6]}...)"
    assert json.loads((out / "config.json").read_text())["password"] == SECRET_VALUE
