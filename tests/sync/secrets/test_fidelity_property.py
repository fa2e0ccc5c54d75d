"""Property: for any JSON or YAML document, pull changes nothing but the bytes of secret values.

The generators write documents with random formatting (whitespace, comments,
number spellings, quoting styles, anchors and aliases, block scalars,
several YAML documents, duplicate JSON keys) and note the byte range of each
secret value as they write it. A push and a pull into a fresh folder must
give the document with exactly those ranges replaced by the marker (the
exact bytes when there is none); a pull into the pushing folder, or with the
key under ``--include-secrets``, must give the exact bytes.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statesync.api import Store
from tests.helpers import store_bytes, write

M = b'"<statesync:secret>"'
KEYS = ["name", "on", "mode", "db", "password", "api_token", "note", "\u00e9t\u00e9", "x/y~z"]
SECRET_KEYS = {"password", "api_token"}
NUMBERS = [b"10.50", b"1e400", b"-0", b"0", b"1E+2", b"3.14159265358979323846", b"-12"]
PLAIN = [
    b"on",
    b"NO",
    b"1.10",
    b"0755",
    b"yes",
    b"2001-12-14",
    b"hello world",
    b"1e3",
    b"0x1F",
    b"'single q'",
    b'"dq \\u00e9"',
    "\u00e9t\u00e9".encode(),
    b"-.inf",
    b"plain  # comment",
]
WORDS = st.text(alphabet="abcxyz \u00e9\u00fc19", max_size=8)
_envs = itertools.count()


class Doc:
    """A document being written, and the byte ranges of its secret values."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw, self.out = draw, bytearray()
        self.secrets: list[tuple[int, int]] = []
        self.anchors: dict[bytes, tuple[int, int]] = {}

    def add(self, data: bytes) -> None:
        self.out += data

    def ws(self) -> None:
        self.add(self.draw(st.sampled_from([b"", b" ", b"\n", b"\n    ", b"\t", b"  \r\n"])))

    def mark(self, start: int, secret: bool) -> None:
        if secret:
            self.secrets.append((start, len(self.out)))


def _json_value(doc: Doc, depth: int, secret: bool, inside: bool) -> None:
    kinds = ["num", "str", "lit"] + (["obj", "arr"] if depth < 3 else [])
    kind = doc.draw(st.sampled_from(kinds))
    start = len(doc.out)
    if kind == "num":
        doc.add(doc.draw(st.sampled_from(NUMBERS)))
    elif kind == "str":
        doc.add(json.dumps(doc.draw(WORDS), ensure_ascii=doc.draw(st.booleans())).encode())
    elif kind == "lit":
        lits = [b"true", b"false", b"NaN", b"-Infinity"] + ([] if secret else [b"null"])
        doc.add(doc.draw(st.sampled_from(lits)))
    else:
        opening, closing = (b"{", b"}") if kind == "obj" else (b"[", b"]")
        doc.add(opening)
        count = doc.draw(st.integers(0, 3))
        for i in range(count):
            doc.ws()
            key = None
            if kind == "obj":
                key = doc.draw(st.sampled_from(KEYS))
                doc.add(json.dumps(key, ensure_ascii=doc.draw(st.booleans())).encode())
                doc.ws()
                doc.add(b":")
                doc.ws()
            hidden = inside or secret
            _json_value(doc, depth + 1, key in SECRET_KEYS and not hidden, hidden)
            doc.ws()
            if i < count - 1:
                doc.add(b",")
        doc.add(closing)
    doc.mark(start, secret)


@st.composite
def json_documents(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int]]]:
    doc = Doc(draw)
    doc.ws()
    doc.add(b"{")
    for i, key in enumerate(draw(st.lists(st.sampled_from(KEYS), max_size=5))):  # duplicates too
        doc.add(b"," if i else b"")
        doc.ws()
        doc.add(json.dumps(key).encode() + b":")
        doc.ws()
        _json_value(doc, 1, key in SECRET_KEYS, False)
    doc.add(b"}")
    doc.ws()
    return bytes(doc.out), doc.secrets


