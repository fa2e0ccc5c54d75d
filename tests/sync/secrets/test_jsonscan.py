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


def _dump(value: Any, layout: dict[str, Any]) -> str:
    """JSON of ``value``; an :class:`_Object` keeps its duplicate keys."""
    sep: tuple[str, str] = layout.get("separators", (", ", ": "))
    if isinstance(value, _Object):
        items = (f"{json.dumps(k)}{sep[1]}{_dump(v, layout)}" for k, v in value)
        return "{" + sep[0].join(items) + "}"
    if isinstance(value, list):
        return "[" + sep[0].join(_dump(v, layout) for v in value) + "]"
    return json.dumps(value)


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
    assert outermost(json_secret_nodes(text, _POLICY)) == want
    monkeypatch.setattr(jsonspans, "PARSE_WHOLE", len(text))
    with pytest.raises(AssertionError, match="parsed whole"):
        json_secret_nodes(text, _POLICY)
