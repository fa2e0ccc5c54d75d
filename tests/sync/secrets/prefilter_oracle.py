"""The secret prefilter as it was before the Aho-Corasick pass: the oracle of its tests.

A copy of ``SecretPolicy.may_hold_secret_keys`` with the per-format hint
regexes (``CredentialFormat.hint.finditer``) and the per-word ``find`` loops,
kept to prove the new prefilter never says "no" where this one says "yes"
(``tests/sync/secrets/test_prefilter.py``) and to time both on the same files
(``bench/bench_prefilter.py``).
"""

from __future__ import annotations

import re

from statesync.sync.secrets.policy import (
    _ASCII_FOLDS,
    SecretPolicy,
    _is_yaml,
    _word_in_a_key,
)
from statesync.sync.secrets.rules import CREDENTIAL_FORMATS, CredentialFormat
from statesync.sync.store.manifest import is_document


def old_may_hold_secret_keys(policy: SecretPolicy, path: str, data: bytes) -> bool:
    """The old prefilter's answer for ``data`` at ``path`` under ``policy``."""
    escapes = data.find(b"\\")
    if policy._words is None or (escapes != -1 and data.find(b"\\u", escapes) != -1):
        return True
    if not data.isascii() and any(fold in data for fold in _ASCII_FOLDS):
        return True
    lowered = data.lower()
    if _may_hold_credential_value(data, lowered, escapes == -1 and not _is_yaml(path)):
        return True
    if _is_yaml(path) or not is_document(path):
        return escapes != -1 or any(word in lowered for word in policy._words)
    if not policy._anchored:
        return any(_word_in_a_key(lowered, word) for word in policy._words)
    pairs = zip(policy._words, policy._tails, strict=True)
    return any(_ends_a_key(lowered, word, tail) for word, tail in pairs)


def _may_hold_credential_value(data: bytes, lowered: bytes, exact: bool) -> bool:
    if b"\\/" in data:
        return True
    return any(_spelt(fmt, data, lowered, exact) for fmt in CREDENTIAL_FORMATS)


def _spelt(fmt: CredentialFormat, data: bytes, lowered: bytes, exact: bool) -> bool:
    for hint in fmt.hint.finditer(lowered):
        if not exact or fmt.exact.match(data, max(hint.start() - fmt.back, 0)):
            return True
    return False


def _ends_a_key(text: bytes, word: bytes, tail: re.Pattern[bytes]) -> bool:
    i = text.find(word)
    while i != -1:
        end = i + len(word)
        if tail.match(text, end):
            return True
        i = text.find(word, end)
    return False
