"""Which files and values are secret, and how they stay on this machine.

Secret *files* match the globs (``.gitignore`` semantics, :mod:`pathspec`;
defaults in :mod:`statesync.sync.secrets.rules`): they are left out of
snapshots; only their names are recorded. Secret *values* are values whose
key matches the key pattern (after :func:`~statesync.sync.secrets.rules.normalise_key`),
or whose text has a well-known credential format whatever its key: they are
replaced by :data:`MARKER` and their JSON pointers are recorded. Pull puts
this machine's own values back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from statesync.errors import UnparseableSecretDocument as UnparseableSecretDocument
from statesync.sync.secrets import docspans, redaction
from statesync.sync.secrets.needles import NeedleScan
from statesync.sync.secrets.pathmatch import PathMatcher
from statesync.sync.secrets.redaction import Sealer as Sealer
from statesync.sync.secrets.rules import (
    DEFAULT_GLOBS,
    DEFAULT_KEY_ENDINGS,
    DEFAULT_KEY_PATTERN,
    MARKER,
    SEALED_PREFIX,
    credential_format,
    normalise_key,
)
from statesync.sync.store.manifest import is_document

__all__ = ["DEFAULT_GLOBS", "DEFAULT_KEY_PATTERN", "MARKER", "SEALED_PREFIX", "SecretPolicy"]
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
    """One regex matching a relative POSIX path against any of ``globs``.

    Only for ``export --path``; secret globs use ``.gitignore`` semantics
    (:class:`SecretPolicy`).
    """
    parts = [_glob_regex(g).pattern[1:-1] for g in globs]
    return re.compile("^(?:" + "|".join(parts or ["(?!)"]) + ")$")


@dataclass
class SecretPolicy:
    """The user's naming of secrets.

    ``globs`` follow ``.gitignore`` semantics (``secrets/``, ``/.env``,
    ``**/*.pem``, ``a/**/b``, ``[ab]``, ``!negation``; the last match wins).
    ``key_pattern`` is searched case-insensitively in the raw key and in its
    normalised form (``awsSecretAccessKey`` -> ``aws_Secret_Access_Key``); a
    key matching either is secret. Raises ``re.error`` for a bad pattern.
    """

    globs: tuple[str, ...] = DEFAULT_GLOBS
    key_pattern: str = DEFAULT_KEY_PATTERN
    _files: PathMatcher = field(init=False, repr=False)
    _keys: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._files = PathMatcher(self.globs, "[secrets] globs")
        self._keys = re.compile(self.key_pattern, re.IGNORECASE)
        self._words, self._tails = _prefilter_words(self.key_pattern)
        self._anchored = self.key_pattern == DEFAULT_KEY_PATTERN or self.key_pattern.endswith("$")
        self._seen: dict[str, bool] = {}
        self._needles: NeedleScan | None = None  # built on first use (push only)

    def may_hold_secret_keys(self, path: str, data: bytes) -> bool:
        """False only when no key can match and no value has a credential format.

        A fast test before parsing (a correctness gate: never a false "no").
        For patterns of literal words (and the default) a matching key must
        contain one of the words' last alphanumeric runs (normalising only
        changes separators); in JSON, only object keys count, found without
        building the document. Text with ``\\u`` escapes (in YAML, any escape),
        or with a non-ASCII letter the pattern's IGNORECASE folds to an ASCII
        one, is always parsed, and so is text holding a credential format's needle.
        """
        # Most documents have no backslash: one memchr answers both escape questions.
        escapes = data.find(b"\\")
        if self._words is None or (escapes != -1 and data.find(b"\\u", escapes) != -1):
            return True
        if not data.isascii() and any(fold in data for fold in _ASCII_FOLDS):
            return True
        lowered = data.lower()
        yaml_or_text = _is_yaml(path) or not is_document(path)
        # An anchored pattern's keys are JSON keys ending in a word: the same pass finds those.
        keys = self._anchored and not yaml_or_text
        if self._scan().may_hold(data, lowered, escapes == -1 and not _is_yaml(path), keys):
            return True
        if yaml_or_text:  # YAML also spells letters as \x..
            return escapes != -1 or any(word in lowered for word in self._words)
        if not self._anchored:
            return any(_word_in_a_key(lowered, word) for word in self._words)
        return False

    def secret_hits(self, data: bytes) -> list[int] | None:
        """Byte offsets in JSON ``data``, sorted, that every secret value's member holds one of.

        A secret value's key, or its text (a credential), holds a needle the
        prefilter checks (:meth:`NeedleScan.hits`): a member of an object, or
        an item, whose text from its key (or its start) to its end holds none
        of these offsets is not secret and holds nothing secret. Each offset
        starts an ASCII needle, so it starts a character. None when offsets
        cannot tell: ``data`` with a ``\\u`` or ``\\/`` escape, or a letter
        the pattern's IGNORECASE folds to an ASCII one, or a key pattern that
        is not anchored literal words.
        """
        if self._words is None or not self._anchored:
            return None
        if not data.isascii() and any(fold in data for fold in _ASCII_FOLDS):
            return None
        escapes = data.find(b"\\")
        if escapes != -1 and (b"\\u" in data or b"\\/" in data):
            return None
        return sorted(set(self._scan().hits(data, data.lower(), escapes == -1, True)))

    def _scan(self) -> NeedleScan:
        """The credential needles and this pattern's key words, in one automaton."""
        if self._needles is None:
            self._needles = NeedleScan(self._words or [], self._tails)
        return self._needles

    def is_secret_file(self, path: str) -> bool:
        return self._files.matches(path)

    def is_secret_value(self, value: str) -> bool:
        """True if a string value is a credential whatever its key (AKIA..., ghp_..., PEM keys).

        The formats are :data:`statesync.sync.secrets.rules.CREDENTIAL_FORMATS`;
        a value already sealed for the store is not one.
        """
        sealed = value.startswith(redaction.SEALED_FAMILY.decode())
        return not sealed and credential_format(value) is not None

    def is_secret_key(self, key: str) -> bool:
        found = self._seen.get(key)
        if found is None:
            found = bool(self._keys.search(key) or self._keys.search(normalise_key(key)))
            self._seen[key] = found
        return found


