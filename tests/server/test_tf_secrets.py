"""Secrets in Terraform state: sealed per value in the store, given back byte for byte.

Sensitive outputs, ``sensitive_attributes`` paths and keys the secret policy
names are sealed with the environment's key; ``--encrypt all`` seals the
whole state. Without a key the server refuses the write rather than store
a secret in the clear.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import httpx
import pytest

from statesync.backends import open_backend
from statesync.server import tokens as tokens_mod
from tests.helpers import store_bytes
from tests.leakscan import MARKER, planted
from tests.server.serving import cli, make_store, ok, serving


def tf_state(serial: int) -> bytes:
    """A state with every kind of secret a real one has (odd spacing kept on purpose)."""
    doc = {
        "version": 4,
        "terraform_version": "1.0.3",
        "serial": serial,
        "lineage": "lin-1",
        "outputs": {
            "db_url": {
                "value": {"host": "db", "pass": planted("tf-out")},
                "type": ["object", {"host": "string", "pass": "string"}],
                "sensitive": True,
            },
            "plain": {"value": f"v{serial}", "type": "string"},
        },
        "resources": [
            {
                "mode": "managed",
                "type": "x_db",
                "name": "main",
                "instances": [
                    {
                        "schema_version": 0,
                        "attributes": {
                            "id": "db-1",
                            "admin_password": planted("tf-attr-pw"),
                            "conn": [{"dsn": planted("tf-attr-dsn")}],
                            "port": 5432,
                        },
                        "sensitive_attributes": [
                            [
                                {"type": "get_attr", "value": "conn"},
                                {"type": "index", "value": {"value": 0, "type": "number"}},
                                {"type": "get_attr", "value": "dsn"},
                            ]
                        ],
                    }
                ],
            }
        ],
    }
    return json.dumps(doc, indent=1).replace('"port": 5432', '"port" :  5432').encode()


def post(c: httpx.Client, env: str, body: bytes) -> httpx.Response:
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    return c.post(f"/tf/{env}", content=body, headers={"Content-MD5": md5})


@pytest.mark.parametrize("mode", ["values", "all"])
def test_secrets_are_sealed_and_given_back_exactly(tmp_path: Path, mode: str) -> None:
    store = (tmp_path / "store").as_uri()
    make_store(store, "prod")
    path = tmp_path / "tokens.json"
    token = tokens_mod.add(path, "ci", [tokens_mod.Grant.parse("*=write")])
    extra = ["--encrypt", "all"] if mode == "all" else []
    with (
        serving(store, path, *extra) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c,
    ):
        for serial in (1, 2):
            assert post(c, "prod", tf_state(serial)).status_code == 200
            assert c.get("/tf/prod").content == tf_state(serial)
        # an environment without a key: refused, nothing stored in the clear
        refused = post(c, "nokey", tf_state(1))
        assert refused.status_code == 500 and "no key" in refused.text
        assert c.get("/tf/nokey").status_code == 404
    backend = open_backend(store)
    try:
        raw = store_bytes(backend)
    finally:
        backend.close()
    assert MARKER.encode() not in raw
    if mode == "all":
        assert b"lin-1" not in raw and b"x_db" not in raw
    else:
        assert b"x_db" in raw and b"statesync:enc:" in raw  # only the secret values are sealed
    ok(cli("--store", store, "pull", str(tmp_path / "out"), "--env", "prod"))
    assert (tmp_path / "out" / "terraform.tfstate").read_bytes() == tf_state(2)
