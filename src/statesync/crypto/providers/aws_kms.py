"""AWS KMS recipients: ``aws-kms:<key ARN, key id, alias/name or alias ARN>``.

The data key is encrypted by KMS (``Encrypt``/``Decrypt``) with the stanza's
:class:`WrapContext` as the *encryption context*, which KMS binds to the
ciphertext: a stanza moved to another store, environment or generation does
not decrypt. The stanza id is ``aws-kms:<key ARN>`` (aliases are resolved
with ``DescribeKey``), so renaming or re-pointing an alias in the
configuration does not change it; the ARN is also in the stanza's params.

As an identity it opens only stanzas of the key the user configured: the
configured key is resolved to its ARN once, a stanza whose id or ARN names
another key is not for this identity (whatever key policy would allow), and
``Decrypt`` is called with the configured ARN, in its own region, and must
answer that it used that key (``KeyId``). A store writer who plants a stanza
or a generation wrapped under a key of its own cannot make us accept it.

Credentials, region and endpoint come from boto3's own chain
(``AWS_ENDPOINT_URL`` points it at moto server in the tests). boto3 is
imported only when a KMS stanza is written or read.
"""

from __future__ import annotations

import re
from typing import Any

from statesync.crypto.providers.base import Provider, Stanza, WrapContext
from statesync.errors import KeyFailure, install_command

TYPE = "aws-kms"
_KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key/[A-Za-z0-9-]+$")


def make_client(region: str | None = None) -> Any:
    """A KMS client from a fresh boto3 session (``KeyFailure`` if boto3 is missing)."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError
    except ImportError:
        raise KeyFailure(
            f"aws-kms recipients need the 's3' extra: {install_command('s3')}"
        ) from None
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=10, read_timeout=30
    )
    try:
        return boto3.session.Session().client("kms", region_name=region, config=config)
    except BotoCoreError as exc:  # e.g. no region configured
        raise KeyFailure(f"{TYPE}: cannot create a KMS client: {exc}") from None


def _failure(what: str, exc: Exception) -> KeyFailure:
    """One line for a boto error: the AWS error code, never a request body."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return KeyFailure(f"{what}: {code or type(exc).__name__}")


class AwsKmsProvider(Provider):
    """A KMS symmetric key as recipient and identity."""

    type = TYPE

    def __init__(self, key: str, client: Any = None) -> None:
        self.key = key
        self._clients: dict[str | None, Any] = {} if client is None else {None: client}
        self._arn = key if _KEY_ARN_RE.match(key) else None

    def client(self, region: str | None = None) -> Any:
        """A KMS client (``region``: one in that region, for a key ARN's own region)."""
        for client in self._clients.values():
            if region is None or client.meta.region_name == region:
                return client
        self._clients[region] = make_client(region)
        return self._clients[region]

    def stanza_id(self) -> str:
        if self._arn is None:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                meta = self.client().describe_key(KeyId=self.key)["KeyMetadata"]
            except (BotoCoreError, ClientError) as exc:
                raise _failure(f"{TYPE}:{self.key}", exc) from None
            self._arn = str(meta["Arn"])
        return f"{TYPE}:{self._arn}"

    def known_id(self) -> str | None:
        return f"{TYPE}:{self._arn}" if self._arn else None

    def describe(self) -> str:
        return f"{TYPE}:{self.key}"

    def wrap(self, key: bytes, ctx: WrapContext) -> Stanza:
        from botocore.exceptions import BotoCoreError, ClientError

        arn = self.stanza_id().partition(":")[2]
        try:
            blob = self.client().encrypt(KeyId=arn, Plaintext=key, EncryptionContext=ctx.context)[
                "CiphertextBlob"
            ]
        except (BotoCoreError, ClientError) as exc:
            raise _failure(f"{TYPE}:{arn}: Encrypt", exc) from None
        return Stanza(ctx.stanza_id, TYPE, bytes(blob), {"key_arn": arn})

    def unwrap(self, stanza: Stanza, ctx: WrapContext) -> bytes | None:
        if stanza.type != TYPE:
            return None
        from botocore.exceptions import BotoCoreError, ClientError

        own = self.stanza_id()
        arn = own.partition(":")[2]
        if stanza.id != own or stanza.params.get("key_arn") != arn:
            return None  # another key's stanza, or one that claims our id: not ours to open
        match = _KEY_ARN_RE.match(arn)
        if not match:
            raise KeyFailure(f"{own}: DescribeKey answered no key ARN")
        try:
            out = self.client(match.group(1)).decrypt(
                CiphertextBlob=stanza.wrapped, KeyId=arn, EncryptionContext=ctx.context
            )
        except (BotoCoreError, ClientError) as exc:
            raise _failure(f"{stanza.id}: Decrypt", exc) from None
        if out.get("KeyId") != arn:
            raise KeyFailure(f"{stanza.id}: KMS decrypted with another key than the one configured")
        return bytes(out["Plaintext"])


def from_stanza(stanza: Stanza) -> AwsKmsProvider | None:
    """A recipient for the same KMS key as ``stanza`` (needs no secret of ours)."""
    arn = str(stanza.params.get("key_arn", ""))
    return AwsKmsProvider(arn) if stanza.type == TYPE and _KEY_ARN_RE.match(arn) else None