#: Non-ASCII letters that ``re.IGNORECASE`` matches to ASCII ones, in UTF-8
#: (U+0130 and U+0131 -> i, U+017F long s -> s, U+212A Kelvin sign -> k), so
#: "pa\u017f\u017fword" matches "password".
_ASCII_FOLDS = (b"\xc4\xb0", b"\xc4\xb1", b"\xc5\xbf", b"\xe2\x84\xaa")
_COLON = re.compile(rb"[ \t\r\n]*:")


#: After a key's last word: separators (raw or as JSON escapes), the closing quote, a colon.
#: Only an object key's closing quote is followed by a colon in JSON (a string value
#: never is); the quote is not escaped, since the character before it is a word's
#: letter, a separator or an escape's letter.
_KEY_TAIL = rb'(?:[-_. ]|\\[ntr])*"[ \t\r\n]*:'


def _prefilter_words(pattern: str) -> tuple[list[bytes] | None, list[re.Pattern[bytes]]]:
    """The needles a key matching ``pattern`` contains, and what may follow each one."""
    if pattern == DEFAULT_KEY_PATTERN:
        pairs = list(DEFAULT_KEY_ENDINGS)
    else:
        words = _literal_words(pattern)
        if words is None:
            return None, []
        pairs = [(w, b"") for w in words]
    return [w for w, _ in pairs], [re.compile(c + _KEY_TAIL) for _, c in pairs]


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
    """``(a|b|c)$`` or ``a|b`` -> ``["a", "b", "c"]``; None for anything else.

    A word with separators yields its last alphanumeric run (``api_key`` ->
    ``key``), which any raw spelling of a key normalised to match it contains.
    """
    m = re.fullmatch(r"\^?\(?([A-Za-z0-9_|-]+)\)?\$?", pattern)
    if m is None:
        return None
    runs = [re.findall(r"[a-z0-9]+", w.lower()) for w in m.group(1).split("|")]
    return None if any(not r for r in runs) else [r[-1].encode() for r in runs]


def is_scanned(path: str) -> bool:
    """True if push looks for secret values in ``path`` (JSON, YAML and the line formats)."""
    return redaction.locator_for(path) is not None


def _is_yaml(path: str) -> bool:
    return path.lower().endswith((".yaml", ".yml"))


