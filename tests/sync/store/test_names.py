"""Names that come from users or from the store never leave their namespace (issue 19)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statesync.backends import parse_url
from statesync.errors import UsageError
from statesync.sync.store import layout


@given(st.text(max_size=80))
def test_an_accepted_environment_name_is_one_plain_segment(name: str) -> None:
    try:
        layout.validate_env(name)
    except UsageError:
        return
    assert "/" not in name and "\\" not in name and ".." not in name
    assert name.isascii() and name.isprintable() and not name.startswith(".")
    assert layout.env_from_ref_key(layout.ref_key(name)) == name


@given(st.text(max_size=80))
def test_an_accepted_store_id_is_never_a_path(value: str) -> None:
    if layout.is_store_id(value):
        assert set(value) <= set(string.ascii_letters + string.digits + "_-")


@given(st.sampled_from(["s3", "az", "gs"]), st.text(max_size=40))
def test_an_accepted_cloud_prefix_has_only_plain_segments(scheme: str, prefix: str) -> None:
    try:
        parsed = parse_url(f"{scheme}://bucket/{prefix}")
    except UsageError:
        return
    segments = parsed.prefix.split("/") if parsed.prefix else []
    assert all(s not in ("", ".", "..") and "\\" not in s and "%" not in s for s in segments)


@pytest.mark.parametrize("env", ["prod\n", "prod\r", "a..b", "a/b", "-x", "x" * 64])
def test_environment_names_are_matched_whole(env: str) -> None:
    with pytest.raises(UsageError, match="invalid environment name"):
        layout.validate_env(env)
