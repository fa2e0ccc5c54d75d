"""Where secret values sit in a document's bytes: the contract between locators and redaction.

A *locator* knows one document format (JSON, YAML, ``KEY=value``, INI, TOML,
JSON lines). Given a document's exact bytes and the secret policy, it returns
the byte spans of the secret values, each with the JSON pointer that names
it. Redaction and restoration splice only those bytes; every other byte of the
user's document stays as written (ARCHITECTURE.md §7: a document is never
re-serialised).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class KeyPolicy(Protocol):
    """What a locator asks of the secret policy (:class:`~.policy.SecretPolicy` is one)."""

    def may_hold_secret_keys(self, path: str, data: bytes) -> bool:
        """False only when no key of ``data`` can be secret and no value is a credential."""
        ...

    def is_secret_key(self, key: str) -> bool:
        """True if a value under ``key`` is secret."""
        ...

    def is_secret_value(self, value: str) -> bool:
        """True if ``value`` is a credential whatever its key."""
        ...

    def secret_hits(self, data: bytes) -> list[int] | None:
        """Sorted offsets of JSON ``data``, one in every secret member (None: cannot tell)."""
        ...


@dataclass(frozen=True)
class Span:
    """One secret value: ``data[start:end]`` is its source text, ``pointer`` its name.

    ``pointer`` is an RFC 6901 JSON pointer into the parsed document (for
    line formats: ``/KEY``, ``/section/key``, ``/<line index>/...``).
    Offsets are byte offsets into the document as given to the locator.
    """

    pointer: str
    start: int
    end: int


class Locator(Protocol):
    """One document format's view of where secret values are."""

    def locate(self, data: bytes, policy: KeyPolicy) -> list[Span]:
        """Spans of every secret value, in document order, never overlapping.

        Raises ``ValueError`` when ``data`` is not a valid document of this
        format, and :class:`statesync.errors.DocumentLimit` when it exceeds
        the limits on size, nesting or alias expansion.
        """
        ...

    def scalar(self, text: str) -> bytes:
        """How a string that stands in for a value is written in this format."""
        ...