def parse_document(path: str, data: bytes) -> Any:
    """Parse JSON or YAML by suffix, within the limits of :mod:`statesync.sync.secrets.docspans`.

    A stream of several YAML documents is returned as a list of them.
    Raises ``ValueError``/``UnicodeDecodeError`` if it is not valid and
    :class:`statesync.errors.DocumentLimit` (naming ``path``) when it is past
    the limits on size, nesting or alias expansion.
    """
    documents = docspans.check_limits(path, data)
    text = data.decode("utf-8")
    if _is_yaml(path):
        import yaml  # only for YAML documents (see docspans)

        from statesync.sync.secrets.yamlspans import YAML_LOADER

        try:
            if documents > 1:
                return list(yaml.load_all(text, Loader=YAML_LOADER))
            return yaml.load(text, Loader=YAML_LOADER)
        except yaml.YAMLError as exc:
            raise ValueError(str(exc)) from None
    return json.loads(text)


def redact(
    path: str, data: bytes, policy: SecretPolicy, seal: Sealer | None = None
) -> tuple[bytes, list[str]]:
    """Replace the bytes of each secret value; return the new bytes and the pointers.

    Values become :data:`MARKER`, or ``seal(pointer, source bytes)`` when
    given (an encrypted value, for ``--include-secrets``); every other byte
    stays as written (see :mod:`statesync.sync.secrets.redaction`). JSON and YAML
    are located by :mod:`statesync.sync.secrets.docspans`, the line formats by
    :func:`statesync.sync.secrets.formats.locator_for`; anything else is
    returned as is.

    A document with no secret values is returned byte for byte. A document
    that does not parse but looks as if it holds secret keys raises
    :class:`UnparseableSecretDocument` rather than risk sending them (so does
    a UTF-16/32 document holding secret values); one past a size, nesting or
    alias limit raises :class:`statesync.errors.DocumentLimit` naming the file.
    """
    locator = redaction.locator_for(path)
    if locator is None:
        return data, []
    if _wide_encoding(data) is not None:
        return _refuse_wide(path, data, policy)
    if not policy.may_hold_secret_keys(path, data):
        return data, []
    try:
        return redaction.redact_spans(path, data, policy, seal, locator)
    except (ValueError, UnicodeDecodeError) as exc:
        if _looks_secret(data, policy) or (not is_document(path) and _names_secret(data, policy)):
            what = (
                f"not valid {'YAML' if _is_yaml(path) else 'JSON'}"
                if is_document(path)
                else f"cannot be read to redact it ({_reason(exc)})"
            )
            raise UnparseableSecretDocument(
                f"{path}: {what} and it may hold secret values; fix it or name it in the "
                "secret globs"
            ) from None
        return data, []


def _names_secret(data: bytes, policy: SecretPolicy) -> bool:
    """Any word that names a secret counts: a broken line need not have its ``=``."""
    words = re.findall(r"[\w.-]+", data.decode("utf-8", "replace"))
    return any(policy.is_secret_key(w) for w in words)


def _reason(exc: Exception) -> str:
    # A decoder's message may quote the document's bytes: name only the kind of fault.
    return "not UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc).split(":")[0][:60]


def _wide_encoding(data: bytes) -> str | None:
    """``utf-16``/``utf-32`` (with or without a byte-order mark) as ``json`` detects it."""
    encoding = json.detect_encoding(data[:4])
    return None if encoding.startswith("utf-8") else encoding


def _refuse_wide(path: str, data: bytes, policy: SecretPolicy) -> tuple[bytes, list[str]]:
    """A UTF-16/32 document is scanned as text and kept byte for byte if it holds no secret.

    With secret values it is refused (:class:`UnparseableSecretDocument`):
    redaction splices UTF-8 bytes only, and pushing it whole would send them.
    """
    encoding = _wide_encoding(data) or "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        text = data.decode(encoding, "replace")
    utf8 = text.lstrip("\ufeff").encode()
    try:
        _, found = redact(path, utf8, policy)
    except UnparseableSecretDocument:
        found = ["?"]
    if found:
        raise UnparseableSecretDocument(
            f"{path}: encoded in {encoding.upper()} and holds secret values; save it as UTF-8 "
            "to push it redacted, or name it in the secret globs"
        )
    return data, []


def _looks_secret(data: bytes, policy: SecretPolicy) -> bool:
    text = data.decode("utf-8", "replace")
    keys = re.findall(r"[\"']?([\w.-]+)[\"']?\s*[:=]", text)  # \w: any script, as the pattern
    return any(policy.is_secret_key(k) for k in keys) or policy.is_secret_value(text)
