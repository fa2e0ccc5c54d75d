"""Data keys per environment and key generation, wrapped for every recipient.

Each environment has key generations 1, 2, ...; each generation has one
random 32-byte data key and one keyring object in the store
(``keys/<env>/gen-<n>.json``, see :mod:`statesync.sync.store.layout`), created
only-if-absent and changed only with a conditional update::

    {"format": "statesync-keyring", "version": 1, "store_id": "...",
     "env": "dev", "generation": 1, "created_at": "...",
     "key_check": "<HKDF(data key, 'statesync key-check'), 16 bytes hex>",
     "stanzas": [{"id": "passphrase:team", "type": "passphrase",
                  "params": {...public...}, "wrapped": "<base64>"}, ...]}

When the user has a signing key (``repo.signer``) the keyring also carries
``"signature": {"public": "ed25519:...", "sig": "..."}`` over every other
field; a signature that does not verify is an integrity error, and the local
trust policy (``repo.trust``) decides about unsigned or untrusted keyrings just
as it does for refs, so a store writer cannot slip in a generation whose data
key it chose where the policy asks for trusted signers.

Any one recipient can unwrap the data key. Each wrapped key is bound to
(store id, env, generation, stanza id), and every unwrapped key must match
``key_check``, so a stanza moved between keyrings, or one that yields a
different key than the others, is an integrity error (exit 4). A key that
nobody here can unwrap is a :class:`KeyFailure` (exit 6).

New writes use the newest generation; older generations keep being read.
``rotate`` makes a new generation. ``remove_recipient`` deletes that
recipient's stanzas from every generation, which stops it from unwrapping
through this store from now on; it cannot take back a data key the recipient
already unwrapped (or a copy of an old keyring), so only generations made by
a later ``rotate`` are closed to it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from statesync.backends.base import CREATE, Update, Version
from statesync.crypto import aead
from statesync.crypto.providers.base import Provider, Stanza, WrapContext, check_data_key
from statesync.crypto.signing import Signer, verify
from statesync.errors import (
    AlreadyExists,
    ConflictError,
    IntegrityError,
    KeyFailure,
    KeyringMissing,
    KeysExist,
    LastRecipient,
    NotFound,
    PreconditionFailed,
    UsageError,
)
from statesync.optimistic import AGAIN, Again, retry_conditional
from statesync.sync.store import fields, layout
from statesync.sync.store.repo import Repo

log = logging.getLogger(__name__)

FORMAT = "statesync-keyring"
FORMAT_VERSION = 1
_UPDATE_ATTEMPTS = 5


def key_check(key: bytes) -> str:
    """The keyring's public commitment to its data key."""
    return aead.derive(key, "statesync key-check", 16).hex()


@dataclass
class Keyring:
    """One generation's keyring as stored (no secret in it)."""

    store_id: str
    env: str
    generation: int
    created_at: str
    key_check: str
    stanzas: list[Stanza]
    signer: str | None = None  # public key of a verified signature, if signed
    signature: str | None = None

    @property
    def key(self) -> str:
        return layout.keyring_key(self.env, self.generation)

    def context(self, stanza_id: str) -> WrapContext:
        return WrapContext(self.store_id, self.env, self.generation, stanza_id)

    def _doc(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "store_id": self.store_id,
            "env": self.env,
            "generation": self.generation,
            "created_at": self.created_at,
            "key_check": self.key_check,
            "stanzas": [s.to_json() for s in self.stanzas],
        }

    def payload(self) -> bytes:
        """The bytes a signature covers: every field but the signature itself."""
        return b"statesync-keyring-v1\n" + json.dumps(self._doc(), sort_keys=True).encode()

    def to_bytes(self, signer: Signer | None = None) -> bytes:
        """The stored form, signed by ``signer`` when one is given."""
        doc = self._doc()
        if signer is not None:
            doc["signature"] = {"public": signer.public, "sig": signer.sign(self.payload())}
        return json.dumps(doc, indent=2).encode() + b"\n"

    @classmethod
    def parse(cls, body: bytes, store_id: str, env: str, generation: int) -> Keyring:
        """Parse and check that the keyring is the one its name promises (else IntegrityError)."""
        where = layout.keyring_key(env, generation)
        try:
            doc = fields.mapping(json.loads(body), where, "keyring")
        except ValueError:
            raise IntegrityError(f"{where}: malformed keyring") from None
        if doc.get("format") != FORMAT or doc.get("version") != FORMAT_VERSION:
            raise IntegrityError(f"{where}: not a keyring this statesync can read")
        sig = doc.get("signature")
        sig = fields.mapping(sig, where, "signature") if sig is not None else {}
        stanzas = doc.get("stanzas")
        if not isinstance(stanzas, list):
            raise fields.bad(where, "stanzas", "a list")
        ring = cls(
            fields.text(doc.get("store_id"), where, "store_id"),
            fields.text(doc.get("env"), where, "env"),
            fields.integer(doc.get("generation"), where, "generation", 1),
            fields.text(doc.get("created_at"), where, "created_at"),
            fields.text(doc.get("key_check"), where, "key_check"),
            [Stanza.from_json(s, where) for s in stanzas],
            fields.text(sig.get("public"), where, "signature.public") if sig else None,
            fields.text(sig.get("sig"), where, "signature.sig") if sig else None,
        )
        if ring.signer is not None and not verify(ring.signer, ring.payload(), str(ring.signature)):
            raise IntegrityError(f"{where}: signature does not match (tampered or forged)")
        if (ring.store_id, ring.env, ring.generation) != (store_id, env, generation):
            raise IntegrityError(
                f"{where}: keyring belongs to another store, environment or "
                "generation (moved or replayed)"
            )
        if not ring.stanzas:
            raise IntegrityError(f"{where}: keyring has no recipients")
        return ring


