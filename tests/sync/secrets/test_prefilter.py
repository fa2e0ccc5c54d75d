"""The secret prefilter's one Aho-Corasick pass: its needles, and never a false "no".

The needles declared next to each credential format must be exactly the
strings its hint regex matches (so a format cannot drop out of the pass), and
over generated documents the prefilter must say "maybe" wherever the
prefilter it replaced did (:mod:`tests.sync.secrets.prefilter_oracle`) and
wherever the full scan finds a secret.
"""

from __future__ import annotations

import json
import re
from itertools import product
from re import _constants as sre_c
from re import _parser as sre_parse
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from statesync.sync.secrets import redaction
from statesync.sync.secrets.policy import SecretPolicy
from statesync.sync.secrets.rules import CREDENTIAL_FORMATS, DEFAULT_KEY_ENDINGS, credential_format
from tests.fuzzing import fuzz_settings
from tests.sync.secrets.prefilter_oracle import old_may_hold_secret_keys


def _expand(items: Any) -> set[str]:
    """Every string a parsed regex of literals, classes, groups and alternations matches.

    Raises ValueError for anything else (a repeat, an anchor...): such a hint
    has no finite set of needles and must not pass this test.
    """
    out = {""}
    for op, arg in items:
        if op is sre_c.LITERAL:
            alts = {chr(arg)}
        elif op is sre_c.IN:
            alts = set()
            for cop, carg in arg:
                if cop is sre_c.LITERAL:
                    alts.add(chr(carg))
                elif cop is sre_c.RANGE:
                    alts |= {chr(c) for c in range(carg[0], carg[1] + 1)}
                else:
                    raise ValueError(f"class item {cop}")
        elif op is sre_c.SUBPATTERN:
            alts = _expand(arg[-1])
        elif op is sre_c.BRANCH:
            alts = set().union(*(_expand(b) for b in arg[1]))
        else:
            raise ValueError(f"not a finite set of literals: {op}")
        out = {a + b for a, b in product(out, alts)}
    return out


def test_the_expansion_sees_every_construct_it_accepts() -> None:
    assert _expand(sre_parse.parse(r"a(?:kia|3t)[b-d_]x")) == {
        f"a{m}{c}x" for m in ("kia", "3t") for c in "bcd_"
    }
    with pytest.raises(ValueError):
        _expand(sre_parse.parse(r"ab+"))


@pytest.mark.parametrize("fmt", CREDENTIAL_FORMATS, ids=lambda f: f"{f.name}:{f.hint.pattern!r}")
def test_a_formats_needles_are_exactly_what_its_hint_matches(fmt: Any) -> None:
    spelt = _expand(sre_parse.parse(fmt.hint.pattern.decode("latin-1")))
    assert {n.decode("latin-1") for n in fmt.needles} == spelt
    assert all(fmt.hint.fullmatch(n) for n in fmt.needles)
    assert all(n == n.lower() for n in fmt.needles)  # searched in the lowercased text


def test_the_key_words_are_lowercase_literals() -> None:
    assert all(re.fullmatch(rb"[a-z]+", w) for w, _ in DEFAULT_KEY_ENDINGS)


# --------------------------------------------------------------------------- never a false no

_NEEDLES = sorted(
    {n.decode() for f in CREDENTIAL_FORMATS for n in f.needles}
    | {w.decode() for w, _ in DEFAULT_KEY_ENDINGS}
)
_FORMAT_VALUES = st.sampled_from(CREDENTIAL_FORMATS).flatmap(
    lambda f: st.from_regex(f.pattern, fullmatch=True)
)
_ALPHABET = st.sampled_from(
    [*"aAkKsS_-. :=/@\\\"'\n\tzZ09", "\u017f", "\u0130", "é", "\\n", "\\u0041", "\\/", "Key"]
)
_BITS = st.one_of(st.sampled_from(_NEEDLES), st.sampled_from(_NEEDLES).map(str.upper), _ALPHABET)
_TEXT = st.lists(_BITS, max_size=8).map("".join)
_KEY_WORDS = st.sampled_from(
    [
        "password",
        "Passwd",
        "passphrase",
        "secret",
        "token",
        "credentials",
        "creds",
        "apiKey",
        "x-api-key",
        "SECRET_KEY",
        "private_ssh_key",
        "connStr",
        "connection_string",
        "pwd",
        "authorization",
        "accessKey",
        "tokenizer",
        "max_tokens",
        "secret_name",
        "key_id",
    ]
)
_KEYS = st.one_of(
    _TEXT,
    st.tuples(_TEXT, _KEY_WORDS, st.sampled_from(["", "_", "-", ".", " ", "\n", "s", "x"])).map(
        "".join
    ),
)
_VALUES = st.one_of(_TEXT, _FORMAT_VALUES, st.integers(), st.none())
_DOCS = st.recursive(
    _VALUES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3)),
    max_leaves=8,
)
_POLICIES = {
    "default": SecretPolicy(),
    "anchored words": SecretPolicy(key_pattern=r"(db_key|token|hunter)$"),
    "unanchored words": SecretPolicy(key_pattern=r"secret|apikey"),
}


