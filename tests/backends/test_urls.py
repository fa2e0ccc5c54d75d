"""Store URL parsing and lazy driver loading."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from statesync.backends import open_backend, parse_url
from statesync.errors import MissingExtra, UsageError, install_command


def test_plain_paths_and_file_urls_are_local(tmp_path: Path) -> None:
    assert parse_url(str(tmp_path)).raw == tmp_path.as_uri()
    parsed = parse_url("file:///var/lib/state/")
    assert (parsed.scheme, parsed.prefix) == ("file", "/var/lib/state")


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [("s3://bkt/a/b/", "bkt", "a/b"), ("az://cont", "cont", ""), ("gs://b/p", "b", "p")],
)
def test_cloud_urls(url: str, bucket: str, prefix: str) -> None:
    parsed = parse_url(url)
    assert (parsed.bucket, parsed.prefix) == (bucket, prefix)


@pytest.mark.parametrize(
    "url", ["ftp://x/y", "s3://", "file://host/path", "file:relative", "s3:/bucket", ""]
)
def test_bad_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError):
        parse_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "file://[/tmp/store",  # found by the long run's config fuzz: was an internal error
        "s3://[bucket/x",
        "s3://b/x?endpoint=http://[::1",
        "az://c/x?endpoint=http://[oops/",
    ],
)
def test_urls_urlsplit_cannot_split_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError, match=r"^store URL '.*' is malformed: Invalid IPv6 URL$"):
        parse_url(url)


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    for sdk in ("boto3", "botocore"):  # None in sys.modules: "import botocore" raises ImportError
        monkeypatch.setitem(sys.modules, sdk, None)
    hint = install_command("s3")  # this interpreter, this installation's source folder
    assert hint.endswith("[s3]'") and " -m pip install " in hint
    with pytest.raises(MissingExtra, match=f"the 's3' extra: {re.escape(hint)}$"):
        open_backend("s3://bucket/prefix")


def test_an_s3_store_opens_on_botocore_without_importing_boto3() -> None:
    """The S3 driver's client is botocore's own: boto3 and s3transfer (~30 ms) stay unimported."""
    pytest.importorskip("botocore")
    import subprocess
    import sys

    code = (
        "import sys; from statesync.backends import open_backend; "
        "b = open_backend('s3://bucket/prefix?region=us-east-1&endpoint=http://127.0.0.1:9'); "
        "print(type(b.client).__module__, sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('boto3', 's3transfer')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["botocore.client", "[]"]
