"""Redaction and restoration of line-format documents by splicing located spans.

Only the bytes of each secret value change. A sealed value
(``--include-secrets``) seals the value's exact source text (quotes and
all), so the machine that opens it puts back the bytes that were written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from statesync.sync.secret_rules import MARKER, is_stored_secret
from statesync.sync.spans import Locator, Span

if TYPE_CHECKING:
    from statesync.sync.secrets import SecretPolicy

#: ``(pointer, source text) -> stored value`` (the marker or a sealed string).
Sealer = Callable[[str, Any], Any]
#: ``(pointer, stored string) -> source text``, or None to keep a local value / the marker.
Opener = Callable[[str, str], str | None]


def stored_text(source: bytes) -> str:
    """The string a span's source spells when it is a marker or a sealed value."""
    text = source.decode("utf-8", "replace")
    for quote in ('"""', "'''", '"', "'"):
        if len(text) >= 2 * len(quote) and text.startswith(quote) and text.endswith(quote):
            return text[len(quote):-len(quote)]
    return text


def redact_spans(locator: Locator, data: bytes, policy: SecretPolicy,
                 seal: Sealer | None) -> tuple[bytes, list[str]]:
    """``data`` with every secret span replaced; the pointers, in document order.

    Raises ``ValueError`` (not valid in its format) or ``DocumentLimit``.
    """
    spans = locator.locate(data, policy)
    pieces: list[bytes] = []
    last = 0
    for span in spans:
        source = data[span.start:span.end]
        if is_stored_secret(stored_text(source)):
            replacement = source  # nothing of this machine's to share
        else:
            stored = seal(span.pointer, source.decode()) if seal else MARKER
            replacement = locator.scalar(str(stored))
        pieces += [data[last:span.start], replacement]
        last = span.end
    pieces.append(data[last:])
    return b"".join(pieces), [s.pointer for s in spans]


def restore_spans(locator: Locator, pulled: bytes, local: bytes | None, policy: SecretPolicy,
                  pointers: list[str], opener: Opener) -> bytes | None:
    """Pulled bytes with sealed values opened or this machine's values put back; None: as is.

    A value is opened when ``opener`` can; otherwise ``local``'s own source at
    the same pointer is put back; otherwise the marker stays.
    """
    try:
        theirs = locator.locate(pulled, policy)
        mine = _sources(locator, local, policy) if local is not None else {}
    except ValueError:
        return None
    wanted = set(pointers)
    pieces: list[bytes] = []
    last = 0
    for span in theirs:
        stored = stored_text(pulled[span.start:span.end])
        if span.pointer not in wanted or not is_stored_secret(stored):
            continue
        opened = opener(span.pointer, stored) if stored != MARKER else None
        own = mine.get(span.pointer)
        replacement = opened.encode() if opened is not None else own
        if replacement is None or is_stored_secret(stored_text(replacement)):
            continue
        pieces += [pulled[last:span.start], replacement]
        last = span.end
    if not pieces:
        return None
    pieces.append(pulled[last:])
    return b"".join(pieces)


def _sources(locator: Locator, data: bytes, policy: SecretPolicy) -> dict[str, bytes]:
    spans: list[Span] = locator.locate(data, policy)
    return {s.pointer: data[s.start:s.end] for s in spans}