def _yaml_scalar(doc: Doc, secret: bool, indent: int) -> None:
    kind = doc.draw(st.sampled_from(["plain", "block", "flow", "anchor", "alias"]))
    if kind == "alias" and doc.anchors:
        name = doc.draw(st.sampled_from(sorted(doc.anchors)))
        doc.add(b" *" + name + b"\n")
        if secret:  # the anchored value is then secret too
            doc.secrets.append(doc.anchors[name])
        return
    doc.add(b" ")
    if kind == "anchor":
        name = b"a%d" % len(doc.anchors)  # names may repeat across documents, as YAML allows
        doc.add(b"&" + name + b" ")
    start = len(doc.out)
    if kind == "block":
        doc.add(doc.draw(st.sampled_from([b"|", b">-", b"|+"])))
        for line in doc.draw(
            st.lists(WORDS.filter(lambda w: w.strip() == w and w), min_size=1, max_size=3)
        ):
            doc.add(b"\n" + b" " * (indent + 2) + line.encode())
    elif kind == "flow":
        doc.add(doc.draw(st.sampled_from([b"[1, 0x1F, a]", b"{k: v, n: 1.10}", b"[]"])))
    else:  # an anchored value is never null: an alias may make it secret
        nulls = [] if secret or kind == "anchor" else [b"~", b"null"]
        doc.add(doc.draw(st.sampled_from(PLAIN + nulls)))
    end = len(doc.out)
    if doc.out.endswith(b"  # comment"):
        end -= len(b"  # comment")
    if secret:
        doc.secrets.append((start, end))
    if kind == "anchor":
        doc.anchors[b"a%d" % len(doc.anchors)] = (start, end)
    doc.add(b"\n")


def _yaml_mapping(doc: Doc, indent: int, depth: int, all_secret: bool) -> None:
    for key in doc.draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=4, unique=True)):
        if doc.draw(st.booleans()):
            doc.add(b" " * indent + b"# a comment: with colon\n")
        doc.add(b" " * indent + key.encode() + b":")
        secret = all_secret or key in SECRET_KEYS
        if depth < 2 and doc.draw(st.integers(0, 3)) == 0:
            doc.add(b"\n")
            _yaml_mapping(doc, indent + 2, depth + 1, secret)
        else:
            _yaml_scalar(doc, secret, indent)


@st.composite
def yaml_documents(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int]]]:
    doc = Doc(draw)
    for i in range(draw(st.integers(1, 2))):
        if i or draw(st.booleans()):
            doc.add(b"---\n")
        doc.anchors = {}  # an alias names an anchor of its own document
        _yaml_mapping(doc, 0, 0, False)
    return bytes(doc.out), doc.secrets


def _expected(data: bytes, secrets: list[tuple[int, int]]) -> bytes:
    out, at = [], 0
    for start, end in sorted(set(secrets)):
        out += [data[at:start], M]
        at = end
    return b"".join([*out, data[at:]])


def _round_trip(root: Path, name: str, data: bytes, secrets: list[tuple[int, int]]) -> None:
    env = f"p{next(_envs)}"
    store = Store.init((root / env / "store").as_uri())  # its own: the scan sees only this one
    a, b = root / env / "a", root / env / "b"
    write(a, name, data)
    store.push(a, env)
    raw = store_bytes(store.repo.backend)
    for start, end in secrets:
        value = data[start:end]
        if len(value) > 12 and value not in _expected(data, secrets):  # not also a plain value
            assert value not in raw
    store.pull(b, env)
    assert (b / name).read_bytes() == _expected(data, secrets)
    store.pull(a, env)
    assert (a / name).read_bytes() == data


_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_SETTINGS
@given(json_documents())
def test_json_push_pull_changes_only_secret_values(
    tmp_path: Path, generated: tuple[bytes, list[tuple[int, int]]]
) -> None:
    _round_trip(tmp_path, "doc.json", *generated)


@_SETTINGS
@given(yaml_documents())
def test_yaml_push_pull_changes_only_secret_values(
    tmp_path: Path, generated: tuple[bytes, list[tuple[int, int]]]
) -> None:
    _round_trip(tmp_path, "doc.yaml", *generated)
