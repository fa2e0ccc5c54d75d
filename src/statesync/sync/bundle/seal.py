"""Import's side of sealed secrets: sealed again for the target, or left out with a note.

A bundle exported from an environment that includes secrets carries them as
they are stored: sealed value strings inside documents and the sealed bytes
of secret files (kind ``secret-file``), bound by their associated data to the
source store, environment and path, so they cannot simply be copied. On import:

* when the bundle comes from this store and the importer holds both the
  source's and the target's keys, each sealed value and file is opened with
  the source's key and sealed again for the target environment (its newest
  key generation); no plaintext is ever written, and the snapshot includes
  secrets from then on;
* otherwise (another store, a target without keys, no identity here that
  opens them) they are left out: a value becomes the marker, a secret file is
  kept by name only, and the result lists each one with the reason.

A sealed value that was damaged or moved is an :class:`IntegrityError`, as on pull.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from statesync import jsonpointer
from statesync.errors import KeyFailure
from statesync.sync.bundle.schema import Bundle
from statesync.sync.secrets import policy as secrets
from statesync.sync.secrets import redaction
from statesync.sync.secrets.policy import MARKER, Sealer
from statesync.sync.store.encryption import PLAINTEXT, Encryption
from statesync.sync.store.manifest import Manifest
from statesync.sync.store.repo import Repo
from statesync.sync.store.sealing import EnvKeys, file_generation, value_generation


def carries_sealed(bundle: Bundle) -> bool:
    """True if the bundle says it holds sealed secrets (or carries a sealed secret file)."""
    enc = bundle.metadata.get("encryption")
    return (isinstance(enc, dict) and bool(enc.get("secrets"))) or any(
        c.kind == "secret-file" for c in bundle.components
    )


@dataclass
class Resealer:
    """Seals one bundle's secrets for ``target`` (None: nothing can be sealed here)."""

    repo: Repo
    source_store: str
    source_env: str
    target: EnvKeys | None
    reason: str = ""
    left_out: list[str] = field(default_factory=list)
    sealed: int = 0

    @classmethod
    def for_import(cls, repo: Repo, bundle: Bundle, env: str, base: Manifest | None) -> Resealer:
        """Decide for an import into ``env`` over ``base``.

        Raises :class:`KeyFailure` if ``base`` includes secrets and no key is
        available (as push does); a bundle's own sealed secrets without a
        target key are left out instead.
        """
        source = (str(bundle.metadata.get("store_id", "")), str(bundle.metadata.get("env", "")))
        target, reason = None, ""
        if (base is not None and base.encryption.secrets) or carries_sealed(bundle):
            try:
                target = repo.keys(env, None)
            except KeyFailure as exc:
                if base is not None and base.encryption.secrets:
                    raise
                reason = f"no key to seal them for {env}: {exc}"
        if target is not None and source[0] != repo.store_id:
            reason = "they are sealed for another store"
        return cls(repo, source[0], source[1], target, reason)

    def _source(self, generation: int) -> EnvKeys | None:
        """The source's keys, or None (with :attr:`reason` set) if they cannot be had here."""
        if self.target is None or self.source_store != self.repo.store_id:
            return None
        try:
            return self.repo.keys(self.source_env, generation)
        except KeyFailure as exc:
            self.reason = f"no key here opens {self.source_env}'s secrets: {exc}"
            return None

    def value_sealer(self, path: str) -> Sealer:
        """The ``seal`` callback for redacting one imported document's values in clear.

        With a target key they are sealed for it (as ``push --include-secrets``
        would); without one they become the marker, as ever.
        """

        def seal(pointer: str, raw: bytes) -> str:
            if self.target is None or redaction.is_placeholder(raw):
                return MARKER
            self.sealed += 1
            return self.target.seal_bytes(path, pointer, raw)

        return seal

    def document(self, path: str, data: bytes) -> tuple[bytes, list[str]]:
        """``data`` with every sealed value sealed for the target (or the marker); and where.

        Only the sealed values' bytes change (the document is never
        re-serialised). Raises :class:`IntegrityError` for a sealed value that
        does not open, :class:`DocumentLimit` past a document limit.
        """
        if redaction.SEALED_FAMILY not in data:
            return data, []
        try:
            doc = secrets.parse_document(path, data)
            pointers = [pointer for _, _, pointer in _sealed_slots(doc, "")]
            spans = redaction.values_at(path, data, pointers, secrets.SecretPolicy())
        except (ValueError, UnicodeDecodeError):
            return data, []  # not a document: redaction decides what it may hold
        changes = []
        for pointer, found in spans.items():
            for span in found:
                sealed = redaction.sealed_text(data[span.start : span.end])
                if sealed is not None:
                    new = self._value(path, pointer, sealed)
                    changes.append((span, redaction.scalar_for(path, new)))
        return redaction.splice(data, changes), list(spans)

    def _value(self, path: str, pointer: str, sealed: str) -> str:
        keys = self._source(int(value_generation(sealed) or 0))
        if keys is None or self.target is None:
            self.left_out.append(f"{path}#{pointer}")
            return MARKER
        self.sealed += 1
        return self.target.seal_bytes(path, pointer, keys.open_bytes(path, pointer, sealed))

    def secret_file(self, path: str, blob: bytes) -> bytes | None:
        """A secret file's sealed bytes for the target, or None if it is left out."""
        keys = self._source(file_generation(blob))
        if keys is None or self.target is None:
            self.left_out.append(path)
            return None
        self.sealed += 1
        return self.target.seal_file(path, keys.open_file(path, blob))

    def encryption(self, base: Manifest | None) -> Encryption:
        """The new snapshot's ``encryption`` field."""
        if self.target is None or not (self.sealed or (base and base.encryption.secrets)):
            return base.encryption if base else PLAINTEXT
        return Encryption(secrets=True, everything=False, generation=self.target.generation)

    def note(self) -> str:
        """One line for the user about what was left out, and why ('' if nothing was)."""
        if not self.left_out:
            return ""
        return (
            f"{len(self.left_out)} sealed secret(s) left out ({self.reason or 'no key'}): "
            "values are stored as the marker, secret files by name only"
        )


def _sealed_slots(node: Any, pointer: str) -> Iterator[tuple[Any, Any, str]]:
    """``(container, key, JSON pointer)`` of every sealed value string in a parsed document."""
    items: Any = (
        node.items()
        if isinstance(node, dict)
        else (enumerate(node) if isinstance(node, list) else ())
    )
    for key, value in items:
        here = jsonpointer.join(pointer, key)
        if isinstance(value, str) and value_generation(value) is not None:
            yield node, key, here
        else:
            yield from _sealed_slots(value, here)
