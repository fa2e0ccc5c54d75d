"""JSON pointers per RFC 6901: one escape, one unescape, round trips."""

from __future__ import annotations

import pytest

from statesync import jsonpointer


def test_escape_and_unescape_follow_rfc6901() -> None:
    assert jsonpointer.escape("a/b~c") == "a~1b~0c"
    assert jsonpointer.escape(3) == "3"
    assert jsonpointer.unescape("a~1b~0c") == "a/b~c"
    # "~01" is "~1" (unescape ~1 before ~0), never "/".
    assert jsonpointer.unescape("~01") == "~1"


def test_join_and_split_round_trip() -> None:
    keys = ["", "a/b", "~", "~1", "x y", "0"]
    pointer = ""
    for key in keys:
        pointer = jsonpointer.join(pointer, key)
    assert pointer == "//a~1b/~0/~01/x y/0"
    assert jsonpointer.split(pointer) == keys
    assert jsonpointer.split("") == []


def test_split_refuses_a_pointer_without_a_leading_slash() -> None:
    with pytest.raises(ValueError):
        jsonpointer.split("a/b")
