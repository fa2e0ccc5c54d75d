"""Key providers and the one place that turns a recipient spec into one.

Specs (``[keys] recipients`` in statesync.toml, ``--recipient`` on the CLI)::

    passphrase[:label]                         Argon2id passphrase (label: "default")
    keyfile:/path/to/key                       local 32-byte key file (0600)
    aws-kms:<key ARN | key id | alias/name>    AWS KMS
    azure-kv:https://<vault>.vault.azure.net/keys/<name>[#A256KW]
    gcp-kms:projects/P/locations/L/keyRings/R/cryptoKeys/K

No cloud SDK is imported here or by :func:`resolve`; only by using a provider.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from statesync.crypto.providers.base import Identity, Provider, Recipient, Stanza, WrapContext
from statesync.errors import UsageError

__all__ = [
    "Identity",
    "Provider",
    "Recipient",
    "Stanza",
    "WrapContext",
    "default_identities",
    "from_stanza",
    "resolve",
]

KINDS = ("passphrase", "keyfile", "aws-kms", "azure-kv", "gcp-kms")


def resolve(spec: str) -> Provider:
    """The provider a spec names; :class:`UsageError` for an unknown or malformed spec."""
    kind, _, rest = spec.strip().partition(":")
    if kind == "passphrase":
        from statesync.crypto.providers.passphrase import PassphraseProvider

        return PassphraseProvider(rest or "default")
    if not rest:
        raise UsageError(
            f"recipient {spec!r}: expected one of {', '.join(KINDS)} followed by "
            "':' and what it names (e.g. keyfile:/path, aws-kms:alias/name)"
        )
    if kind == "keyfile":
        from statesync.crypto.providers.keyfile import KeyfileProvider

        return KeyfileProvider(Path(rest).expanduser())
    if kind == "aws-kms":
        from statesync.crypto.providers.aws_kms import AwsKmsProvider

        return AwsKmsProvider(rest)
    if kind == "azure-kv":
        from statesync.crypto.providers.azure_kv import AzureKeyVaultProvider

        return AzureKeyVaultProvider(rest)
    if kind == "gcp-kms":
        from statesync.crypto.providers.gcp_kms import GcpKmsProvider

        return GcpKmsProvider(rest)
    raise UsageError(f"unknown recipient kind {kind!r} in {spec!r} (known: {', '.join(KINDS)})")


def from_stanza(stanza: Stanza) -> Provider | None:
    """A recipient for a cloud-KMS stanza, built from its public params; ``None`` otherwise.

    Passphrase and key-file stanzas cannot be rebuilt: their secret must come
    from an identity that proved it by unwrapping them.
    """
    if stanza.type == "aws-kms":
        from statesync.crypto.providers import aws_kms

        return aws_kms.from_stanza(stanza)
    if stanza.type == "azure-kv":
        from statesync.crypto.providers import azure_kv

        return azure_kv.from_stanza(stanza)
    if stanza.type == "gcp-kms":
        from statesync.crypto.providers import gcp_kms

        return gcp_kms.from_stanza(stanza)
    return None


def default_identities(specs: Iterable[str]) -> list[Provider]:
    """Identities for this user: ``specs`` (e.g. ``[keys] recipients``), plus a passphrase
    identity when ``STATESYNC_PASSPHRASE``/``_FILE``/``_COMMAND`` is set and no spec names one.
    """
    out = [resolve(spec) for spec in specs]
    has_passphrase = any(p.type == "passphrase" for p in out)
    sources = ("STATESYNC_PASSPHRASE", "STATESYNC_PASSPHRASE_FILE", "STATESYNC_PASSPHRASE_COMMAND")
    if not has_passphrase and any(os.environ.get(var) for var in sources):
        out.append(resolve("passphrase"))
    return out
