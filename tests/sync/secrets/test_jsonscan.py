"""The JSON scanner's fast paths change nothing: same nodes, positions and pointers, same refusals.

:func:`json_scan` is checked against the scanner it was before its fast paths
(:mod:`tests.sync.secrets.jsonscan_oracle`) over generated documents, dumped
in every layout ``json.dumps`` makes, and over the same texts with one
character inserted or removed (most of them invalid): both must give the same
values at the same positions under the same pointers, or both refuse.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from statesync.errors import DocumentLimit
from statesync.sync.secrets import jsonspans
from statesync.sync.secrets.docnodes import Node, outermost
from statesync.sync.secrets.jsonspans import json_scan, json_secret_nodes
from statesync.sync.secrets.policy import SecretPolicy
from tests.fuzzing import fuzz_settings
from tests.sync.secrets.jsonscan_oracle import old_json_scan

_KEY_TEXT = st.text(
    st.sampled_from([*'ab~/"\\ :,{}[]', "\x01", "\x1f", "\x7f", "é", "\u2028", "\ud800"]),
    max_size=6,
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    _KEY_TEXT,
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(_KEY_TEXT, inner, max_size=4)
    ),
    max_leaves=20,
)
_LAYOUTS = st.sampled_from(
    [
        {"separators": (",", ":")},
        {},
        {"indent": 2},
        {"indent": "\t", "separators": (" ,", " : ")},
        {"indent": 0},
        {"separators": (",\r\n", ":\n")},
    ]
)


class _Object(list[tuple[str, Any]]):
    """A JSON object as its members, duplicate keys allowed."""


_CHARS = st.sampled_from([*' \t\n\r,:{}[]"\\0-eE.', "\x00", "\x01", "x", "é", "\ufeff"])


def _outcome(scan: Callable[[str], Iterable[Any]], text: str) -> Any:
    """What ``scan`` makes of ``text``: its values in order, or the kind of refusal."""
    try:
        return ("scanned", list(scan(text)))
    except DocumentLimit:
        return ("limit",)
    except ValueError:
        return ("refused",)


def _same(text: str) -> None:
    assert _outcome(json_scan, text) == _outcome(old_json_scan, text), text


@fuzz_settings(default=150, long=20000)
@given(_VALUES, _LAYOUTS, st.booleans())
def test_every_layout_of_a_document_scans_as_before(
    value: Any, layout: dict[str, Any], ascii_only: bool
) -> None:
    _same(json.dumps(value, ensure_ascii=ascii_only, **layout))


@fuzz_settings(default=150, long=20000)
@given(_VALUES, _LAYOUTS, st.data())
@example(value={"a": 1}, layout={}, data=None)
def test_a_text_with_one_character_more_or_less_scans_or_fails_as_before(
    value: Any, layout: dict[str, Any], data: Any
) -> None:
    text = json.dumps(value, ensure_ascii=False, **layout)
    if data is None:  # the explicit example: a key broken by a control character
        _same('{"a\x01": 1}')
        _same('{"a" 1}')
        _same('{"a": 1 ]')
        _same("[1, 2 }")
        return
    at = data.draw(st.integers(0, len(text)))
    if data.draw(st.booleans()) and text:
        _same(text[:at] + text[at + 1 :])
    else:
        _same(text[:at] + data.draw(_CHARS) + text[at:])


def test_nesting_past_the_limit_is_refused_as_before() -> None:
    for text in ('{"a": ' * 300 + "1" + "}" * 300, "[" * 257 + "]" * 257, "[" * 256 + "]" * 256):
        _same(text)


# --------------------------------------------------------------------------- secret nodes

_POLICY = SecretPolicy()
_SECRET_KEYS = st.sampled_from(
    ["password", "api_key", "token", "x", "apiKey", "a/b~c", "max_tokens"]
)
_CREDENTIAL = "sk-" + "A" * 40
_SECRET_SCALARS = st.one_of(_SCALARS, st.just(_CREDENTIAL), st.just("ghp_" + "b" * 36))
_SECRET_VALUES = st.recursive(
    _SECRET_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        # pairs, not a dict: duplicate keys are kept as the text has them
        st.lists(st.tuples(st.one_of(_SECRET_KEYS, _KEY_TEXT), inner), max_size=4).map(_Object),
    ),
    max_leaves=20,
)


def _dump(value: Any, layout: dict[str, Any], ascii_only: bool = True) -> str:
    """JSON of ``value``; an :class:`_Object` keeps its duplicate keys."""
    sep: tuple[str, str] = layout.get("separators", (", ", ": "))
    if isinstance(value, _Object):
        items = (
            f"{json.dumps(k, ensure_ascii=ascii_only)}{sep[1]}{_dump(v, layout, ascii_only)}"
            for k, v in value
        )
        return "{" + sep[0].join(items) + "}"
    if isinstance(value, list):
        return "[" + sep[0].join(_dump(v, layout, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def _old_secret_nodes(text: str) -> list[Node]:
    return [
        Node(*s)
        for s in old_json_scan(text)
        if not s[5]
        and (
            (s[1] is not None and _POLICY.is_secret_key(s[1]))
            or (s[4] is not None and _POLICY.is_secret_value(s[4]))
        )
    ]


def _same_secrets(text: str) -> None:
    new = _outcome(lambda t: outermost(json_secret_nodes(t, _POLICY)), text)
    assert new == _outcome(lambda t: outermost(_old_secret_nodes(t)), text), text


@fuzz_settings(default=200, long=20000)
@given(_SECRET_VALUES, _LAYOUTS, st.data())
@example(value=None, layout={}, data=None)
def test_the_secret_nodes_are_those_the_full_scan_finds(
    value: Any, layout: dict[str, Any], data: Any
) -> None:
    if data is None:  # duplicates: json.loads keeps the last, both are in the text
        _same_secrets('{"a": {"password": "x"}, "a": 1}')
        _same_secrets('{"a": "' + _CREDENTIAL + '", "a": "plain"}')
        _same_secrets('{"password": {"token": "x"}, "n": {"secret": null}}')
        _same_secrets('[{"a": [1, {"api_key": [2]}]}, "' + _CREDENTIAL + '"]')
        _same_secrets('{"pass\\u0077ord": "x", "k": "sk-\\u0041' + "A" * 40 + '"}')
        return
    text = _dump(value, layout)
    _same_secrets(text)
    at = data.draw(st.integers(0, len(text)))
    _same_secrets(text[:at] + data.draw(_CHARS) + text[at:])


def test_a_text_longer_than_parse_whole_is_scanned_not_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = '{"a": [1, {"password": "x"}], "b": "' + _CREDENTIAL + '"}'
    want = outermost(_old_secret_nodes(text))

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("parsed whole")

    monkeypatch.setattr(jsonspans, "PARSE_WHOLE", len(text) - 1)
    monkeypatch.setattr(json, "loads", refuse)
    monkeypatch.setattr(jsonspans, "_scan_value", refuse)  # the walks' C scanner
    assert outermost(json_secret_nodes(text, _POLICY)) == want
    monkeypatch.setattr(jsonspans, "PARSE_WHOLE", len(text))
    for way in (text, text.replace("x", "é")):  # the hits' walk, then (not ASCII) the parse
        with pytest.raises(AssertionError, match="parsed whole"):
            json_secret_nodes(way, _POLICY)


# --------------------------------------------------------------------------- the hits' walk

_HIT_KEYS = st.one_of(
    st.sampled_from(
        [
            *("password", "passwd", "pass", "my pass", "pwd", "secret", "token", "tokens"),
            *("max_tokens", "credentials", "creds", "authorization", "apikey", "api_key"),
            *("apiKey", "x-api-key", "API.Key", "privkey", "connection_string", "connstr"),
            *("conn_str", "key", "monkey", "secret_value", "private_foo_key", "passwordx"),
            *("pass\nword", "token\t", "token-", 'to"ken', "tok\\en", "token\\", "session_key"),
            *("a/b~c", "x", "TOKEN", "Api_Key_"),
        ]
    ),
    st.lists(
        st.sampled_from([*"ab_-. /é", "key", "token", "pass", "\n", '"', "\\", "\u017f"]),
        max_size=4,
    ).map("".join),
)
_HIT_CREDENTIALS = st.sampled_from(
    [
        *("AKIA" + "B" * 16, "ghp_" + "b" * 36, "glpat-" + "c" * 20, "xoxb-" + "1" * 10),
        *("hooks.slack.com/services/" + "A" * 20, "sk_live_" + "a" * 10, "AIza" + "d" * 35),
        *(_CREDENTIAL, "npm_" + "e" * 36, "-----BEGIN RSA PRIVATE KEY-----\nabc"),
        *("Bearer " + "f" * 16, "Bearer\t" + "f" * 16, "https://user:pw@host"),
        *("eyJ" + "g" * 8 + ".eyJ" + "h" * 8 + "." + "i" * 8, "AccountKey=" + "j" * 20),
        *("SharedAccessKey=" + "k" * 20, "say " + _CREDENTIAL + " here", 'q"' + _CREDENTIAL),
        *(
            "é " + _CREDENTIAL,
            "\U0001f600ghp_" + "b" * 36,
            "back\\slash ghp_" + "b" * 36,
            "AKIA" + "B" * 15,
            "sk-short",
            "https://host/x",
        ),
    ]
)
_HIT_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.sampled_from([*'ab :,{}[]"\\\n\t', "é", "\u2028", "\U0001f600"]), max_size=6),
    _HIT_CREDENTIALS,
    st.just("\U0001f600" * 12),  # shifts every later character offset from its byte offset
)
_HIT_VALUES = st.recursive(
    _HIT_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(st.tuples(_HIT_KEYS, inner), max_size=4).map(_Object),
    ),
    max_leaves=24,
)


@fuzz_settings(default=300, long=20000)
@given(_HIT_VALUES, _LAYOUTS, st.booleans(), st.data())
@example(value=None, layout={}, ascii_only=True, data=None)
def test_the_hits_walk_finds_what_the_full_scan_finds(
    value: Any, layout: dict[str, Any], ascii_only: bool, data: Any
) -> None:
    """Texts without ``\\u`` or a folding letter: the walk into the containers holding a hit."""
    if data is None:  # a hit in a key, in a value, nowhere; a repeated key; a tight nest
        for text in (
            '{"a": {"b": [1, {"api_key": 2}]}, "c": [3]}',
            '{"a": [{"x": "' + _CREDENTIAL + '"}], "b": {"c": {}}}',
            '{"tokens": {"max_tokens": 1}, "a": []}',
            '{"a": {"password": "x"}, "a": 1, "a": {"token": null}}',
            '[[["ghp_' + "b" * 36 + '"]]]',
            '{"token": {"a": [1]}, "b": "sk-short"} ',
            '{"é": ["\U0001f600", {"x": "' + _CREDENTIAL + '"}], "ü": {"api_key": "é"}}',
            '{"a": "' + "é" * 30 + '", "b": {"token": 1}, "c": [' + "1, " * 30 + "2]}",
        ):
            _same_hits(text)
        return
    text = _dump(value, layout, ascii_only)
    _same_hits(text)
    at = data.draw(st.integers(0, len(text)))
    _same_secrets(text[:at] + data.draw(_CHARS) + text[at:])


def _same_hits(text: str) -> None:
    """The walk is taken for ``text`` (a valid container) and finds what the full scan finds."""
    raw = text.encode()
    hits = _POLICY.secret_hits(raw)
    if hits is None:  # (an escaped backslash before "u" or "/" looks like those escapes)
        assert "\\u" in text or "\\/" in text or "\u017f" in text, text
        return _same_secrets(text)
    walked = jsonspans._HitWalk(text, jsonspans._char_offsets(raw, hits), _POLICY).nodes(raw)
    want = outermost(_old_secret_nodes(text))
    if text.lstrip().startswith(("{", "[")):
        assert walked is not None, text
        assert outermost(walked) == want, text
    else:
        assert walked is None  # a scalar: the full scan judges it
    _same_secrets(text)


def test_a_text_nested_past_the_limit_is_left_to_the_full_scan() -> None:
    for text in (
        '{"token": ' * 257 + "1" + "}" * 257,
        '[{"api_key": "x"}, ' + "[" * 257 + "]" * 257 + "]",
        '["[[[[", ' + "[" * 255 + "]" * 255 + "]",  # brackets in a string do not nest
    ):
        _same_secrets(text)


@fuzz_settings(default=200, long=5000)
@given(_HIT_VALUES, _LAYOUTS)
def test_nesting_is_the_depth_of_the_brackets_outside_strings(
    value: Any, layout: dict[str, Any]
) -> None:
    text = _dump(value, layout)
    containers = [s[0] for s in old_json_scan(text) if text[s[2]] in "{["]
    want = max((len(pointer.split("/")) for pointer in containers), default=0)
    assert jsonspans._nesting(text.encode()) == want, text
