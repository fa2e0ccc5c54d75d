"""What every key provider is: a recipient (wraps a data key) and an identity (unwraps it).

A *stanza* is one recipient's copy of a data key inside a keyring: its stable
``id``, its ``type``, public ``params`` (KDF salt, KMS key ARN, ...) and the
``wrapped`` key. A stanza never holds secret material in the clear.

The stanza id is derived from the provider's own identity (the KMS key ARN,
the Key Vault key URL without version, the GCP key name, the key file's
public fingerprint, ``passphrase:<label>``), never from a nickname in the
configuration, so renaming things in ``statesync.toml`` locks nobody out.

Every wrapped key is bound to a :class:`WrapContext` (store id, environment,
generation, stanza id): a stanza copied to another keyring fails to unwrap.
"""

from __future__ import annotations

import abc
import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from statesync.crypto import aead
from statesync.errors import IntegrityError, KeyFailure


@dataclass(frozen=True)
class WrapContext:
    """Where a wrapped data key belongs; its associated data."""

    store_id: str
    env: str
    generation: int
    stanza_id: str

    @property
    def aad(self) -> bytes:
        """Associated data for AEAD wrapping (and Google KMS)."""
        return aead.aad(
            "statesync data-key", self.store_id, self.env, str(self.generation), self.stanza_id
        )

    @property
    def context(self) -> dict[str, str]:
        """The same facts as an AWS KMS encryption context (string map)."""
        return {
            "statesync:purpose": "data-key",
            "statesync:store": self.store_id,
            "statesync:env": self.env,
            "statesync:generation": str(self.generation),
            "statesync:stanza": self.stanza_id,
        }


@dataclass
class Stanza:
    """One recipient's wrapped copy of a data key (public: safe to store)."""

    id: str
    type: str
    wrapped: bytes
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "params": self.params,
            "wrapped": base64.b64encode(self.wrapped).decode(),
        }

    @classmethod
    def from_json(cls, doc: Any, where: str) -> Stanza:
        """Parse a stanza; :class:`IntegrityError` naming ``where`` if malformed."""
        try:
            params = doc.get("params", {})
            if not isinstance(params, dict) or not all(
                isinstance(doc[name], str) and doc[name] for name in ("id", "type", "wrapped")
            ):
                raise ValueError
            wrapped = base64.b64decode(doc["wrapped"], validate=True)
            return cls(doc["id"], doc["type"], wrapped, params)
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error):
            raise IntegrityError(f"{where}: malformed recipient stanza") from None


def b64param(stanza: Stanza, name: str) -> bytes:
    """A base64 parameter of ``stanza``; :class:`KeyFailure` if absent or malformed."""
    try:
        return base64.b64decode(str(stanza.params[name]), validate=True)
    except (KeyError, ValueError, binascii.Error):
        raise KeyFailure(
            f"{stanza.id}: stanza parameter {name!r} is missing or malformed"
        ) from None


class Provider(abc.ABC):
    """A recipient and an identity of one kind (``type``).

    As a recipient it wraps a data key into a :class:`Stanza`; as an identity it
    tries to unwrap stanzas of its own type.
    """

    #: The stanza type this provider writes and reads ("passphrase", "aws-kms", ...).
    type: str = ""

    @abc.abstractmethod
    def stanza_id(self) -> str:
        """The stable stanza id (may ask the provider, e.g. resolve a KMS alias).

        Raises :class:`KeyFailure` if the provider cannot be reached or refuses.
        """

    def known_id(self) -> str | None:
        """The stanza id if known without any network call or prompt; else ``None``."""
        return None

    @abc.abstractmethod
    def describe(self) -> str:
        """A short, secret-free name for messages (``passphrase:team``, ``keyfile:/p``)."""

    @abc.abstractmethod
    def wrap(self, key: bytes, ctx: WrapContext) -> Stanza:
        """Wrap data ``key`` for this recipient, bound to ``ctx``. Raises :class:`KeyFailure`."""

    @abc.abstractmethod
    def unwrap(self, stanza: Stanza, ctx: WrapContext) -> bytes | None:
        """The data key in ``stanza``, or ``None`` when the stanza is not for this identity.

        Raises :class:`KeyFailure` (one line, no secrets) when it is of this
        identity's kind but cannot be unwrapped: wrong passphrase, access
        denied, unreachable service.
        """

    def carry(self, stanza: Stanza) -> Provider | None:
        """A recipient that recreates ``stanza``'s id in a new generation, if this identity can.

        Only meaningful after this identity unwrapped ``stanza`` (a shared secret
        must be proven before it is reused). Default: ``self`` if the ids agree.
        """
        return self if self.known_id() == stanza.id else None


def check_data_key(key: bytes, stanza: Stanza) -> bytes:
    """A provider's unwrap result must be a 32-byte key; :class:`IntegrityError` otherwise."""
    if len(key) != aead.KEY_SIZE:
        raise IntegrityError(f"{stanza.id}: unwrapped data key has the wrong length")
    return key


#: A provider used to wrap data keys for someone (every provider can).
Recipient = Provider
#: A provider used to unwrap data keys for this user (every provider can).
Identity = Provider
