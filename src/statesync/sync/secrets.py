"""Which files and values are secret, and how they stay on this machine.

Secret *files* match the globs (default ``secrets/**``, ``*.secret``,
``.env``): they are left out of snapshots; only their names are recorded.
Secret *values* are values in JSON/YAML documents whose key matches the key
pattern (default: keys ending in password, secret, token, api_key,
private_key): they are replaced by :data:`MARKER` and their JSON pointers are
recorded. Pull puts this machine's own values back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from statesync.errors import StatesyncError
from statesync.sync import docspans, redaction
from statesync.sync.redaction import MARKER as MARKER  # re-exported: secrets.MARKER
from statesync.sync.redaction import Sealer as Sealer

#: Prefix of a secret value sealed for the store (``--include-secrets``).
SEALED_PREFIX = "statesync:enc:v1:"
DEFAULT_GLOBS = ("secrets/**", "*.secret", ".env")
DEFAULT_KEY_PATTERN = r"(password|secret|token|api_key|apikey|private_key)$"
DOCUMENT_SUFFIXES = (".json", ".yaml", ".yml")
#: Documents larger than this are past the size limit (see docspans).
MAX_PARSE = docspans.MAX_DOCUMENT


def _glob_regex(glob: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    # A glob without '/' matches a name in any folder, as in .gitignore.
    prefix = "" if "/" in glob else "(?:.*/)?"
    return re.compile(f"^{prefix}{''.join(out)}$")


def glob_matcher(globs: tuple[str, ...] | list[str]) -> re.Pattern[str]:
    """One regex matching a relative POSIX path against any of ``globs``."""
    parts = [_glob_regex(g).pattern[1:-1] for g in globs]
    return re.compile("^(?:" + "|".join(parts or ["(?!)"]) + ")$")


@dataclass
class SecretPolicy:
    """The user's naming of secrets."""

    globs: tuple[str, ...] = DEFAULT_GLOBS
    key_pattern: str = DEFAULT_KEY_PATTERN
    _files: re.Pattern[str] = field(init=False, repr=False)
    _keys: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._files = glob_matcher(self.globs)
        self._keys = re.compile(self.key_pattern, re.IGNORECASE)
        self._words = _literal_words(self.key_pattern)
        self._anchored = self.key_pattern.endswith("$")
        self._seen: dict[str, bool] = {}

    def may_hold_secret_keys(self, path: str, data: bytes) -> bool:
        """False only when no key in the document can match (fast tests before parsing).

        For patterns of literal words (the default) a matching key must contain
        one of the words; in JSON, only object keys count, found without
        building the document. Text with ``\\u`` escapes (in YAML, any escape),
        or with a non-ASCII letter the pattern's IGNORECASE folds to an ASCII
        one, is always parsed.
        """
        # Most documents have no backslash: one memchr answers both escape questions.
        escapes = data.find(b"\\")
        if self._words is None or (escapes != -1 and data.find(b"\\u", escapes) != -1):
            return True
        if not data.isascii() and any(fold in data for fold in _ASCII_FOLDS):
            return True
        lowered = data.lower()
        if _is_yaml(path):  # YAML also spells letters as \x.. and \U........
            return escapes != -1 or any(word in lowered for word in self._words)
        if not self._anchored:
            return any(_word_in_a_key(lowered, word) for word in self._words)
        # "$" also matches before a final newline: a key may end in the word and "\n".
        newline = escapes != -1 and lowered.find(b'\\n"', escapes) != -1
        tails = (b'"', b'\\n"') if newline else (b'"',)
        return any(_ends_a_key(lowered, word, tails) for word in self._words)

    def is_secret_file(self, path: str) -> bool:
        return bool(self._files.match(path))

    def is_secret_value(self, value: str) -> bool:
        """True if a string value is a credential whatever its key (AKIA..., ghp_..., PEM keys).

        Interface for the locators (issue 10); the detector table is being written.
        """
        return False

    def is_secret_key(self, key: str) -> bool:
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = bool(self._keys.search(key))
        return found


#: Non-ASCII letters that ``re.IGNORECASE`` matches to ASCII ones, in UTF-8
#: (U+0130 and U+0131 -> i, U+017F long s -> s, U+212A Kelvin sign -> k), so
#: "pa\u017f\u017fword" matches "password".
_ASCII_FOLDS = (b"\xc4\xb0", b"\xc4\xb1", b"\xc5\xbf", b"\xe2\x84\xaa")
_COLON = re.compile(rb"[ \t\r\n]*:")


