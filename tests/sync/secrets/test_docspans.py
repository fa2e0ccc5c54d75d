"""Locating secret values as byte spans in JSON and YAML, and the limits on hostile documents."""

from __future__ import annotations

import json

import pytest

from statesync.errors import DocumentLimit
from statesync.sync.secrets import policy as secrets
from statesync.sync.secrets.docspans import JsonLocator, YamlLocator
from statesync.sync.secrets.policy import MARKER, SecretPolicy, redact

POLICY = SecretPolicy()

LAUGHS = b"""a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _found(locator: JsonLocator | YamlLocator, data: bytes) -> list[tuple[str, bytes]]:
    return [(s.pointer, data[s.start : s.end]) for s in locator.locate(data, POLICY)]


def test_json_spans_are_the_values_source_bytes_with_non_ascii_before_them() -> None:
    data = (
        '{"é": "ü", "big": 1e400, "db" : {"password" :  "h\\u00e9llo"},\n'
        ' "api_token": {"a": [1, 2]}, "n": {"secret": null}, "price": 10.50}'
    ).encode()
    assert _found(JsonLocator(), data) == [
        ("/db/password", b'"h\\u00e9llo"'),
        ("/api_token", b'{"a": [1, 2]}'),
    ]


def test_json_duplicate_keys_are_both_redacted_as_json_loads_reads_the_last() -> None:
    data = b'{"password": "one", "password": "two"}'
    out, pointers = redact("c.json", data, POLICY)
    assert out == b'{"password": "<statesync:secret>", "password": "<statesync:secret>"}'
    assert pointers == ["/password"]


@pytest.mark.parametrize(
    "text", ['{"a": 1,}', "[1 2]", '{"a" 1}', "01", '"\x01"', "[1]x", "\ufeff{}", "", "{'a': 1}"]
)
def test_json_scanner_refuses_what_json_loads_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        JsonLocator().locate(text.encode(), POLICY)


def test_yaml_spans_keep_anchors_comments_and_block_scalars_outside() -> None:
    data = (
        b"on: yes  # trigger\nmode: 0755\npassword: &pw hunter2   # note\nother: *pw\n"
        b"db:\n  token: |\n    line1\n    line2\n\n  secret:\n    - a\n    - {b: c}\n"
        b"plain: &pp visible-anchored\nmy_password: *pp\n"
    )
    assert _found(YamlLocator(), data) == [
        ("/password", b"hunter2"),
        ("/db/token", b"|\n    line1\n    line2"),
        ("/db/secret/0", b"a"),
        ("/db/secret/1", b"{b: c}"),
        ("/plain", b"visible-anchored"),
    ]


def test_yaml_alias_of_a_secret_is_never_expanded_into_the_redacted_document() -> None:
    data = b"password: &pw hunter2\nother: *pw\nlist: [*pw, 1]\n"
    out, pointers = redact("c.yaml", data, POLICY)
    assert out == b'password: &pw "<statesync:secret>"\nother: *pw\nlist: [*pw, 1]\n'
    assert pointers == ["/password"]
    assert secrets.parse_document("c.yaml", out)["other"] == MARKER


def test_secret_keys_in_an_anchored_mapping_and_merge_keys() -> None:
    data = b"base: &b\n  api_key: k1\n  host: h\nprod:\n  <<: *b\n  host: p\n"
    out, pointers = redact("c.yaml", data, POLICY)
    assert pointers == ["/base/api_key"] and b"k1" not in out
    assert secrets.parse_document("c.yaml", out)["prod"]["api_key"] == MARKER


def test_multi_document_yaml_pointers_start_with_the_document_index() -> None:
    data = b"a: 1\n---\n# two\npassword: x\n...\n"
    out, pointers = redact("c.yaml", data, POLICY)
    assert pointers == ["/1/password"]
    assert out == b'a: 1\n---\n# two\npassword: "<statesync:secret>"\n...\n'
    assert secrets.parse_document("c.yaml", out) == [{"a": 1}, {"password": MARKER}]


def test_billion_laughs_is_a_document_limit_everywhere_it_is_parsed() -> None:
    with pytest.raises(DocumentLimit, match="aliases"):
        YamlLocator().locate(LAUGHS + b"password: x\n", POLICY)
    with pytest.raises(DocumentLimit, match=r"^l\.yaml: .*aliases"):
        redact("l.yaml", LAUGHS + b"password: x\n", POLICY)
    with pytest.raises(DocumentLimit, match=r"^l\.yaml: "):
        secrets.parse_document("l.yaml", LAUGHS)


def test_recursive_alias_is_refused_not_followed() -> None:
    with pytest.raises(DocumentLimit, match="recursive"):
        secrets.parse_document("r.yaml", b"a: &a [*a]\n")


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("d.json", b'{"password": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("d.json", b"[" * 100_000),
        ("d.yaml", b"password:\n" + b"".join(b" " * i + b"- \n" for i in range(1, 400))),
    ],
)
def test_deep_nesting_is_a_document_limit_not_a_recursion_error(path: str, data: bytes) -> None:
    with pytest.raises(DocumentLimit, match=f"^{path}: nested deeper than 256 levels"):
        secrets.parse_document(path, data)
    if b"password" in data:
        with pytest.raises(DocumentLimit, match=f"^{path}: nested deeper"):
            redact(path, data, POLICY)
    else:  # no secret key can be in it: stored as it is, never parsed
        assert redact(path, data, POLICY) == (data, [])


def test_nesting_within_the_limit_is_fine() -> None:
    data = b'{"password": ' + b"[" * 250 + b"]" * 250 + b"}"
    assert redact("d.json", data, POLICY) == (b'{"password": "<statesync:secret>"}', ["/password"])


@pytest.mark.parametrize(
    ("data", "redacted"),
    [
        (
            "\ufeff\u00e9: 1\npassword: x\n".encode(),
            '\ufeff\u00e9: 1\npassword: "<statesync:secret>"\n'.encode(),
        ),
        (b"password: !!binary aGVsbG8=\n", b'password: "<statesync:secret>"\n'),
        (b"password: &a !!str 1\n", b'password: &a "<statesync:secret>"\n'),
        (b'password: "x"\r\nb: 1\r\n', b'password: "<statesync:secret>"\r\nb: 1\r\n'),
        (
            b"- password: 1\n  k: 2\n- {token: 'a', b: c}\n",
            b'- password: "<statesync:secret>"\n  k: 2\n- {token: "<statesync:secret>", b: c}\n',
        ),
    ],
)
def test_yaml_byte_order_marks_tags_and_line_ends(data: bytes, redacted: bytes) -> None:
    out, _ = redact("c.yaml", data, POLICY)
    assert out == redacted
    secrets.parse_document("c.yaml", out)  # still valid YAML


def test_an_alias_to_another_documents_anchor_is_invalid_as_in_pyyaml() -> None:
    data = b"password: &pw x\n---\nother: *pw\n"
    with pytest.raises(ValueError, match="undefined alias"):
        YamlLocator().locate(data, POLICY)
    with pytest.raises(secrets.UnparseableSecretDocument):
        redact("c.yaml", data, POLICY)
