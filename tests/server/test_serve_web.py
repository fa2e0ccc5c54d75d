"""The web view inside the real ``statesync serve``: behind the tokens, secrets redacted.

The pages themselves are tested in ``tests/server/web``; this checks that the
server mounts them, that they need a valid token, and that a page shows an
environment Terraform wrote through ``/tf/<env>`` without its secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import httpx
import pytest

from tests.leakscan import planted
from tests.server.serving import add_token, make_store, serving


def _state(secret: str) -> bytes:
    doc = {
        "version": 4,
        "terraform_version": "1.0.3",
        "serial": 1,
        "lineage": "L1",
        "outputs": {
            "db_password": {"value": secret, "type": "string", "sensitive": True},
            "region": {"value": "eu-west-1", "type": "string"},
        },
        "resources": [],
    }
    return json.dumps(doc, indent=2).encode()


def test_web_view_is_served_behind_tokens_with_secrets_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("CONFIG", "DATA", "STATE", "CACHE"):
        monkeypatch.setenv(f"XDG_{var}_HOME", str(tmp_path / f"xdg-{var.lower()}"))
    store = (tmp_path / "store").as_uri()
    make_store(store, "prod")
    tokens = tmp_path / "tokens.json"
    writer = add_token(tokens, "ci", "prod=write")
    reader = add_token(tokens, "viewer", "dev=read")
    secret = planted("tf-web-password")
    body = _state(secret)
    with serving(store, tokens) as server:
        basic = base64.b64encode(f"ci:{writer}".encode()).decode()
        put = httpx.post(
            server.tf("prod"),
            content=body,
            timeout=60,
            headers={
                "Authorization": f"Basic {basic}",
                "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode(),
            },
        )
        assert put.status_code == 200, put.text
        assert httpx.get(server.url + "/", timeout=30).status_code == 401
        bad = httpx.get(server.url + "/", headers={"Authorization": "Bearer nope"}, timeout=30)
        assert bad.status_code == 401
        auth = {"Authorization": f"Bearer {reader}"}
        home = httpx.get(server.url + "/", headers=auth, timeout=30)
        assert home.status_code == 200 and "text/html" in home.headers["content-type"]
        assert "prod" in home.text and "viewer" in home.text
        history = httpx.get(server.url + "/env/prod", headers=auth, timeout=30)
        assert history.status_code == 200
        snap = history.text.split("/snap/", 1)[1][:64]
        page = httpx.get(
            f"{server.url}/snap/{snap}/file/terraform.tfstate", headers=auth, timeout=30
        )
        assert page.status_code == 200
        assert "eu-west-1" in page.text and "&lt;statesync:secret&gt;" in page.text
        for response in (home, history, page):
            assert secret not in response.text
    assert writer not in "".join(server.log) and reader not in "".join(server.log)
