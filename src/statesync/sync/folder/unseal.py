"""Pull's side of secrets: decrypt what the store carries, keep what this machine has.

Sealed values (``--include-secrets``) are decrypted with the environment's
key; markers get this machine's own value back; with ``skip_secrets`` nothing
is decrypted and local values are kept (a marker where there is none).
Secret files carried by the snapshot are decrypted and written 0600; with
``skip_secrets`` the local ones stay as they are. A missing key is a
:class:`KeyFailure` (exit 6) raised before the folder is touched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from statesync.errors import DocumentLimit
from statesync.fsutil import write_atomic
from statesync.sync.folder.stored import StoredForm
from statesync.sync.folder.workdir import LocalFile
from statesync.sync.secrets import policy as secrets
from statesync.sync.secrets import redaction
from statesync.sync.store.manifest import Entry, Manifest
from statesync.sync.store.repo import Repo
from statesync.sync.store.sealing import EnvKeys, file_generation, value_generation


@dataclass
class Unsealer:
    """Finishes pulled documents and secret files of one manifest."""

    repo: Repo
    manifest: Manifest
    skip: bool
    policy: secrets.SecretPolicy = field(default_factory=secrets.SecretPolicy)

    def keys(self, generation: int | None = None) -> EnvKeys:
        gen = generation if generation is not None else self.manifest.encryption.key_generation()
        return self.repo.keys(self.manifest.env, gen)

    def form(self, policy: secrets.SecretPolicy) -> StoredForm:
        """How local files compare with this manifest's stored bytes."""
        sealed = self.manifest.encryption.secrets and not self.skip
        return StoredForm(policy, self.keys() if sealed else None)

    def carried_secret_files(self) -> set[str]:
        """Secret files this pull writes (none when skipping secrets)."""
        if self.skip:
            return set()
        return {e.path for e in self.manifest.entries if e.kind == "secret-file"}

    def secret_file(self, staged: Path, entry: Entry) -> None:
        blob = staged.read_bytes()
        plain = self.keys(file_generation(blob)).open_file(entry.path, blob)
        write_atomic(staged, plain)

    def document(self, local: Path | None, staged: Path, entry: Entry) -> None:
        """``local``: this machine's copy, None if it has none reachable without a link."""
        mine = (
            local.read_bytes()
            if local is not None and local.is_file() and not local.is_symlink()
            else None
        )
        merged = self.unseal(entry, staged.read_bytes(), mine)
        if merged is not None:
            write_atomic(staged, merged)
        # A document that holds (or will hold) secret values is for this user only.
        os.chmod(staged, entry.mode & 0o600)

    def unseal(self, entry: Entry, pulled: bytes, local: bytes | None) -> bytes | None:
        """Pulled document bytes with secrets opened (or ``local``'s put back); None: as is.

        Only the bytes of the secret values change: a sealed value becomes the
        exact source text it was sealed from; a marker becomes this machine's
        own value, spliced from ``local``'s bytes at the same pointer. Raises
        :class:`statesync.errors.DocumentLimit` past a document limit.
        """
        if not entry.secret_pointers:
            return None
        try:
            theirs = redaction.values_at(entry.path, pulled, entry.secret_pointers, self.policy)
            mine = (
                redaction.values_at(entry.path, local, entry.secret_pointers, self.policy)
                if local is not None
                else {}
            )
        except (ValueError, UnicodeDecodeError):
            return None
        changes = []
        for pointer, spans in theirs.items():
            own = mine.get(pointer)
            for span in spans:
                new = self._value(
                    entry.path,
                    pointer,
                    pulled[span.start : span.end],
                    local[own[-1].start : own[-1].end] if own and local else None,
                )
                if new is not None:
                    changes.append((span, new))
        return redaction.splice(pulled, changes) if changes else None

    def _value(self, path: str, pointer: str, stored: bytes, own: bytes | None) -> bytes | None:
        """The bytes to put in place of ``stored`` (None: keep it)."""
        sealed = redaction.sealed_text(stored)
        generation = value_generation(sealed) if sealed is not None else None
        if sealed is not None and generation is not None and not self.skip:
            return self.keys(generation).open_bytes(path, pointer, sealed)
        if own is not None and not redaction.is_placeholder(own):
            return own
        return redaction.scalar_for(path, secrets.MARKER) if generation is not None else None


def placeholders_in(
    manifest: Manifest, files: Mapping[str, LocalFile], policy: secrets.SecretPolicy
) -> list[str]:
    """The documents of ``manifest`` whose local copy (in ``files``) still holds a placeholder.

    A placeholder is the marker, or a sealed value left closed: this machine has
    no value for that secret. Documents that cannot be read or parsed are not
    named (pull wrote them as the snapshot has them; nothing is guessed).
    """
    out = []
    for e in manifest.entries:
        f = files.get(e.path)
        if not e.secret_pointers or f is None or f.is_link:
            continue
        try:
            data = f.abspath.read_bytes()
            found = redaction.values_at(e.path, data, e.secret_pointers, policy)
        except (OSError, ValueError, UnicodeDecodeError, DocumentLimit):
            continue
        spans = [s for group in found.values() for s in group]
        if any(redaction.is_placeholder(data[s.start : s.end]) for s in spans):
            out.append(e.path)
    return out