def _ends_a_key(text: bytes, word: bytes, tails: tuple[bytes, ...]) -> bool:
    """True if ``word`` + one of ``tails`` (each ending in a quote) is followed by a colon.

    Only an object key's closing quote is followed by a colon in JSON (a
    string value never is); the quote is not escaped, since the character
    before it is a word's letter or an escape's ``n``. (The search is for the
    word alone: finding a needle that ends in a letter is faster than one
    that ends in a quote, the commonest byte of JSON.)
    """
    i = text.find(word)
    while i != -1:
        end = i + len(word)
        for tail in tails:
            if text.startswith(tail, end) and _COLON.match(text, end + len(tail)):
                return True
        i = text.find(word, end)
    return False


def _word_in_a_key(text: bytes, word: bytes) -> bool:
    """True if ``word`` may occur in an object key of JSON ``text`` (never a false no).

    After the word, a key runs to its closing quote, then a colon follows.
    Escapes between them make it a "maybe".
    """
    i = text.find(word)
    while i != -1:
        end = text.find(b'"', i + len(word))
        if end == -1:
            return False
        rest = text[i + len(word) : end]
        if b"\\" in rest:
            return True
        if b"\n" not in rest and _COLON.match(text, end + 1):
            return True
        i = text.find(word, i + 1)
    return False


def _literal_words(pattern: str) -> list[bytes] | None:
    """``(a|b|c)$`` or ``a|b`` -> ``["a", "b", "c"]``; None for anything else."""
    m = re.fullmatch(r"\^?\(?([A-Za-z0-9_|-]+)\)?\$?", pattern)
    return [w.lower().encode() for w in m.group(1).split("|")] if m else None


def is_document(path: str) -> bool:
    return path.lower().endswith(DOCUMENT_SUFFIXES)


def _is_yaml(path: str) -> bool:
    return path.lower().endswith((".yaml", ".yml"))


def parse_document(path: str, data: bytes) -> Any:
    """Parse JSON or YAML by suffix, within the limits of :mod:`statesync.sync.docspans`.

    A stream of several YAML documents is returned as a list of them.
    Raises ``ValueError``/``UnicodeDecodeError`` if it is not valid and
    :class:`statesync.errors.DocumentLimit` (naming ``path``) when it is past
    the limits on size, nesting or alias expansion.
    """
    documents = docspans.check_limits(path, data)
    text = data.decode("utf-8")
    if _is_yaml(path):
        try:
            if documents > 1:
                return list(yaml.load_all(text, Loader=docspans.YAML_LOADER))
            return yaml.load(text, Loader=docspans.YAML_LOADER)
        except yaml.YAMLError as exc:
            raise ValueError(str(exc)) from None
    return json.loads(text)


class UnparseableSecretDocument(StatesyncError):
    """A document that may hold secret values cannot be parsed to redact them."""


def redact(path: str, data: bytes, policy: SecretPolicy,
           seal: Sealer | None = None) -> tuple[bytes, list[str]]:
    """Replace the bytes of each secret value; return the new bytes and the pointers.

    Values become :data:`MARKER`, or ``seal(pointer, source bytes)`` when
    given (an encrypted value, for ``--include-secrets``); every other byte
    stays as written (see :mod:`statesync.sync.redaction`). JSON and YAML
    are located by :mod:`statesync.sync.docspans`, other formats by
    :func:`statesync.sync.secret_formats.locator_for`; anything else is
    returned as is.

    A document with no secret values is returned byte for byte. A document
    that does not parse but looks as if it holds secret keys raises
    :class:`UnparseableSecretDocument` rather than risk sending them; one
    past a size, nesting or alias limit raises
    :class:`statesync.errors.DocumentLimit` naming the file.
    """
    locator = redaction.locator_for(path)
    if locator is None:
        return data, []
    if is_document(path) and not policy.may_hold_secret_keys(path, data):
        return data, []
    try:
        return redaction.redact_spans(path, data, policy, seal, locator)
    except (ValueError, UnicodeDecodeError):
        if _looks_secret(data, policy):
            raise UnparseableSecretDocument(
                f"{path}: not valid {_format(path)} and it may hold "
                "secret values; fix it or name it in the secret globs"
            ) from None
        return data, []


def _format(path: str) -> str:
    if is_document(path):
        return "YAML" if _is_yaml(path) else "JSON"
    return "syntax"


def _looks_secret(data: bytes, policy: SecretPolicy) -> bool:
    text = data.decode("utf-8", "replace")
    keys = re.findall(r"[\"']?([\w.-]+)[\"']?\s*[:=]", text)  # \w: any script, as the pattern
    return any(policy.is_secret_key(k) for k in keys)
