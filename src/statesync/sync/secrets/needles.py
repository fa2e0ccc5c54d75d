"""One Aho-Corasick pass for the secret prefilter: credential needles and key words.

The prefilter (:meth:`statesync.sync.secrets.policy.SecretPolicy.may_hold_secret_keys`)
must find, in a lowercased document, every place a credential format may
start (the :attr:`~statesync.sync.secrets.rules.CredentialFormat.needles`)
and every place a key may end (the key pattern's last words). One automaton
(:mod:`ahocorasick_rs`, the Rust ``aho-corasick`` crate, over the bytes as they
are) finds them all in one pass over the text; the exact checks then run at
each hit only. It reports every occurrence, overlapping ones included, so it
checks at least the places the per-needle searches it replaces did: it may say
"maybe" more often, never less. (It replaced pyahocorasick, whose pass over a
2 KiB document took about 25 µs against about 6 µs: docs/BENCHMARKS.md.)
"""

from __future__ import annotations

import re

from statesync.sync.secrets.rules import CREDENTIAL_FORMATS, CredentialFormat

#: What a needle asks for at a hit: the formats it starts (checked with their
#: ``exact`` pattern) and the completions of a key word ending there.
_Action = tuple[tuple[CredentialFormat, ...], tuple[re.Pattern[bytes], ...]]


class NeedleScan:
    """The credential formats' needles and ``words`` (each with its ``tails``) in one automaton.

    ``tails[i]`` matches, right after ``words[i]``, what completes a key
    ending in it (its closing quote and colon included).
    """

    def __init__(self, words: list[bytes], tails: list[re.Pattern[bytes]]) -> None:
        import ahocorasick_rs  # only push scans documents: keep it off `statesync --help`

        formats: dict[bytes, list[CredentialFormat]] = {}
        for fmt in CREDENTIAL_FORMATS:
            for needle in fmt.needles:
                formats.setdefault(needle, []).append(fmt)
        completions: dict[bytes, list[re.Pattern[bytes]]] = {}
        for word, tail in zip(words, tails, strict=True):
            completions.setdefault(word, []).append(tail)
        needles = sorted(formats.keys() | completions.keys())
        self._actions: list[_Action] = [
            (tuple(formats.get(n, ())), tuple(completions.get(n, ()))) for n in needles
        ]
        self._automaton = ahocorasick_rs.BytesAhoCorasick(
            needles, matchkind=ahocorasick_rs.MatchKind.Standard
        )

    def may_hold(self, data: bytes, lowered: bytes, exact: bool, keys: bool) -> bool:
        """True if a credential format may be spelt in ``data`` or (``keys``) a word ends a key.

        ``lowered`` is ``data`` lowercased. ``exact``: ``data`` has no escape
        and no folded lines, so a format's ``exact`` bytes pattern decides;
        otherwise any needle of a format is a "maybe". The caller rules out
        ``\\u`` escapes (an escaped letter could spell a needle).
        """
        if b"\\/" in data:
            return True
        return bool(self.hits(data, lowered, exact, keys, first=True))

    def hits(
        self, data: bytes, lowered: bytes, exact: bool, keys: bool, first: bool = False
    ) -> list[int]:
        """The offset of each needle at which :meth:`may_hold` says "maybe" (``first``: one).

        The same arguments and caller's duties as :meth:`may_hold` (which is
        true when ``data`` holds ``\\/`` or one hit). A hit lies inside the text
        that makes it one: a format's needle inside the value that spells the
        credential, a key word inside the key it ends. Not sorted. (Plain loops:
        this runs once per needle found in every document a push reads.)
        """
        found: list[int] = []
        actions = self._actions
        for index, start, end in self._automaton.find_matches_as_indexes(lowered, overlapping=True):
            formats, tails = actions[index]
            hit = bool(formats) and not exact
            if formats and exact:
                for fmt in formats:
                    if fmt.exact.match(data, max(start - fmt.back, 0)):
                        hit = True
                        break
            if keys and not hit:
                for tail in tails:
                    if tail.match(lowered, end):
                        hit = True
                        break
            if hit:
                found.append(start)
                if first:
                    break
        return found
