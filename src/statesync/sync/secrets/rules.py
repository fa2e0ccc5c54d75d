"""The default naming of secrets: key spellings, credential formats, secret files.

Keys are matched after :func:`normalise_key` (camelCase split, ``-`` ``.``
and blanks turned into ``_``), so ``awsSecretAccessKey``, ``x-api-key`` and
``AWS_SECRET_ACCESS_KEY`` are one spelling. The default pattern names a key
by its *last* words, so ``access_token`` is a secret and ``token_count``,
``tokenizer``, ``max_tokens``, ``password_policy_url`` and ``secret_name`` are
not. Values are secrets whatever their key when they match one of
:data:`CREDENTIAL_FORMATS` (a small table in the spirit of gitleaks' rules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from statesync.sync.store.sealing import MARKER, SEALED_FAMILY, SEALED_PREFIX

__all__ = ["MARKER", "SEALED_FAMILY", "SEALED_PREFIX"]  # defined by the store format

#: Secret files, with ``.gitignore`` semantics (see :mod:`pathspec`).
DEFAULT_GLOBS = (
    "secrets/",
    "*.secret",
    ".env",
    ".env.*",
    "!.env.example",
    "!.env.sample",
    "**/.aws/credentials",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    "**/.docker/config.json",
    "**/.kube/config",
    "kubeconfig",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "*.ppk",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "id_ecdsa_sk",
    "id_ed25519_sk",
    "credentials.json",
    "service-account*.json",
)

#: Matched (case-insensitively) against the normalised key and the raw key.
DEFAULT_KEY_PATTERN = (
    r"(?:password|passwd|passphrase|secret|token|credentials?|authorization|apikey|privkey"
    r"|connection_?string|connstr)$"
    r"|(?:^|_)(?:pwd|pass|creds|conn_str)$"
    r"|(?:api|private|priv|secret|signing|encryption|master|account|shared|client|auth"
    r"|session|access)_?key$"
    r"|(?:^|_)(?:secret|private)_(?:[a-z0-9]+_)*key$"
)

#: What a key matching :data:`DEFAULT_KEY_PATTERN` ends with, for the prefilter: a
#: needle, then the letters that may complete it (lowercase; separators may follow).
DEFAULT_KEY_ENDINGS = (
    (b"pass", b"(?:word|wd|phrase)?"),
    (b"pwd", b""),
    (b"secret", b""),
    (b"token", b""),
    (b"cred", b"(?:entials?|s)?"),
    (b"authorization", b""),
    (b"key", b""),
    (b"str", b"(?:ing)?"),
)

_SEPARATORS = re.compile(r"[-_. \t\r\n]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def normalise_key(key: str) -> str:
    """``awsSecretAccessKey`` / ``x-api-key`` / ``API.Key`` -> ``aws_Secret_Access_Key`` ...

    Case is kept (the pattern matches case-insensitively, which also folds
    the few non-ASCII letters ``re`` folds); separators become one ``_``,
    leading and trailing ones are dropped.
    """
    return _SEPARATORS.sub("_", _CAMEL.sub("_", key)).strip("_")


@dataclass(frozen=True)
class CredentialFormat:
    """A well-known credential shape.

    ``hint`` finds, in the lowercased document, where a match may start
    (``back`` bytes before the hint); ``needles`` spell out every string
    ``hint`` matches (a finite set, declared next to each format and checked
    against the hint by the tests), so the prefilter finds them all in one
    Aho-Corasick pass. ``exact``, the pattern over bytes, matches there
    wherever the text pattern matches the decoded text, when the bytes hold
    no escape (``\\``) and no folded lines (YAML), so the prefilter may
    rely on it then.
    """

    name: str
    pattern: re.Pattern[str]
    hint: re.Pattern[bytes]
    needles: tuple[bytes, ...]
    exact: re.Pattern[bytes]
    back: int = 0


def _fmt(
    name: str,
    pattern: str,
    hint: bytes,
    needles: tuple[bytes, ...],
    exact: str | None = None,
    back: int = 0,
) -> CredentialFormat:
    """A format; ``needles`` are every string ``hint`` matches, spelt out."""
    tail = exact if exact is not None else pattern.removeprefix(r"\b")
    return CredentialFormat(
        name, re.compile(pattern), re.compile(hint), needles, re.compile(tail.encode()), back
    )


CREDENTIAL_FORMATS = (
    _fmt(
        "aws-access-key-id",
        r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
        rb"a(?:kia|sia|bia|cca|3t)",
        (b"akia", b"asia", b"abia", b"acca", b"a3t"),
    ),
    _fmt(
        "github-token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})",
        rb"g(?:h[pousr]_|ithub_pat_)",
        (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
    ),
    _fmt("gitlab-token", r"\bglpat-[A-Za-z0-9_-]{20,}", rb"glpat-", (b"glpat-",)),
    _fmt("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", rb"xox", (b"xox",)),
    _fmt(
        "slack-webhook",
        r"hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9+/]{20,}",
        rb"hooks\.slack\.com",
        (b"hooks.slack.com",),
    ),
    _fmt("stripe-key", r"\b[sr]k_live_[A-Za-z0-9]{10,}", rb"k_live_", (b"k_live_",), back=1),
    _fmt("google-api-key", r"\bAIza[A-Za-z0-9_-]{35}", rb"aiza", (b"aiza",)),
    _fmt(
        "openai-anthropic-key",
        r"\bsk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_-]{32,}",
        rb"sk-",
        (b"sk-",),
    ),
    _fmt("npm-token", r"\bnpm_[A-Za-z0-9]{36}", rb"npm_", (b"npm_",)),
    _fmt(
        "private-key",
        r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----",
        rb"-----begin",
        (b"-----begin",),
    ),
    _fmt("bearer", r"\b(?i:bearer)[ \t]+[A-Za-z0-9._~+/-]{16,}=*", rb"bearer", (b"bearer",)),
    _fmt(
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        rb"eyj",
        (b"eyj",),
    ),
    _fmt(
        "azure-account-key",
        r"(?i:AccountKey)=[A-Za-z0-9+/]{20,}={0,2}",
        rb"accountkey=",
        (b"accountkey=",),
    ),
    _fmt(
        "azure-account-key",
        r"(?i:SharedAccessKey)=[A-Za-z0-9+/]{20,}={0,2}",
        rb"sharedaccesskey=",
        (b"sharedaccesskey=",),
    ),
    _fmt(
        "url-password",
        r"\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"]+@[^\s@'\"]",
        rb"://",
        (b"://",),
        exact=r"://[^/\s:@'\"]+:[^/\s@'\"]+@",
    ),
)


#: Every format's needles in one pattern: a lowercased ASCII value holding none of
#: them matches no format (each format's match starts with one of its needles).
_ANY_NEEDLE = re.compile(
    "|".join(re.escape(n.decode()) for fmt in CREDENTIAL_FORMATS for n in fmt.needles)
)


def credential_format(value: str) -> str | None:
    """The name of the first credential format ``value`` contains, or None.

    An ASCII value without any format's needle is answered by one search
    (most values of a document: 0.8 µs a value instead of 3.0 for every
    format's pattern). A value that is not ASCII always gets every pattern:
    ``str.lower`` and ``re.IGNORECASE`` fold some non-ASCII letters differently.
    """
    if value.isascii() and _ANY_NEEDLE.search(value.lower()) is None:
        return None
    for fmt in CREDENTIAL_FORMATS:
        if fmt.pattern.search(value):
            return fmt.name
    return None


def is_stored_secret(value: str) -> bool:
    """True for a value as the store keeps a secret: the marker or a sealed value."""
    return value == MARKER or value.startswith(SEALED_FAMILY)