class KeyService:
    """Data keys of one store, unwrapped with this user's ``identities``.

    Unwrapped keys are cached for the life of the service (in memory only).
    """

    def __init__(self, repo: Repo, identities: Sequence[Provider] = ()) -> None:
        self.repo = repo
        self.identities = list(identities)
        self._keys: dict[tuple[str, int], bytes] = {}
        # (stanza id, identity) pairs proven by a successful unwrap, for rotate.
        self._proven: dict[str, Provider] = {}

    # --- reading -------------------------------------------------------------

    def generations(self, env: str) -> list[int]:
        """Every key generation of ``env``, oldest first."""
        found = (
            layout.keyring_generation_from_key(env, meta.key)
            for meta in self.repo.backend.list(layout.keyring_prefix(env))
        )
        return sorted(g for g in found if g is not None)

    def current_generation(self, env: str) -> int | None:
        """The generation new writes use, or ``None`` if ``env`` has no keys."""
        gens = self.generations(env)
        return gens[-1] if gens else None

    def keyring(self, env: str, generation: int) -> tuple[Keyring, Version]:
        """One generation's keyring and its version; :class:`KeyFailure` if it does not exist."""
        ring, version = self._read_ring(env, generation)
        if self.repo.trust is not None:
            self.repo.trust.check(ring.store_id, env, ring.signer, ring.key, ring.payload())
        return ring, version

    def _read_ring(self, env: str, generation: int) -> tuple[Keyring, Version]:
        """A keyring as stored, verified but not yet judged by the trust policy."""
        key = layout.keyring_key(env, generation)
        try:
            body, version = self.repo.backend.get(key)
        except NotFound:
            raise KeyringMissing(
                f"{key} does not exist: key generation {generation} of {env} is missing", key
            ) from None
        return Keyring.parse(body, self.repo.store_id, env, generation), version

    def unsigned_keyrings(self, env: str) -> dict[str, bytes]:
        """Object key -> signed payload of every keyring of ``env`` that carries no signature."""
        rings = (self._read_ring(env, g)[0] for g in self.generations(layout.validate_env(env)))
        return {ring.key: ring.payload() for ring in rings if ring.signer is None}

    def _writable(self, ring: Keyring) -> None:
        """Refuse to write an unsigned keyring our own readers would refuse (exit 4)."""
        if self.repo.signer is None and self.repo.trust is not None:
            self.repo.trust.check(ring.store_id, ring.env, None, ring.key)

    def data_key(self, env: str, generation: int | None = None) -> tuple[int, bytes]:
        """``(generation, data key)``; ``generation=None``: the newest (for writing).

        Raises :class:`KeyFailure` when ``env`` has no keys or no identity here
        can unwrap them, :class:`IntegrityError` when the keyring was tampered with.
        """
        layout.validate_env(env)
        if generation is None:
            generation = self.current_generation(env)
            if generation is None:
                raise KeyFailure(f"environment {env} has no keys (run 'statesync keys init {env}')")
        if (env, generation) not in self._keys:
            ring, _ = self.keyring(env, generation)
            self._keys[env, generation] = self._unwrap(ring)
        return generation, self._keys[env, generation]

    def _attempts(self, ring: Keyring) -> list[tuple[Stanza, Provider]]:
        pairs = [(s, i) for s in ring.stanzas for i in self.identities if i.type == s.type]
        # Cheap exact matches first, so a KMS round trip or a KDF is spent only when needed.
        return sorted(pairs, key=lambda p: p[1].known_id() != p[0].id)

    def _unwrap(self, ring: Keyring) -> bytes:
        reasons: list[str] = []
        for stanza, identity in self._attempts(ring):
            try:
                key = identity.unwrap(stanza, ring.context(stanza.id))
            except KeyFailure as exc:
                reasons.append(str(exc))
                continue
            if key is not None:
                return self._checked(ring, stanza, identity, key)
        names = ", ".join(s.id for s in ring.stanzas)
        tried = "; ".join(dict.fromkeys(reasons)) or (
            "no identity of a matching kind here ("
            + (", ".join(i.describe() for i in self.identities) or "none configured")
            + "; set [keys] recipients in statesync.toml or STATESYNC_PASSPHRASE)"
        )
        raise KeyFailure(f"no key available to unwrap {ring.key} (recipients: {names}): {tried}")

    def _checked(self, ring: Keyring, stanza: Stanza, identity: Provider, key: bytes) -> bytes:
        if key_check(check_data_key(key, stanza)) != ring.key_check:
            raise IntegrityError(
                f"{ring.key}: stanza {stanza.id} unwraps to a key the keyring "
                "does not commit to (tampered keyring)"
            )
        self._proven[stanza.id] = identity
        log.debug("%s: data key opened with recipient %s", ring.key, identity.describe())
        return key

    # --- writing -------------------------------------------------------------

    def _new_ring(
        self, env: str, generation: int, key: bytes, recipients: Iterable[Provider]
    ) -> Keyring:
        ring = Keyring(
            self.repo.store_id,
            env,
            generation,
            datetime.now(UTC).isoformat(timespec="seconds"),
            key_check(key),
            [],
        )
        for recipient in recipients:
            stanza_id = recipient.stanza_id()
            if any(s.id == stanza_id for s in ring.stanzas):
                raise UsageError(f"recipient {stanza_id} given twice")
            ring.stanzas.append(recipient.wrap(key, ring.context(stanza_id)))
            log.debug("%s: data key wrapped for recipient %s", ring.key, recipient.describe())
        if not ring.stanzas:
            raise UsageError("a key generation needs at least one recipient")
        return ring

    def _create(self, ring: Keyring, key: bytes) -> int:
        self._writable(ring)
        try:
            self.repo.backend.put(ring.key, ring.to_bytes(self.repo.signer), CREATE)
        except AlreadyExists:
            raise ConflictError(
                f"{ring.key} was created by someone else at the same time; run again"
            ) from None
        self._keys[ring.env, ring.generation] = key
        return ring.generation

    def create(self, env: str, recipients: Sequence[Provider]) -> int:
        """Create generation 1 of ``env`` for ``recipients``; return 1.

        Raises :class:`KeysExist` if ``env`` already has keys.
        """
        layout.validate_env(env)
        current = self.current_generation(env)
        if current is not None:
            raise KeysExist(
                f"environment {env} already has keys (generation {current}); "
                f"use 'statesync keys rotate {env}'"
            )
        key = os.urandom(aead.KEY_SIZE)
        return self._create(self._new_ring(env, 1, key, recipients), key)

    def rotate(self, env: str, recipients: Sequence[Provider] | None = None) -> int:
        """Make a new generation (a new data key) for new writes; return its number.

        ``recipients=None`` keeps the current generation's recipients, each
        only if an identity here proves it by unwrapping its stanza to the
        keyring's key: a stanza nobody here can open (a planted one, or a
        colleague's KMS key) is never re-wrapped from its public params; it
        raises :class:`KeyFailure` naming it, and nothing is written.
        """
        current = self.current_generation(layout.validate_env(env))
        if current is None:
            raise KeyFailure(f"environment {env} has no keys (run 'statesync keys init {env}')")
        self.data_key(env, current)  # only a member may rotate
        if recipients is None:
            recipients = self._carried(self.keyring(env, current)[0])
        key = os.urandom(aead.KEY_SIZE)
        return self._create(self._new_ring(env, current + 1, key, recipients), key)

    def _carried(self, ring: Keyring) -> list[Provider]:
        out = []
        for stanza in ring.stanzas:
            recipient = self._carrier(ring, stanza)
            if recipient is None:
                raise KeyFailure(
                    f"cannot carry recipient {stanza.id} into a new generation: "
                    "no identity here unwraps it, so it is not proven (name "
                    "every recipient explicitly, or remove this one first)"
                )
            out.append(recipient)
        return out

    def _carrier(self, ring: Keyring, stanza: Stanza) -> Provider | None:
        same_kind = [i for i in self.identities if i.type == stanza.type]
        for identity in [self._proven.get(stanza.id), *same_kind]:
            if identity is None:
                continue
            try:
                key = identity.unwrap(stanza, ring.context(stanza.id))
            except KeyFailure:
                continue
            if key is not None and key_check(check_data_key(key, stanza)) == ring.key_check:
                return identity.carry(stanza)
        return None

    def _update(self, env: str, generation: int, change: Any) -> bool:
        """Read-modify-write one keyring with a conditional update; retried on a race."""

        def attempt(_: int) -> bool | Again:
            ring, version = self.keyring(env, generation)
            if not change(ring):
                return False
            self._writable(ring)
            try:
                self.repo.backend.put(ring.key, ring.to_bytes(self.repo.signer), Update(version))
            except PreconditionFailed:
                return AGAIN
            return True

        return retry_conditional(
            attempt,
            attempts=_UPDATE_ATTEMPTS,
            gave_up=lambda: ConflictError(
                f"{layout.keyring_key(env, generation)} keeps changing; run again"
            ),
        )

    def add_recipient(self, env: str, recipient: Provider) -> list[int]:
        """Wrap every generation's data key for ``recipient``; return the generations changed.

        Needs an identity here that can unwrap each generation (:class:`KeyFailure`).
        """
        gens = self.generations(layout.validate_env(env))
        if not gens:
            raise KeyFailure(f"environment {env} has no keys (run 'statesync keys init {env}')")
        stanza_id = recipient.stanza_id()
        keys = {g: self.data_key(env, g)[1] for g in gens}

        def add(gen: int) -> Any:
            def change(ring: Keyring) -> bool:
                if any(s.id == stanza_id for s in ring.stanzas):
                    return False
                ring.stanzas.append(recipient.wrap(keys[gen], ring.context(stanza_id)))
                return True

            return change

        changed = [g for g in gens if self._update(env, g, add(g))]
        if not changed:
            raise UsageError(f"{stanza_id} is already a recipient of every generation of {env}")
        return changed

    def remove_recipient(self, env: str, stanza_id: str) -> list[int]:
        """Delete ``stanza_id``'s stanza from every generation; return the generations changed.

        Needs an identity that unwraps each generation it changes (only members
        may remove members) and refuses to leave any generation without a
        recipient. What this guarantees is in the module docstring.
        """
        gens = self.generations(layout.validate_env(env))
        holding = [
            g for g in gens if any(s.id == stanza_id for s in self.keyring(env, g)[0].stanzas)
        ]
        if not holding:
            raise UsageError(f"{stanza_id} is not a recipient of {env}")
        for g in holding:
            if len(self.keyring(env, g)[0].stanzas) == 1:
                raise LastRecipient(
                    f"refusing to remove the last recipient of "
                    f"{layout.keyring_key(env, g)}: nobody could read it again"
                )
            self.data_key(env, g)

        def drop(ring: Keyring) -> bool:
            kept = [s for s in ring.stanzas if s.id != stanza_id]
            if len(kept) == len(ring.stanzas):
                return False
            if not kept:
                raise LastRecipient(f"refusing to remove the last recipient of {ring.key}")
            ring.stanzas = kept
            return True

        self._proven.pop(stanza_id, None)
        return [g for g in holding if self._update(env, g, drop)]

    def describe(self, env: str) -> list[dict[str, Any]]:
        """Every generation with its recipients (ids, types, public params); no secrets."""
        current = self.current_generation(layout.validate_env(env))
        out = []
        for g in self.generations(env):
            ring, _ = self.keyring(env, g)
            out.append(
                {
                    "generation": g,
                    "current": g == current,
                    "created_at": ring.created_at,
                    "signed_by": ring.signer,
                    "recipients": [{"id": s.id, "type": s.type} for s in ring.stanzas],
                }
            )
        return out
