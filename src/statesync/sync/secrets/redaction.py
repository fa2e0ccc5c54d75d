"""Redaction and restoration by splicing: only the bytes of secret values change.

:func:`redact` asks the document's locator (:mod:`statesync.sync.secrets.docspans`
for JSON/YAML, :func:`statesync.sync.secrets.formats.locator_for` for the
line formats) where the secret values are, and replaces exactly those bytes
with the marker or a sealed value; :func:`values_at` finds the values at
given pointers so pull, rebase and promotion can put other bytes in their
place with :func:`splice`. A document is never re-serialised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from statesync.errors import DocumentLimit
from statesync.sync.secrets import docspans
from statesync.sync.secrets.rules import MARKER as MARKER
from statesync.sync.secrets.spans import Locator, Span

if TYPE_CHECKING:
    from statesync.sync.secrets.spans import KeyPolicy

#: Every sealed value string starts with this (``v1``: a JSON value, ``v2``: exact bytes).
SEALED_FAMILY = b"statesync:enc:"

#: Seals one secret value: ``(pointer, its exact source bytes) -> sealed string``.
Sealer = Callable[[str, bytes], str]


def locator_for(path: str) -> Locator | None:
    """The locator of ``path``'s format, or None for files that hold no secret values."""
    lower = path.lower()
    if lower.endswith((".json", ".tfstate")):  # Terraform state is JSON (statesync serve)
        return docspans.JsonLocator()
    if lower.endswith((".yaml", ".yml")):
        return docspans.YamlLocator()
    # Imported here: the line formats' module may import the policy, which imports this one.
    from statesync.sync.secrets import formats as secret_formats

    return secret_formats.locator_for(path)


def unquoted(raw: bytes) -> bytes:
    """A scalar's text without one pair of surrounding quotes."""
    text = raw.strip()
    if len(text) >= 2 and text[:1] in (b'"', b"'") and text[-1:] == text[:1]:
        return text[1:-1]
    return text


def is_placeholder(raw: bytes) -> bool:
    """True if a value's source text is the marker or a sealed value (nothing to share)."""
    text = unquoted(raw)
    return text == MARKER.encode() or (text.startswith(SEALED_FAMILY) and b" " not in text)


def sealed_text(raw: bytes) -> str | None:
    """The sealed value string a value's source text holds, or None."""
    text = unquoted(raw)
    if not text.startswith(SEALED_FAMILY) or not text.isascii():
        return None
    return text.decode()


def splice(data: bytes, replacements: Iterable[tuple[Span, bytes]]) -> bytes:
    """``data`` with each span's bytes replaced (spans must not overlap)."""
    out, at = [], 0
    for span, new in sorted(replacements, key=lambda r: r[0].start):
        out += [data[at : span.start], new]
        at = span.end
    out.append(data[at:])
    return b"".join(out)


def named(path: str, exc: DocumentLimit) -> DocumentLimit:
    """The same limit, with the file's name in front (locators do not know it)."""
    text = str(exc)
    return exc if text.startswith(f"{path}:") else DocumentLimit(f"{path}: {text}")


def redact_spans(
    path: str, data: bytes, policy: KeyPolicy, seal: Sealer | None, locator: Locator
) -> tuple[bytes, list[str]]:
    """Splice the marker (or ``seal``'s result) over each secret value ``locator`` finds.

    A value that already is the marker or sealed stays as it is (this
    machine has no value to share) but its pointer is still listed. Raises
    ``ValueError``/``UnicodeDecodeError`` for an invalid document and
    :class:`DocumentLimit` (naming ``path``) past a limit.
    """
    try:
        spans = locator.locate(data, policy)
    except DocumentLimit as exc:
        raise named(path, exc) from None
    if not spans:
        return data, []
    replacements = []
    for span in spans:
        raw = data[span.start : span.end]
        if not is_placeholder(raw):
            text = seal(span.pointer, raw) if seal is not None else MARKER
            replacements.append((span, locator.scalar(text)))
    pointers = list(dict.fromkeys(s.pointer for s in spans))
    return splice(data, replacements), pointers


def values_at(
    path: str, data: bytes, pointers: Iterable[str], policy: KeyPolicy
) -> dict[str, list[Span]]:
    """Spans of the values at ``pointers`` (each occurrence, for duplicate keys).

    JSON and YAML are looked up by pointer; other formats through their
    locator with ``policy``. Raises
    ``ValueError``/``UnicodeDecodeError`` for an invalid document and
    :class:`DocumentLimit` past a limit.
    """
    wanted = set(pointers)
    locator = locator_for(path)
    if locator is None or not wanted:
        return {}
    try:
        if isinstance(locator, (docspans.JsonLocator, docspans.YamlLocator)):
            spans = locator.at(data, wanted)
        else:
            spans = [s for s in locator.locate(data, policy) if s.pointer in wanted]
    except DocumentLimit as exc:
        raise named(path, exc) from None
    out: dict[str, list[Span]] = {}
    for span in spans:
        out.setdefault(span.pointer, []).append(span)
    return out


def refuse_large_secrets(path: str, file: Path, policy: KeyPolicy) -> None:
    """Raise :class:`DocumentLimit` if a document too large to parse may hold secret keys.

    Read in blocks (overlapping, so a key cut by a block's end is still
    seen): memory stays bounded whatever the size.
    """
    overlap = 64 * 1024
    tail = b""
    with open(file, "rb") as fh:
        while block := fh.read(4 * 1024 * 1024):
            if policy.may_hold_secret_keys(path, tail + block):
                raise DocumentLimit(
                    f"{path}: larger than {docspans.MAX_DOCUMENT // (1024 * 1024)} MiB and it "
                    "may hold secret values; name it in the secret globs or split it"
                )
            tail = block[-overlap:]


def scalar_for(path: str, text: str) -> bytes:
    """How ``text`` (the marker or a sealed value) is written in ``path``'s format."""
    locator = locator_for(path)
    return locator.scalar(text) if locator is not None else docspans.scalar(text)
