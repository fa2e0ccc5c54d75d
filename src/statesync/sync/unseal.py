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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statesync.sync import secrets
from statesync.sync.manifest import Entry, Manifest
from statesync.sync.repo import Repo
from statesync.sync.sealing import EnvKeys, file_generation, value_generation
from statesync.sync.stored import StoredForm


@dataclass
class Unsealer:
    """Finishes pulled documents and secret files of one manifest."""

    repo: Repo
    manifest: Manifest
    skip: bool

    def keys(self, generation: int | None = None) -> EnvKeys:
        gen = generation if generation is not None else self.manifest.encryption["generation"]
        return self.repo.keys(self.manifest.env, int(gen))

    def form(self, policy: secrets.SecretPolicy) -> StoredForm:
        """How local files compare with this manifest's stored bytes."""
        sealed = bool(self.manifest.encryption.get("secrets")) and not self.skip
        return StoredForm(policy, self.keys() if sealed else None)

    def carried_secret_files(self) -> set[str]:
        """Secret files this pull writes (none when skipping secrets)."""
        if self.skip:
            return set()
        return {e.path for e in self.manifest.entries if e.kind == "secret-file"}

    def secret_file(self, staged: Path, entry: Entry) -> None:
        blob = staged.read_bytes()
        plain = self.keys(file_generation(blob)).open_file(entry.path, blob)
        _write_private(staged, plain)

    def document(self, local: Path | None, staged: Path, entry: Entry) -> None:
        """``local``: this machine's copy, None if it has none reachable without a link."""
        mine = (local.read_bytes() if local is not None and local.is_file()
                and not local.is_symlink() else None)
        merged = self.unseal(entry, staged.read_bytes(), mine)
        if merged is not None:
            _write_private(staged, merged)
        # A document that holds (or will hold) secret values is for this user only.
        os.chmod(staged, entry.mode & 0o600)

    def unseal(self, entry: Entry, pulled: bytes, local: bytes | None) -> bytes | None:
        """Pulled document bytes with secrets opened (or ``local``'s put back); None: as is."""
        try:
            theirs = secrets.parse_document(entry.path, pulled)
            mine = secrets.parse_document(entry.path, local) if local is not None else None
        except (ValueError, UnicodeDecodeError):
            return None
        changed = False
        for pointer in entry.secret_pointers:
            slot = secrets.resolve_pointer(theirs, pointer)
            if slot is None:
                continue
            value = self._value(entry.path, pointer, slot[0][slot[1]], mine)
            if value is not _KEEP:
                slot[0][slot[1]] = value
                changed = True
        return secrets.dump_document(entry.path, theirs) if changed else None

    def _value(self, path: str, pointer: str, stored: Any, mine: Any) -> Any:
        generation = value_generation(stored)
        if generation is not None and not self.skip:
            return self.keys(generation).open_value(path, pointer, stored)
        own = secrets.resolve_pointer(mine, pointer) if mine is not None else None
        if own is not None:
            value = own[0][own[1]]
            if value != secrets.MARKER and value_generation(value) is None:
                return value
        return secrets.MARKER if generation is not None else _KEEP


_KEEP = object()


def _write_private(path: Path, data: bytes) -> None:
    os.chmod(path, 0o600)
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
