"""Promotion with sealed secrets: FROM's files, TO's own secrets, never in the clear.

Sealed values and secret files are bound to their environment, so FROM's
cannot simply be copied to TO. For each secret (document value or secret
file) the promoted snapshot keeps TO's own sealed secret when TO's head has
one at the same place; otherwise FROM's secret is decrypted and re-sealed
for TO when this machine holds TO's key, or left to TO's machines (a marker,
or a secret-file name) when it does not. Under ``--encrypt all`` (on either
side) every file is re-sealed with TO's key. Plaintext exists only in memory.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from statesync.errors import KeyFailure
from statesync.sync.secrets import policy as secrets
from statesync.sync.secrets import redaction
from statesync.sync.store.builder import SnapshotBuilder
from statesync.sync.store.chunkindex import load_index
from statesync.sync.store.content import read_entry
from statesync.sync.store.encryption import PLAINTEXT, Encryption
from statesync.sync.store.manifest import Entry, Manifest
from statesync.sync.store.repo import Repo
from statesync.sync.store.sealing import EnvKeys, file_generation, value_generation


@dataclass
class Resealed:
    """Entries fit for TO, the secret files left to TO's machines, and the encryption field."""

    entries: list[Entry]
    secret_files: list[str]
    encryption: Encryption = PLAINTEXT


def needs_resealing(source: Manifest, target: Manifest | None) -> bool:
    return source.encryption.encrypted or (target is not None and target.encryption.encrypted)


def reseal(repo: Repo, source: Manifest, target: Manifest | None, dst_env: str) -> Resealed:
    """FROM's entries made fit for TO (see the module docstring).

    Raises :class:`KeyFailure` when FROM's sealed content cannot be opened, or
    TO is fully encrypted and its key is not available here.
    """
    work = _Work(repo, source, target, dst_env)
    entries = [e2 for e in source.entries if (e2 := work.entry(e)) is not None]
    work.builder.finish()
    return Resealed(
        entries, sorted(set(source.secret_files) | set(work.left_out)), work.encryption()
    )


class _Work:
    def __init__(self, repo: Repo, source: Manifest, target: Manifest | None, dst: str) -> None:
        self.repo, self.source, self.dst = repo, source, dst
        self.theirs = target.by_path() if target else {}
        try:
            self.keys: EnvKeys | None = repo.keys(dst, None)
        except KeyFailure:
            self.keys = None
        self.everything = source.encryption.everything or (
            target is not None and target.encryption.everything
        )
        if self.everything and self.keys is None:
            raise KeyFailure(f"{dst} is fully encrypted: promoting into it needs its key here")
        self.builder = SnapshotBuilder(repo, keys=self.keys if self.everything else None)
        self.index = load_index(repo)
        self.left_out: list[str] = []
        self.sealed_any = False

    def encryption(self) -> Encryption:
        if self.keys is None or not (self.sealed_any or self.everything):
            return PLAINTEXT
        return Encryption(
            secrets=self.sealed_any, everything=self.everything, generation=self.keys.generation
        )

    def _src_keys(self, generation: int) -> EnvKeys:
        return self.repo.keys(self.source.env, generation)

    def entry(self, e: Entry) -> Entry | None:
        if e.kind == "secret-file":
            return self._secret_file(e)
        if e.secret_pointers and e.kind == "document":
            return self._document(e)
        if self.everything:
            return self._copy(e, read_entry(self.repo, self.index, e))
        return e

    def _copy(self, e: Entry, data: bytes, pointers: list[str] | None = None) -> Entry:
        if e.kind == "symlink":
            return e
        new = self.builder.add_stream(e.path, io.BytesIO(data), e.mode)
        new.kind, new.secret_pointers = e.kind, list(pointers or [])
        return new

    def _secret_file(self, e: Entry) -> Entry | None:
        own = self.theirs.get(e.path)
        if own is not None and own.kind == "secret-file":
            self.sealed_any = True
            return own  # TO's own secret file stays (sealed for TO already)
        if self.keys is None:
            self.left_out.append(e.path)
            return None
        blob = read_entry(self.repo, self.index, e)
        plain = self._src_keys(file_generation(blob)).open_file(e.path, blob)
        self.sealed_any = True
        return self._copy(e, self.keys.seal_file(e.path, plain))

    def _document(self, e: Entry) -> Entry:
        """FROM's stored document with each secret value's bytes made fit for TO (spliced)."""
        data = read_entry(self.repo, self.index, e)
        own = self._own_document(e.path)
        default = secrets.SecretPolicy()
        mine = (
            redaction.values_at(e.path, own, e.secret_pointers, default) if own is not None else {}
        )
        changes = []
        for pointer, spans in redaction.values_at(e.path, data, e.secret_pointers, default).items():
            theirs = mine.get(pointer)
            own_value = own[theirs[-1].start : theirs[-1].end] if theirs and own else None
            for span in spans:
                new = self._value(e.path, pointer, data[span.start : span.end], own_value)
                if new is not None:
                    changes.append((span, new))
        return self._copy(e, redaction.splice(data, changes), e.secret_pointers)

    def _own_document(self, path: str) -> bytes | None:
        own = self.theirs.get(path)
        if own is None or own.kind != "document" or not own.secret_pointers:
            return None
        return read_entry(self.repo, self.index, own)

    def _value(self, path: str, pointer: str, value: bytes, own: bytes | None) -> bytes | None:
        """The bytes for one secret value in TO (None: FROM's bytes stay, a marker)."""
        if own is not None and redaction.sealed_text(own) is not None:
            self.sealed_any = True
            return own  # TO's own sealed secret stays
        sealed = redaction.sealed_text(value)
        generation = value_generation(sealed) if sealed is not None else None
        if sealed is None or generation is None:
            return None  # a marker: TO's machines put their own value back
        if self.keys is None:
            return redaction.scalar_for(path, secrets.MARKER)
        plain = self._src_keys(generation).open_bytes(path, pointer, sealed)
        self.sealed_any = True
        return redaction.scalar_for(path, self.keys.seal_bytes(path, pointer, plain))
