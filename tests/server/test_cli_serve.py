"""``statesync serve`` and ``serve tokens``: refusals, the token file, TLS."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from statesync.api import Store
from statesync.errors import UsageError
from statesync.server import tokens as tokens_mod
from tests.helpers import child_output
from tests.server.serving import add_token, cli, ok, serving


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("statesync: error: ") and text in lines[0]


def test_refuses_to_listen_beyond_loopback_without_tls_and_tokens(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens_mod.add(tokens, "ci", [tokens_mod.Grant.parse("prod=write")])
    tls = ["--tls-cert", "c.pem", "--tls-key", "k.pem"]
    for extra in ([], [*tls, "--no-auth"]):  # tokens without TLS; TLS without tokens
        proc = cli(
            "--store",
            str(tmp_path / "store"),
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--tokens",
            str(tokens),
            *extra,
        )
        one_line_error(proc, 2, "not loopback")


def test_refuses_to_start_without_tokens(tmp_path: Path) -> None:
    proc = cli("serve", "--listen", "127.0.0.1:0", "--tokens", str(tmp_path / "none.json"))
    one_line_error(proc, 2, "no tokens")


def test_tokens_add_list_remove(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = add_token(path, "ci", "prod=write", "dev*=admin")
    listed = json.loads(ok(cli("--json", "serve", "tokens", "list", "--tokens", str(path))))
    assert listed == {
        "format_version": 1,
        "tokens": [
            {
                "name": "ci",
                "created_at": listed["tokens"][0]["created_at"],
                "grants": {"prod": "write", "dev*": "admin"},
            }
        ],
    }
    assert token not in json.dumps(listed)
    ok(cli("serve", "tokens", "remove", "ci", "--tokens", str(path)))
    assert tokens_mod.load(path).entries == ()
    os.chmod(path, 0o644)
    one_line_error(cli("serve", "tokens", "list", "--tokens", str(path)), 2, "chmod 600")
    os.chmod(path, 0o600)  # widened on purpose: the session scan checks token files' modes


def test_token_names_and_roles_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    tokens_mod.add(path, "ci", [tokens_mod.Grant.parse("prod=write")])
    for bad in ("prod=root", "prod", "../x=read", "=read"):
        with pytest.raises(UsageError):
            tokens_mod.Grant.parse(bad)
    with pytest.raises(UsageError, match="exists"):
        tokens_mod.add(path, "ci", [tokens_mod.Grant.parse("dev=read")])
    with pytest.raises(UsageError, match="invalid token name"):
        tokens_mod.add(path, "a b", [tokens_mod.Grant.parse("dev=read")])
    entry = tokens_mod.load(path).entries[0]
    assert (entry.level_for("prod"), entry.level_for("prod2"), entry.level_for("dev")) == (2, 0, 0)


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_path, 0o600)
    return cert_path, key_path


def test_serves_over_tls_with_the_configured_update_method(tmp_path: Path) -> None:
    store = (tmp_path / "store").as_uri()
    Store.init(store).close()
    tokens = tmp_path / "tokens.json"
    token = tokens_mod.add(tokens, "ci", [tokens_mod.Grant.parse("prod=write")])
    cert, key = self_signed(tmp_path)
    tls = ["--tls-cert", str(cert), "--tls-key", str(key), "--update-method", "PUT"]
    body = b'{"version": 4, "serial": 1, "lineage": "l", "outputs": {}, "resources": []}\n'
    with serving(store, tokens, *tls) as server:
        assert server.url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(cert))
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, verify=trust, timeout=30, headers=auth) as c:
            assert c.get("/healthz").status_code == 200
            assert c.get("/tf/prod").status_code == 404
            assert c.post("/tf/prod", content=body).status_code == 405  # PUT was configured
            assert c.put("/tf/prod", content=body).status_code == 200
            assert c.get("/tf/prod").content == body


def test_the_http_stack_is_imported_only_to_serve() -> None:
    probe = (
        "import sys, statesync.api, statesync.cli\n"
        "try:\n    statesync.cli.main(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('starlette', 'uvicorn', 'prometheus_client', 'jinja2')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    assert child_output(probe).splitlines()[-1] == "[]"
