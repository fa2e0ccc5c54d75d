"""Fuzzed HTTP requests to ``statesync serve``: never a 500, always a JSON or text 4xx error.

A real server on 127.0.0.1 (as the protocol tests run it) gets requests with
a fuzzed method, path (traversal, encoded NULs, long, non-UTF-8), query
(``ID``), headers (Content-MD5, Authorization) and body (a Terraform state
or lock record with a hostile field, invalid UTF-8, deep nesting, random
bytes). Every answer must be below 500, and every 4xx must say why in JSON
or text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from statesync.server import tokens as tokens_mod
from tests.fuzzing import HOSTILE, fuzz_settings
from tests.server.serving import Server, make_store, serving

STATE: dict[str, Any] = {
    "version": 4,
    "terraform_version": "1.0.3",
    "serial": 1,
    "lineage": "L1",
    "outputs": {"n": {"value": "1", "type": "string"}},
    "resources": [],
}
LOCK: dict[str, Any] = {
    "ID": "0b5c3f6e-2f55-4d5c-9a43-d5d0f0a4b0a1",
    "Operation": "OperationTypeApply",
    "Info": "",
    "Who": "alice@laptop",
    "Version": "1.0.3",
    "Created": "2026-01-01T00:00:00Z",
    "Path": "",
}
PATHS = [
    "/tf/fuzz",
    "/tf/fuzz/lock",
    "/tf/prod",
    "/tf/..%2F..%2Fetc",
    "/tf/%2e%2e",
    "/tf/a%00b",
    "/tf/%ff%fe",
    "/tf/" + "x" * 5000,
    "/tf/",
    "/tf/fuzz/",
    "/tf/fuzz/lock/extra",
    "/healthz",
    "/metrics",
    "/",
    "/web",
    "/envs/fuzz",
    "/envs/..%2F..",
    "/snapshots/" + "0" * 64,
    "/snapshots/zz",
]


@dataclass
class Rig:
    server: Server
    token: str


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("tffuzz")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("CONFIG", "DATA", "STATE", "CACHE"):
            mp.setenv(f"XDG_{var}_HOME", str(tmp / f"xdg-{var.lower()}"))
        store = (tmp / "store").as_uri()
        make_store(store)
        path = tmp / "tokens.json"
        grant = [tokens_mod.Grant.parse("fuzz*=admin")]
        token = tokens_mod.add(path, "fuzzer", grant)
        with serving(store, path, "--body-timeout", "1", "--header-timeout", "1") as server:
            yield Rig(server, token)
    assert token not in "".join(server.log)


def _doc_with_hostile_field(doc: dict[str, Any], pick: st.DataObject) -> bytes:
    doc = json.loads(json.dumps(doc))
    key = pick.draw(st.sampled_from(sorted(doc)))
    doc[key] = pick.draw(st.sampled_from(HOSTILE))
    return json.dumps(doc).encode("utf-8", "surrogatepass")


def _body(pick: st.DataObject) -> bytes:
    how = pick.draw(st.sampled_from(["state", "lock", "bad-state", "bad-lock", "raw", "utf8"]))
    if how == "state":
        return json.dumps(STATE).encode()
    if how == "lock":
        return json.dumps(LOCK).encode()
    if how == "bad-state":
        return _doc_with_hostile_field(STATE, pick)
    if how == "bad-lock":
        return _doc_with_hostile_field(LOCK, pick)
    if how == "utf8":
        return b'{"ID": "\xff\xfe", "version": 4}'
    return pick.draw(
        st.sampled_from([b"", b"[" * 100_000 + b"]" * 100_000, b"null", b"{}", b"{" * 10])
        | st.binary(max_size=200)
    )


@fuzz_settings(default=25, long=1000)
@given(pick=st.data())
def test_a_fuzzed_request_never_gets_a_500(rig: Rig, pick: st.DataObject) -> None:
    method = pick.draw(st.sampled_from(["GET", "POST", "LOCK", "UNLOCK", "DELETE", "PUT", "PATCH"]))
    path = pick.draw(st.sampled_from(PATHS))
    body = _body(pick)
    kind = pick.draw(st.sampled_from(["application/json", "text/plain", "x"]))
    headers: dict[str, str | bytes] = {"Content-Type": kind}
    auth = pick.draw(st.sampled_from(["token", "none", "garbage", "basic"]))
    if auth == "token":
        headers["Authorization"] = f"Bearer {rig.token}"
    elif auth == "garbage":
        headers["Authorization"] = b"Bearer \xff" + b"x" * 300
    elif auth == "basic":
        headers["Authorization"] = "Basic " + base64.b64encode(b"u:" + rig.token.encode()).decode()
    md5 = pick.draw(st.sampled_from(["right", "wrong", "garbage", "none"]))
    if md5 != "none":
        digest = hashlib.md5(body if md5 == "right" else b"other").digest()
        headers["Content-MD5"] = "!!" if md5 == "garbage" else base64.b64encode(digest).decode()
    params: dict[str, str] = {}
    if pick.draw(st.booleans()):
        params["ID"] = pick.draw(st.sampled_from([LOCK["ID"], "", "x" * 5000, "../..", "\x00"]))
    raw = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in headers.items()}
    with httpx.Client(base_url=rig.server.url, timeout=30, headers=raw) as client:
        resp = client.request(method, path, content=body, params=params or None)
    context = (method, path, auth, md5, params, body[:80], resp.status_code, resp.text[:300])
    assert resp.status_code < 500, context
    if resp.status_code >= 400:
        kind = resp.headers.get("content-type", "")
        assert re.match(r"(application/json|text/plain|text/html)", kind), context
        assert resp.content, context


def test_the_fuzz_rig_can_fail(rig: Rig) -> None:
    """A well-formed push through the same rig succeeds (so refusals above are real refusals)."""
    body = json.dumps(STATE).encode()
    headers = {
        "Authorization": f"Bearer {rig.token}",
        "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode(),
    }
    with httpx.Client(base_url=rig.server.url, timeout=30, headers=headers) as client:
        resp = client.post("/tf/fuzz-ok", content=body)
        assert resp.status_code == 200, resp.text
        assert client.get("/tf/fuzz-ok").json()["serial"] == 1


@pytest.mark.parametrize("route", ["/tf/fuzz-deep", "/tf/fuzz-deep/lock"])
@pytest.mark.parametrize("method", ["POST", "LOCK", "UNLOCK"])
def test_a_state_or_lock_nested_past_pythons_limit_is_a_400(
    rig: Rig, route: str, method: str
) -> None:
    """Found by the long fuzz run: ``[`` 100,000 deep was a RecursionError, a 500."""
    body = b"[" * 100_000 + b"]" * 100_000
    headers = {
        "Authorization": f"Bearer {rig.token}",
        "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode(),
    }
    with httpx.Client(base_url=rig.server.url, timeout=30, headers=headers) as client:
        resp = client.request(method, route, content=body)
    # UNLOCK of an environment nobody locked is done without reading the body
    assert resp.status_code in ((200,) if method == "UNLOCK" else (400, 405)), resp.text
    assert "Traceback" not in "".join(rig.server.log)
