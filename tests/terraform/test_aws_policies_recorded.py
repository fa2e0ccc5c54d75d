"""Every S3 request the real commands send is allowed by the module's policies.

test_aws_policies.py derives the requests from layout.py and the driver; this
records them instead: the CLI runs its commands against moto, every call its
boto3 clients make is noted (operation, key, conditional and encryption
headers), and each is decided by the policies of the kind that ran the command
(writer: init, push, lock, unlock, keys, promotion rules, promote, log, pull;
maintainer: gc, gc policy, repair). A request the derived list missed fails
here. Long (``STATESYNC_LONG=1``) and needs moto (scripts/test.sh starts it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from statesync.cli.main import main
from tests.helpers import write
from tests.rigs import RIGS
from tests.terraform.iam_eval import Request
from tests.terraform.test_aws_policies import TLS, Store

pytestmark = [pytest.mark.cloud, pytest.mark.long]  # about 35 s: a dozen commands on moto

# S3 operation -> (IAM action, whether it is an object-creation operation)
ACTIONS = {
    "PutObject": ("s3:PutObject", "true"),
    "CompleteMultipartUpload": ("s3:PutObject", "true"),
    "CreateMultipartUpload": ("s3:PutObject", "false"),
    "UploadPart": ("s3:PutObject", "false"),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", None),
    "GetObject": ("s3:GetObject", None),
    "HeadObject": ("s3:GetObject", None),
    "DeleteObject": ("s3:DeleteObject", None),
}
BUCKET_LEVEL = {"ListObjectsV2", "HeadBucket"}
HEADERS = {
    "IfNoneMatch": "s3:if-none-match",
    "IfMatch": "s3:if-match",
    "ServerSideEncryption": "s3:x-amz-server-side-encryption",
    "SSEKMSKeyId": "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "SSECustomerAlgorithm": "s3:x-amz-server-side-encryption-customer-algorithm",
}


class Recorder:
    """Notes each call of every S3 client the CLI makes, under the current role."""

    def __init__(self) -> None:
        self.role = "writer"
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((self.role, model.name, dict(params)))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[str, Recorder]]:
    url = RIGS["s3"](tmp_path)
    if url is None:
        pytest.skip("s3 emulator not started (run scripts/test.sh)")
    from statesync.backends import s3

    recorder = Recorder()
    real = s3.make_client

    def observed(**config: Any) -> Any:
        client = real(**config)
        client.meta.events.register("before-parameter-build.s3", recorder)
        return client

    monkeypatch.setattr(s3, "make_client", observed)
    yield url, recorder


def cli(url: str, *args: str) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--store", url, "--json", *args])
    assert code == 0, (args, out.getvalue())
    return out.getvalue()


def _run_scenario(url: str, recorder: Recorder, tmp_path: Path) -> None:
    folder, restored, key = tmp_path / "state", tmp_path / "restored", tmp_path / "id.key"
    write(folder, "state.json", {"step": 1})
    write(folder, "blob.bin", "x" * 300_000)
    cli(url, "init")
    cli(url, "push", str(folder), "--env", "prod", "-m", "one", "--tag", "k=v")
    write(folder, "state.json", {"step": 2})
    cli(url, "push", str(folder), "--env", "prod", "-m", "two")
    lock = json.loads(cli(url, "lock", "prod", "--ttl", "1m"))
    cli(url, "unlock", "prod", lock["lock_id"])
    cli(url, "keys", "keyfile", "new", str(key))
    cli(url, "keys", "init", "prod", "--recipient", f"keyfile:{key}")
    cli(url, "promotion", "allow", "prod->staging")
    cli(url, "promote", "prod", "staging")
    cli(url, "log", "--env", "prod")
    cli(url, "pull", str(restored), "--env", "prod")
    recorder.role = "maintainer"
    cli(url, "gc", "policy", "set", "--env", "prod", "--keep-last", "1")
    cli(url, "gc", "--env", "prod", "--keep-last", "1", "--grace", "0")
    cli(url, "gc", "policy", "clear", "--env", "prod")
    cli(url, "repair")


def _request(store: Store, prefix: str, op: str, params: dict[str, Any]) -> Request:
    action, creation = ACTIONS[op]
    key = params["Key"]
    assert key.startswith(f"{prefix}/"), key
    context = dict(TLS)
    if creation is not None:
        context["s3:ObjectCreationOperation"] = creation
    context |= {name: str(params[p]) for p, name in HEADERS.items() if p in params}
    return Request(action, store.arn(key.removeprefix(f"{prefix}/")), context, f"{op} {key}")


def test_every_recorded_request_is_allowed_for_its_role(
    recorded: tuple[str, Recorder], tmp_path: Path
) -> None:
    url, recorder = recorded
    _run_scenario(url, recorder, tmp_path)
    prefix = url.split("/", 3)[3]
    store = Store(prefix)
    seen: set[tuple[str, str]] = set()
    for role, op, params in recorder.calls:
        if op in BUCKET_LEVEL:
            assert params.get("Prefix", f"{prefix}/").startswith(f"{prefix}/"), params
            continue
        assert op in ACTIONS, f"an S3 operation the policies were not checked for: {op}"
        request = _request(store, prefix, op, params)
        assert store.decide(role, request) == "allow", f"{role}: {request.why} {request.context}"
        top = params["Key"].removeprefix(f"{prefix}/").split("/", 1)[0]
        seen.add((op, top))
    # The scenario exercised the conditional writes and the deletes it is about.
    for needed in [
        ("PutObject", "refs"),
        ("PutObject", "snapshots"),
        ("PutObject", "objects"),
        ("PutObject", "locks"),
        ("PutObject", "keys"),
        ("PutObject", "gc"),
        ("DeleteObject", "locks"),
        ("DeleteObject", "snapshots"),
    ]:
        assert needed in seen, (needed, sorted(seen))