def _encode(doc: Any, ascii_only: bool, spaced: bool) -> bytes:
    sep = (", ", " : ") if spaced else (",", ":")
    return json.dumps(doc, ensure_ascii=ascii_only, separators=sep).encode()


@fuzz_settings(default=60, long=5000)
@given(
    doc=st.dictionaries(_KEYS, _DOCS, max_size=4),
    ascii_only=st.booleans(),
    spaced=st.booleans(),
    path=st.sampled_from(["d.json", "d.yaml", "d.tfstate", "d.txt"]),
    policy=st.sampled_from(sorted(_POLICIES)),
)
@example(doc={"task-1": "x"}, ascii_only=True, spaced=False, path="d.json", policy="default")
@example(
    doc={"a": "sk-" + "A" * 40}, ascii_only=True, spaced=False, path="d.json", policy="default"
)
@example(doc={"db_token ": 1}, ascii_only=True, spaced=True, path="d.json", policy="default")
def test_the_prefilter_says_maybe_wherever_the_old_one_did(
    doc: dict[str, Any], ascii_only: bool, spaced: bool, path: str, policy: str
) -> None:
    rules = _POLICIES[policy]
    data = _encode(doc, ascii_only, spaced)
    if old_may_hold_secret_keys(rules, path, data):
        assert rules.may_hold_secret_keys(path, data), data


@fuzz_settings(default=40, long=3000)
@given(doc=st.dictionaries(_KEYS, _DOCS, max_size=4), ascii_only=st.booleans())
@example(doc={"access_token": "x"}, ascii_only=True)
@example(doc={"v": "ghp_" + "a" * 36}, ascii_only=True)
def test_a_no_from_the_prefilter_means_the_full_scan_finds_no_secret(
    doc: dict[str, Any], ascii_only: bool
) -> None:
    policy = SecretPolicy()
    data = _encode(doc, ascii_only, False)
    locator = redaction.locator_for("d.json")
    assert locator is not None
    _, found = redaction.redact_spans("d.json", data, policy, None, locator)
    if found:
        assert policy.may_hold_secret_keys("d.json", data), (data, found)


def test_a_fine_grained_github_token_alone_is_a_maybe() -> None:
    # The hint used to spell "ghithub_pat_": such a token, with no other needle, was a "no".
    data = json.dumps({"v": "github_pat_" + "A1b2" * 6}).encode()
    assert SecretPolicy().may_hold_secret_keys("d.json", data)
    locator = redaction.locator_for("d.json")
    assert locator is not None
    assert redaction.redact_spans("d.json", data, SecretPolicy(), None, locator)[1] == ["/v"]


_SAMPLES = [
    "AKIAZ3MPLEK3YID7Q2WX",
    "A3TXZ3MPLEK3YID7Q2WX",
    "ghp_" + "a1" * 18,
    "github_pat_" + "a_" * 11,
    "glpat-" + "a-" * 10,
    "xoxb-" + "1a" * 5,
    "https://hooks.slack.com/services/" + "A/" * 10,
    "sk_live_" + "a1" * 5,
    "rk_live_" + "a1" * 5,
    "AIza" + "a" * 35,
    "sk-ant-" + "a" * 32,
    "npm_" + "a" * 36,
    "-----BEGIN RSA PRIVATE KEY-----",
    "Bearer " + "a." * 8,
    "eyJ" + "a" * 8 + ".eyJ" + "b" * 8 + "." + "c" * 8,
    "AccountKey=" + "a+" * 10,
    "SharedAccessKey=" + "a/" * 10,
    "https://user:pass@host",
]


@pytest.mark.parametrize("value", _SAMPLES)
def test_a_lone_credential_of_every_format_is_a_maybe(value: str) -> None:
    assert any(f.pattern.search(value) for f in CREDENTIAL_FORMATS), value
    policy = SecretPolicy()
    for data in (json.dumps({"v": value}), json.dumps(["x " + value + " y"])):
        assert policy.may_hold_secret_keys("d.json", data.encode()), data


def test_every_format_has_a_sample() -> None:
    names = {f.name for f in CREDENTIAL_FORMATS}
    sampled = {f.name for f in CREDENTIAL_FORMATS for v in _SAMPLES if f.pattern.search(v)}
    assert sampled == names


# --------------------------------------------------------------------------- the value gate


def _every_pattern(value: str) -> str | None:
    """``credential_format`` without its needle gate: each format's pattern, in order."""
    return next((f.name for f in CREDENTIAL_FORMATS if f.pattern.search(value)), None)


@fuzz_settings(default=200, long=10000)
@given(st.tuples(_TEXT, st.one_of(st.just(""), _FORMAT_VALUES), _TEXT).map("".join))
@example("task-0001")  # a needle, no format
@example("Bearer abcdefghijklmnopqrstuvwxyz")  # (?i:...) over a mixed-case needle
@example("ACCOUNTKEY=" + "A" * 30)
@example("\u017fharedAccessKey=" + "a" * 30)  # long s: re folds it to s, str.lower keeps it
def test_the_needle_gate_never_changes_which_format_a_value_has(value: str) -> None:
    assert credential_format(value) == _every_pattern(value)
