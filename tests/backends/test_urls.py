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
    import builtins

    real_import = builtins.__import__

    def no_boto3(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] == "boto3":
            raise ImportError("No module named 'boto3'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_boto3)
    monkeypatch.delitem(__import__("sys").modules, "boto3", raising=False)
    hint = install_command("s3")  # this interpreter, this installation's source folder
    assert hint.endswith("[s3]'") and " -m pip install " in hint
    with pytest.raises(MissingExtra, match=f"the 's3' extra: {re.escape(hint)}$"):
        open_backend("s3://bucket/prefix")
