"""Wrong AWS credentials, end to end, against a moto server that checks them.

The shared moto server of scripts/emulators.py accepts any key (moto's
default); this module starts its own on 127.0.0.1 with moto's IAM
authentication on (``INITIAL_NO_AUTH_ACTION_COUNT``): the first three calls
create a user, its allow-all policy and its access key, and from then on
every request must carry a valid SigV4 signature from a known key, as on AWS.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends.faults import closed_port, needs_emulator
from tests.e2e.test_cli import assert_one_line_error, run

pytestmark = needs_emulator("s3")

SETUP_CALLS = 3  # create_user, put_user_policy, create_access_key
BUCKET = "statesync-auth"


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the authenticating moto server exited at start")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("the authenticating moto server did not start in 30 s")


@pytest.fixture(scope="module")
def moto_auth() -> Iterator[dict[str, str]]:
    """The AWS_* variables of a user the private moto knows, and its endpoint."""
    import boto3

    port = closed_port()  # free now; the private moto binds it
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_CALLS)}
    code = f"from moto import server; server.main(['-H', '127.0.0.1', '-p', '{port}'])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait(port, proc)
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="ci")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="ci", PolicyName="all", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="ci")["AccessKey"]
        good = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        ).create_bucket(Bucket=BUCKET)
        yield good
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def keys(aws: dict[str, str], prefix: str) -> list[str]:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=aws["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
    )
    listing: dict[str, Any] = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param({"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, id="wrong-secret"),
        pytest.param({"AWS_ACCESS_KEY_ID": "AKIANOSUCHKEY0000000"}, id="unknown-key"),
    ],
)
def test_wrong_credentials_are_a_one_line_error_and_nothing_is_written(
    tmp_path: Path, moto_auth: dict[str, str], spoil: dict[str, str]
) -> None:
    prefix = f"store-{tmp_path.name}"
    url = f"s3://{BUCKET}/{prefix}"
    work = tmp_path / "work"
    work.mkdir()
    (work / "state.json").write_text('{"step": 1}\n')
    bad = {**moto_auth, **spoil}

    for args in (["init", "--store", url], ["push", "--store", url, str(work)]):
        proc = run(*args, cwd=tmp_path, env=bad)
        assert_one_line_error(proc, 1, f"access denied to S3 bucket '{BUCKET}'")
        assert bad["AWS_SECRET_ACCESS_KEY"] not in proc.stderr
        assert moto_auth["AWS_SECRET_ACCESS_KEY"] not in proc.stderr
    assert keys(moto_auth, prefix) == []
    assert not (work / ".statesync").exists()

    # The same commands with the right key work: it was the credentials.
    assert run("init", "--store", url, cwd=tmp_path, env=moto_auth).returncode == 0
    pushed = run("push", "--store", url, str(work), cwd=tmp_path, env=moto_auth)
    assert pushed.returncode == 0, pushed.stderr
    assert any(k.startswith(f"{prefix}/refs/") for k in keys(moto_auth, prefix))
