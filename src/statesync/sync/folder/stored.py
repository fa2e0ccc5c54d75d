"""The stored form of local files: what push would write, so pull and status compare alike.

Documents have their secret values replaced (by the marker, or sealed with
the environment's key under ``--include-secrets``); secret files are sealed
whole; everything else is stored as it is. Sealing is deterministic, so the
digest of a local file's stored form equals the snapshot's digest exactly
when the content is the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from statesync.fsutil import sha256_file
from statesync.sync.folder.workdir import LocalFile
from statesync.sync.secrets import policy as secrets
from statesync.sync.store import codec
from statesync.sync.store.builder import symlink_entry
from statesync.sync.store.sealing import EnvKeys


@dataclass
class StoredForm:
    """Turns local bytes into stored bytes; ``keys`` only when secrets are included."""

    policy: secrets.SecretPolicy
    keys: EnvKeys | None = None

    def document(self, path: str, data: bytes) -> tuple[bytes, list[str]]:
        """Redact (or seal) secret values; raises ``UnparseableSecretDocument``."""
        keys = self.keys
        seal = None
        if keys is not None:

            def seal(pointer: str, raw: bytes) -> str:
                return keys.seal_bytes(path, pointer, raw)

        return secrets.redact(path, data, self.policy, seal)

    def secret_file(self, path: str, data: bytes) -> bytes:
        assert self.keys is not None, "secret files are stored only with keys"
        return self.keys.seal_file(path, data)

    def digest(self, f: LocalFile) -> str:
        """The digest ``f`` would have in a snapshot."""
        if f.is_link:
            return symlink_entry(f.path, os.readlink(f.abspath)).digest
        if self.keys is not None and self.policy.is_secret_file(f.path):
            return codec.sha256_hex(self.secret_file(f.path, f.abspath.read_bytes()))
        if secrets.is_scanned(f.path) and f.st.st_size <= secrets.MAX_PARSE:
            try:
                data, _ = self.document(f.path, f.abspath.read_bytes())
                return codec.sha256_hex(data)
            except secrets.UnparseableSecretDocument:
                pass
        return sha256_file(f.abspath)
