"""The schemas (written from Wassette's and Persist's published structs) accept the
published examples and refuse what the Rust types would refuse."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from tests.formats.conftest import assert_valid, validator


def test_the_fixtures_follow_the_published_shapes(
    snapshot_doc: dict[str, Any], state_doc: dict[str, Any]
) -> None:
    assert_valid("wassette-snapshot", snapshot_doc)
    assert_valid("wassette-state", state_doc)


def test_wassettes_own_minimal_example_is_accepted() -> None:
    # the document of Wassette's test_snapshot_deserialization
    assert_valid("wassette-snapshot", {"version": 1, "created_at": 1234567890, "components": []})


@pytest.mark.parametrize(
    "path,value",
    [
        (["version"], 2),
        (["created_at"], -1),
        (["created_at"], "1731444000"),
        (["components", 0, "policy", "created_at"], 1.5),
        (["components", 0, "metadata", "tool_names"], "fetch"),
        (["components", 0, "include_binary"], "yes"),
    ],
)
def test_the_snapshot_schema_refuses_what_serde_refuses(
    snapshot_doc: dict[str, Any], path: list[Any], value: Any
) -> None:
    doc = copy.deepcopy(snapshot_doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        validator("wassette-snapshot").validate(doc)


def test_the_state_schema_needs_paths_and_environment(state_doc: dict[str, Any]) -> None:
    for key in ("paths", "environment", "exported_at"):
        doc = {k: v for k, v in state_doc.items() if k != key}
        with pytest.raises(jsonschema.ValidationError):
            validator("wassette-state").validate(doc)
