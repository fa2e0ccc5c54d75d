"""How a snapshot is sealed: the manifest's ``encryption`` field as a value.

On the wire (a manifest, a bundle's metadata, the folder's record) the field
is ``{}`` for a plaintext snapshot, else ``{"secrets": bool, "all": bool,
"generation": int}``; inside the code it is an :class:`Encryption`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from statesync.errors import IntegrityError
from statesync.sync.store import fields


@dataclass(frozen=True)
class Encryption:
    """``secrets``: secret values and files are sealed (``--include-secrets``);
    ``everything``: chunks and the manifest are sealed too (``--encrypt all``);
    ``generation``: the environment's key generation that sealed them.
    """

    secrets: bool = False
    everything: bool = False
    generation: int | None = None

    @property
    def encrypted(self) -> bool:
        """True unless this is the plaintext field (``{}`` on the wire)."""
        return self != PLAINTEXT

    def same_kind(self, other: Encryption) -> bool:
        """True if both seal the same things (generations may differ)."""
        return (self.secrets, self.everything) == (other.secrets, other.everything)

    def key_generation(self) -> int:
        """The generation that sealed this snapshot; :class:`IntegrityError` if none is named."""
        if self.generation is None:
            raise IntegrityError("the snapshot's encryption field names no key generation")
        return self.generation

    def to_json(self) -> dict[str, Any]:
        """The wire form: ``{}``, or all three keys in this order."""
        if not self.encrypted:
            return {}
        return {"secrets": self.secrets, "all": self.everything, "generation": self.generation}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], where: str = "encryption") -> Encryption:
        """Read the wire form; :class:`IntegrityError` if the generation is not an integer >= 1.

        As before the field became a type, the flags are read by truth value
        and keys other than the three are ignored.
        """
        gen = doc.get("generation")
        if gen is not None:
            gen = fields.integer(gen, where, "encryption.generation", 1)
        return cls(bool(doc.get("secrets")), bool(doc.get("all")), gen)


PLAINTEXT = Encryption()
