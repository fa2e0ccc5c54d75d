"""Azure Key Vault recipients: ``azure-kv:https://<vault>.vault.azure.net/keys/<name>[#A256KW]``.

Key Vault's ``wrapKey``/``unwrapKey`` take no associated data, so each stanza
gets its own random 32-byte key-encryption key (KEK): Key Vault wraps the KEK
(RSA-OAEP-256 by default; ``#A256KW`` for symmetric Managed HSM keys) and the
data key is sealed under the KEK with AES-256-GCM bound to the stanza's
:class:`WrapContext`. The stanza id is ``azure-kv:https://<vault host>/keys/<name>``
(no version: Key Vault key rotation does not change it); the params keep the
versioned key id that wrapped, which is what ``unwrapKey`` is called with. As
an identity it opens only stanzas of the configured vault and key name (any
version): a stanza planted under another key is not for it.

Credentials: azure-identity's ``DefaultAzureCredential`` unless one is given.
The SDK (``azure-keyvault-keys``, in the ``azure`` extra) is imported only
when a stanza is written or read.

Testing: there is no Key Vault emulator. The tests drive the real
``CryptographyClient`` (its pipeline, challenge authentication, local RSA
wrapping and remote unwrapping) through a fake azure-core transport that
answers the Key Vault REST calls in-process (tests/crypto/fakes.py).
"""

from __future__ import annotations

import base64
import os
import re
from typing import Any
from urllib.parse import urlsplit

from statesync.crypto import aead
from statesync.crypto.providers.base import Provider, Stanza, WrapContext, b64param
from statesync.errors import IntegrityError, KeyFailure, UsageError, install_command

TYPE = "azure-kv"
ALGORITHMS = ("RSA-OAEP-256", "A256KW")
_PATH_RE = re.compile(r"^/keys/([A-Za-z0-9-]{1,127})(?:/([A-Za-z0-9]{1,64}))?/?$")


def parse_key_url(url: str) -> tuple[str, str, str | None]:
    """``(vault URL, key name, version or None)``; :class:`UsageError` if not a key URL."""
    parts = urlsplit(url)
    match = _PATH_RE.match(parts.path)
    if parts.scheme != "https" or not parts.hostname or not match:
        raise UsageError(f"azure-kv wants https://<vault>.vault.azure.net/keys/<name>, got {url!r}")
    port = f":{parts.port}" if parts.port else ""
    return f"https://{parts.hostname.lower()}{port}", match.group(1), match.group(2)


def _algorithm(name: str) -> Any:
    """The SDK's enum member (its local RSA wrap accepts nothing else)."""
    from azure.keyvault.keys.crypto import KeyWrapAlgorithm

    return KeyWrapAlgorithm(name)


def _failure(what: str, exc: Exception) -> KeyFailure:
    status = getattr(exc, "status_code", None)
    reason = getattr(exc, "reason", None) or type(exc).__name__
    return KeyFailure(f"{what}: {status} {reason}" if status else f"{what}: {reason}")


class AzureKeyVaultProvider(Provider):
    """A Key Vault (or Managed HSM) key as recipient and identity."""

    type = TYPE

    def __init__(self, spec: str, credential: Any = None, **client_kwargs: Any) -> None:
        url, _, alg = spec.partition("#")
        self.algorithm = alg or ALGORITHMS[0]
        if self.algorithm not in ALGORITHMS:
            raise UsageError(f"azure-kv algorithm must be one of {', '.join(ALGORITHMS)}")
        self.vault, self.name, self.version = parse_key_url(url)
        self._credential = credential
        self._client_kwargs = client_kwargs  # e.g. transport=... in tests

    def _crypto_client(self, key_id: str) -> Any:
        try:
            from azure.keyvault.keys.crypto import CryptographyClient
        except ImportError:
            raise KeyFailure(
                f"azure-kv recipients need the 'azure' extra: {install_command('azure')}"
            ) from None
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
        return CryptographyClient(key_id, self._credential, **self._client_kwargs)

    def stanza_id(self) -> str:
        return f"{TYPE}:{self.vault}/keys/{self.name}"

    def known_id(self) -> str:
        return self.stanza_id()

    def describe(self) -> str:
        return self.stanza_id()

    def wrap(self, key: bytes, ctx: WrapContext) -> Stanza:
        from azure.core.exceptions import AzureError

        kek = os.urandom(aead.KEY_SIZE)
        key_id = f"{self.vault}/keys/{self.name}" + (f"/{self.version}" if self.version else "")
        try:
            result = self._crypto_client(key_id).wrap_key(_algorithm(self.algorithm), kek)
        except AzureError as exc:
            raise _failure(f"{self.stanza_id()}: wrapKey", exc) from None
        params = {
            "key_id": result.key_id or key_id,
            "algorithm": self.algorithm,
            "wrapped_kek": base64.b64encode(result.encrypted_key).decode(),
        }
        return Stanza(ctx.stanza_id, TYPE, aead.seal(kek, key, ctx.aad), params)

    def unwrap(self, stanza: Stanza, ctx: WrapContext) -> bytes | None:
        if stanza.type != TYPE:
            return None
        from azure.core.exceptions import AzureError

        key_id, alg = str(stanza.params.get("key_id", "")), stanza.params.get("algorithm")
        if stanza.id != self.stanza_id() or not self._is_own(key_id):
            return None  # another key's stanza, or one that claims our id: not ours to open
        if alg not in ALGORITHMS:
            raise KeyFailure(f"{stanza.id}: unknown key-wrap algorithm {alg!r}")
        wrapped_kek = b64param(stanza, "wrapped_kek")
        try:
            result = self._crypto_client(key_id).unwrap_key(_algorithm(alg), wrapped_kek)
        except AzureError as exc:
            raise _failure(f"{stanza.id}: unwrapKey", exc) from None
        if result.key_id is not None and not self._is_own(str(result.key_id)):
            raise KeyFailure(
                f"{stanza.id}: Key Vault unwrapped with another key than the one configured"
            )
        kek = result.key
        if len(kek) != aead.KEY_SIZE:
            raise IntegrityError(f"{stanza.id}: unwrapped key-encryption key has the wrong length")
        return aead.open_sealed(kek, stanza.wrapped, ctx.aad, stanza.id)

    def _is_own(self, key_id: str) -> bool:
        """Whether ``key_id`` names the configured key (any version of it)."""
        try:
            vault, name, _ = parse_key_url(key_id)
        except UsageError:
            return False
        return (vault, name) == (self.vault, self.name)


def from_stanza(
    stanza: Stanza, credential: Any = None, **client_kwargs: Any
) -> AzureKeyVaultProvider | None:
    """A recipient for the same Key Vault key (latest version) as ``stanza``."""
    if stanza.type != TYPE:
        return None
    try:
        vault, name, _ = parse_key_url(str(stanza.params.get("key_id", "")))
    except UsageError:
        return None
    alg = str(stanza.params.get("algorithm", ALGORITHMS[0]))
    return AzureKeyVaultProvider(f"{vault}/keys/{name}#{alg}", credential, **client_kwargs)
