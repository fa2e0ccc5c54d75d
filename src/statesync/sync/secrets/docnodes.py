"""The values of a document as nodes: pointer, character positions, and the limits.

Shared by the JSON scanner (:mod:`statesync.sync.secrets.jsonspans`) and the YAML
walk (:mod:`statesync.sync.secrets.yamlspans`); :mod:`statesync.sync.secrets.docspans`
turns nodes into the byte spans of :mod:`statesync.sync.secrets.spans`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from statesync.errors import DocumentLimit
from statesync.sync.secrets.spans import Span

MAX_DOCUMENT = 64 * 1024 * 1024
MAX_DEPTH = 256
MAX_NODES = 1_000_000


@dataclass(frozen=True)
class Node:
    """One value of a document: ``text[start:end]`` (characters) at ``pointer``.

    ``key`` is the mapping key that holds it (None for items and roots);
    ``string`` its value when it is a string scalar; ``null`` when it is null;
    ``whole`` False for YAML block collections (redacted by their leaves).
    """

    pointer: str
    key: Any
    start: int
    end: int
    string: str | None = None
    null: bool = False
    whole: bool = True


def check_size(data: bytes) -> None:
    if len(data) > MAX_DOCUMENT:
        raise DocumentLimit(f"larger than {MAX_DOCUMENT // (1024 * 1024)} MiB")


def too_deep() -> DocumentLimit:
    return DocumentLimit(f"nested deeper than {MAX_DEPTH} levels")


def outermost(nodes: Iterable[Node]) -> list[Node]:
    """Nodes in document order without those inside another one (or repeated)."""
    out: list[Node] = []
    for node in sorted(nodes, key=lambda n: (n.start, -n.end)):
        if out and node.start < out[-1].end:
            continue
        if out and node.start == out[-1].start and node.end == out[-1].end:
            continue
        out.append(node)
    return out


def to_spans(text: str, nodes: list[Node]) -> list[Span]:
    """Character positions of ``nodes`` (in document order) as byte spans of ``text``."""
    if text.isascii():
        return [Span(n.pointer, n.start, n.end) for n in nodes]
    marks = sorted({i for n in nodes for i in (n.start, n.end)})
    offsets: dict[int, int] = {}
    at = done = 0
    for mark in marks:
        done += len(text[at:mark].encode("utf-8", "surrogatepass"))
        offsets[mark] = done
        at = mark
    return [Span(n.pointer, offsets[n.start], offsets[n.end]) for n in nodes]
