"""In-process fakes of Azure Key Vault and Google Cloud KMS, at the HTTP layer.

Neither service has an emulator. These fakes answer the services' REST calls
below the real SDK clients, so the SDK code runs for real: azure-core's
pipeline with Key Vault's challenge authentication, the CryptographyClient's
local RSA-OAEP wrapping with the fetched public key and its remote unwrap; the
Cloud KMS client's REST transport, its JSON mapping and the CRC32C fields.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import google_crc32c
import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

# --- Azure Key Vault ---------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FakeCredential:
    """A TokenCredential that hands out a fixed bearer token."""

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        return AccessToken("fake-token", 2**31)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        self.calls += 1
        return AccessTokenInfo("fake-token", 2**31)


OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@dataclass
class FakeKeyVault(HttpTransport[Any, Any]):
    """One vault holding one key (RSA, or "oct" for A256KW) with rotating versions."""

    vault: str = "https://unit-test.vault.azure.net"
    name: str = "statesync"
    kind: str = "RSA"
    versions: dict[str, Any] = field(default_factory=dict)
    current: str = ""
    denied: set[str] = field(default_factory=set)  # operations answered 403
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rotate()

    def rotate(self) -> str:
        """A new current key version (old versions keep working), as Key Vault rotation does."""
        self.current = os.urandom(16).hex()
        self.versions[self.current] = (
            rsa.generate_private_key(65537, 2048) if self.kind == "RSA" else os.urandom(32)
        )
        return self.current

    # HttpTransport protocol
    def __enter__(self) -> FakeKeyVault:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, request: Any, **kwargs: Any) -> Any:
        path = request.url.split("?")[0].removeprefix(self.vault)
        self.log.append(f"{request.method} {path}")
        if "Authorization" not in request.headers:
            return self._reply(
                request,
                401,
                {},
                {
                    "WWW-Authenticate": (
                        'Bearer authorization="https://login.microsoftonline.com/tenant", '
                        'resource="https://vault.azure.net"'
                    )
                },
            )
        match = re.match(rf"^/keys/{self.name}/?([0-9a-f]*)/?(wrapkey|unwrapkey)?$", path)
        if not match:
            return self._error(request, 404, "KeyNotFound")
        version, op = match.group(1) or self.current, match.group(2) or "get"
        if op in self.denied:
            return self._error(request, 403, "Forbidden")
        if version not in self.versions:
            return self._error(request, 404, "KeyNotFound")
        kid = f"{self.vault}/keys/{self.name}/{version}"
        if op == "get":
            return self._get(request, kid, self.versions[version])
        body = json.loads(request.content or request.body)
        try:
            value = self._crypt(op, self.versions[version], body["alg"], _unb64url(body["value"]))
        except (ValueError, InvalidUnwrap):
            return self._error(request, 400, "BadParameter")
        return self._reply(request, 200, {"kid": kid, "value": _b64url(value)})

    def _crypt(self, op: str, key: Any, alg: str, value: bytes) -> bytes:
        if alg == "RSA-OAEP-256" and self.kind == "RSA":
            pub = key.public_key()
            return bytes(pub.encrypt(value, OAEP) if op == "wrapkey" else key.decrypt(value, OAEP))
        if alg == "A256KW" and self.kind == "oct":
            return aes_key_wrap(key, value) if op == "wrapkey" else aes_key_unwrap(key, value)
        raise ValueError(alg)

    def _get(self, request: Any, kid: str, key: Any) -> Any:
        if self.kind != "RSA":  # symmetric key material is never returned
            return self._error(request, 403, "Forbidden")
        nums = key.public_key().public_numbers()
        jwk = {
            "kid": kid,
            "kty": "RSA",
            "key_ops": ["wrapKey", "unwrapKey"],
            "n": _b64url(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")),
            "e": _b64url(nums.e.to_bytes(3, "big")),
        }
        return self._reply(request, 200, {"key": jwk, "attributes": {"enabled": True}})

    def _error(self, request: Any, status: int, code: str) -> Any:
        return self._reply(request, status, {"error": {"code": code, "message": code}})

    def _reply(
        self, request: Any, status: int, doc: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Any:
        response = HttpResponseImpl(
            request=request,
            internal_response=io.BytesIO(),
            status_code=status,
            reason={
                200: "OK",
                400: "Bad Request",
                401: "Unauthorized",
                403: "Forbidden",
                404: "Not Found",
            }[status],
            content_type="application/json",
            headers={"Content-Type": "application/json", **(headers or {})},
            stream_download_generator=None,
        )
        response._content = json.dumps(doc).encode()
        return response


# --- Google Cloud KMS -------------------------------------------------------------


def _crc(data: bytes) -> str:
    return str(google_crc32c.value(data))


@dataclass
class FakeCloudKms(requests.adapters.BaseAdapter):
    """Cloud KMS's encrypt/decrypt REST methods for any key name, AAD enforced like the real one."""

    keys: dict[str, bytes] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)  # key names answered PERMISSION_DENIED
    corrupt_answers: bool = False
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def send(self, request: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        match = re.match(r"^https?://[^/]+/v1/(.+):(encrypt|decrypt)(\?.*)?$", request.url)
        if not match:
            return self._reply(request, 404, self._err(404, "NOT_FOUND", "no such method"))
        name, op = match.group(1), match.group(2)
        self.log.append(f"{op} {name}")
        if name in self.denied:
            return self._reply(request, 403, self._err(403, "PERMISSION_DENIED", "denied"))
        body = json.loads(request.body)
        aad = base64.b64decode(body.get("additionalAuthenticatedData", ""))
        key = self.keys.setdefault(name, os.urandom(32))
        if op == "encrypt":
            plaintext = base64.b64decode(body["plaintext"])
            nonce = os.urandom(12)
            ciphertext = nonce + AESGCM(key).encrypt(nonce, plaintext, aad)
            doc = {
                "name": f"{name}/cryptoKeyVersions/1",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "ciphertextCrc32c": _crc(ciphertext),
                "verifiedPlaintextCrc32c": body.get("plaintextCrc32c") == _crc(plaintext),
                "verifiedAdditionalAuthenticatedDataCrc32c": body.get(
                    "additionalAuthenticatedDataCrc32c"
                )
                == _crc(aad),
                "protectionLevel": "SOFTWARE",
            }
            return self._reply(request, 200, doc)
        ciphertext = base64.b64decode(body["ciphertext"])
        try:
            plaintext = AESGCM(key).decrypt(ciphertext[:12], ciphertext[12:], aad)
        except InvalidTag:
            return self._reply(
                request,
                400,
                self._err(400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid."),
            )
        crc = _crc(plaintext + b"x") if self.corrupt_answers else _crc(plaintext)
        return self._reply(
            request,
            200,
            {
                "plaintext": base64.b64encode(plaintext).decode(),
                "plaintextCrc32c": crc,
                "usedPrimary": True,
            },
        )

    @staticmethod
    def _err(code: int, status: str, message: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": message, "status": status}}

    def _reply(self, request: Any, status: int, doc: dict[str, Any]) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(doc).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = request.url
        response.request = request
        response.reason = "OK" if status == 200 else "Error"
        return response

    def close(self) -> None:
        pass


def cloud_kms_client(fake: FakeCloudKms) -> Any:
    """A real KeyManagementServiceClient (REST transport) whose HTTP goes to ``fake``."""
    from google.auth.credentials import AnonymousCredentials

    # Imported by name: followed by mypy, the typed kms_v1 hides the untyped
    # google.cloud.storage from backends/gcs.py (one namespace package).
    kms_v1 = importlib.import_module("google.cloud.kms_v1")

    client = kms_v1.KeyManagementServiceClient(
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        transport="rest",
        client_options={"api_endpoint": "https://cloudkms.fake.invalid"},
    )
    session = client._transport._session
    session.mount("https://", fake)
    session.mount("http://", fake)
    return client
