"""Google Cloud KMS recipients: ``gcp-kms:projects/P/locations/L/keyRings/R/cryptoKeys/K``.

The data key is encrypted by Cloud KMS with the stanza's
:class:`WrapContext` as *additional authenticated data*, so a stanza moved
elsewhere does not decrypt. Requests and answers carry CRC32C checksums
(plaintext, AAD, ciphertext) as Google recommends, and a mismatch is refused.
The stanza id is ``gcp-kms:<key name>``; ``Decrypt`` picks the key version
itself, so key rotation in Cloud KMS changes nothing here. As an identity it
opens only stanzas whose id and key name are the configured key's: a stanza
planted under a key of the attacker's is not for it.

Credentials: Google's Application Default Credentials unless a client is
given. ``google-cloud-kms`` (in the ``gcs`` extra) is imported only when a
stanza is written or read.

Testing: there is no Cloud KMS emulator. The tests build the real
``KeyManagementServiceClient`` with its REST transport and answer its HTTP
requests in-process with a fake ``requests`` adapter (tests/crypto/fakes.py),
so request building, JSON mapping and the checksum fields are exercised.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from statesync.crypto.providers.base import Provider, Stanza, WrapContext
from statesync.errors import IntegrityError, KeyFailure, UsageError, install_command

TYPE = "gcp-kms"
_NAME_RE = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")


def make_client() -> Any:
    """A Cloud KMS client on Application Default Credentials."""
    try:
        # Through importlib: mypy following google.cloud.kms_v1 (typed) would
        # make it judge the untyped google.cloud.storage in backends/gcs.py.
        kms_v1 = importlib.import_module("google.cloud.kms_v1")
    except ImportError:
        raise KeyFailure(
            f"gcp-kms recipients need the 'gcs' extra: {install_command('gcs')}"
        ) from None
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return kms_v1.KeyManagementServiceClient()
    except DefaultCredentialsError as exc:
        raise KeyFailure(f"{TYPE}: no Google credentials: {exc}") from None


def _crc(data: bytes) -> int:
    import google_crc32c

    return int(google_crc32c.value(data))


def _failure(what: str, exc: Exception) -> KeyFailure:
    code = getattr(exc, "code", None)
    name = getattr(code, "name", None) or (str(code) if code else type(exc).__name__)
    return KeyFailure(f"{what}: {name}")


class GcpKmsProvider(Provider):
    """A Cloud KMS symmetric key as recipient and identity."""

    type = TYPE

    def __init__(self, name: str, client: Any = None) -> None:
        if not _NAME_RE.match(name):
            raise UsageError(
                f"gcp-kms wants projects/P/locations/L/keyRings/R/cryptoKeys/K, got {name!r}"
            )
        self.name = name
        self._client = client

    def client(self) -> Any:
        if self._client is None:
            self._client = make_client()
        return self._client

    def stanza_id(self) -> str:
        return f"{TYPE}:{self.name}"

    def known_id(self) -> str:
        return self.stanza_id()

    def describe(self) -> str:
        return self.stanza_id()

    def wrap(self, key: bytes, ctx: WrapContext) -> Stanza:
        from google.api_core.exceptions import GoogleAPIError

        aad = ctx.aad
        try:
            out = self.client().encrypt(
                request={
                    "name": self.name,
                    "plaintext": key,
                    "additional_authenticated_data": aad,
                    "plaintext_crc32c": _crc(key),
                    "additional_authenticated_data_crc32c": _crc(aad),
                }
            )
        except GoogleAPIError as exc:
            raise _failure(f"{self.stanza_id()}: encrypt", exc) from None
        if not (
            out.verified_plaintext_crc32c
            and out.verified_additional_authenticated_data_crc32c
            and out.ciphertext_crc32c == _crc(out.ciphertext)
        ):
            raise KeyFailure(f"{self.stanza_id()}: encrypt request or answer corrupted in transit")
        return Stanza(
            ctx.stanza_id,
            TYPE,
            bytes(out.ciphertext),
            {"key": self.name, "key_version": str(out.name)},
        )

    def unwrap(self, stanza: Stanza, ctx: WrapContext) -> bytes | None:
        if stanza.type != TYPE:
            return None
        from google.api_core.exceptions import GoogleAPIError

        name = self.name
        if stanza.id != self.stanza_id() or stanza.params.get("key") != name:
            return None  # another key's stanza, or one that claims our id: not ours to open
        aad = ctx.aad
        try:
            out = self.client().decrypt(
                request={
                    "name": name,
                    "ciphertext": stanza.wrapped,
                    "additional_authenticated_data": aad,
                    "ciphertext_crc32c": _crc(stanza.wrapped),
                    "additional_authenticated_data_crc32c": _crc(aad),
                }
            )
        except GoogleAPIError as exc:
            raise _failure(f"{stanza.id}: decrypt", exc) from None
        if out.plaintext_crc32c != _crc(out.plaintext):
            raise IntegrityError(f"{stanza.id}: decrypt answer corrupted in transit")
        return bytes(out.plaintext)


def from_stanza(stanza: Stanza, client: Any = None) -> GcpKmsProvider | None:
    """A recipient for the same Cloud KMS key as ``stanza`` (needs no secret of ours)."""
    name = str(stanza.params.get("key", ""))
    return GcpKmsProvider(name, client) if stanza.type == TYPE and _NAME_RE.match(name) else None
