"""Where a Terraform state's sensitive values are, as JSON pointers the store seals."""

from __future__ import annotations

import json

import pytest

from statesync.errors import UsageError
from statesync.server.tfstate import TfLock, from_purpose, sensitive_pointers, to_purpose


def test_sensitive_outputs_and_attribute_paths() -> None:
    doc = {
        "outputs": {
            "a/b~c": {"value": 1, "sensitive": True},
            "open": {"value": 2},
            "falsy": {"value": 3, "sensitive": "true"},
        },
        "resources": [
            {"instances": []},
            {
                "instances": [
                    {"sensitive_attributes": []},
                    {
                        "sensitive_attributes": [
                            [
                                {"type": "get_attr", "value": "tags"},
                                {"type": "index", "value": {"value": "db/pass", "type": "string"}},
                            ],
                            [
                                {"type": "get_attr", "value": "list"},
                                {"type": "index", "value": {"value": 2, "type": "number"}},
                            ],
                            [{"type": "unknown", "value": "x"}],
                        ]
                    },
                ]
            },
        ],
    }
    assert sensitive_pointers(doc) == [
        "/outputs/a~1b~0c/value",
        "/resources/1/instances/1/attributes/tags/db~1pass",
        "/resources/1/instances/1/attributes/list/2",
    ]


@pytest.mark.parametrize("doc", [{}, {"outputs": [], "resources": {}}, {"resources": [1, None]}])
def test_odd_states_have_no_sensitive_values(doc: dict[str, object]) -> None:
    assert sensitive_pointers(doc) == []


def test_lock_info_round_trips_through_a_lease_purpose() -> None:
    body = json.dumps({"ID": "abc", "Operation": "OperationTypeApply", "Who": "me@host"}).encode()
    lock = TfLock.parse(body)
    assert from_purpose(to_purpose(lock)) == lock
    assert from_purpose("nightly backup") is None
    for bad in (b"", b"[]", b'{"ID": ""}', b'{"ID": 3}', "{}".encode("utf-16")):
        with pytest.raises(UsageError):
            TfLock.parse(bad)
