"""AES-256-GCM sealing: round trips, and every way a ciphertext can be wrong is exit 4."""

from __future__ import annotations

import os

import pytest

from statesync.crypto import aead
from statesync.errors import IntegrityError

KEY = bytes(range(32))
AAD = aead.aad("store-1", "dev", "config/app.json", "/db/password")


def test_round_trip_and_fresh_nonces() -> None:
    for plaintext in (b"", b"x", os.urandom(100_000)):
        blob = aead.seal(KEY, plaintext, AAD)
        assert len(blob) == len(plaintext) + aead.OVERHEAD
        assert aead.open_sealed(KEY, blob, AAD, "where") == plaintext
    assert aead.seal(KEY, b"same", AAD) != aead.seal(KEY, b"same", AAD)


def test_every_flipped_byte_is_an_integrity_error() -> None:
    blob = aead.seal(KEY, b"hunter2 is the password", AAD)
    for i in range(len(blob)):  # version, nonce, ciphertext and tag alike
        flipped = bytearray(blob)
        flipped[i] ^= 0x01
        with pytest.raises(IntegrityError) as err:
            aead.open_sealed(KEY, bytes(flipped), AAD, "config/app.json#/db/password")
        assert str(err.value).startswith("config/app.json#/db/password: ")
        assert err.value.exit_code == 4


def test_every_truncation_is_an_integrity_error() -> None:
    blob = aead.seal(KEY, b"some secret value", AAD)
    for n in range(len(blob)):
        with pytest.raises(IntegrityError):
            aead.open_sealed(KEY, blob[:n], AAD, "w")
    with pytest.raises(IntegrityError):
        aead.open_sealed(KEY, blob + b"\0", AAD, "w")


@pytest.mark.parametrize(
    "moved",
    [
        ("store-1", "prod", "config/app.json", "/db/password"),  # another environment
        ("store-1", "dev", "config/other.json", "/db/password"),  # another file
        ("store-1", "dev", "config/app.json", "/db/user"),  # another JSON pointer
        ("store-2", "dev", "config/app.json", "/db/password"),  # another store
        ("store-1", "dev", "config/app.json"),  # a part dropped
    ],
)
def test_a_moved_ciphertext_does_not_open(moved: tuple[str, ...]) -> None:
    blob = aead.seal(KEY, b"s3cret", AAD)
    with pytest.raises(IntegrityError, match="failed authentication"):
        aead.open_sealed(KEY, blob, aead.aad(*moved), "w")


def test_another_key_does_not_open() -> None:
    blob = aead.seal(KEY, b"s3cret", AAD)
    with pytest.raises(IntegrityError):
        aead.open_sealed(os.urandom(32), blob, AAD, "w")


def test_unknown_version_is_refused() -> None:
    blob = bytearray(aead.seal(KEY, b"s3cret", AAD))
    blob[0] = 2
    with pytest.raises(IntegrityError, match="unknown encryption format version 2"):
        aead.open_sealed(KEY, bytes(blob), AAD, "w")


def test_aad_is_unambiguous() -> None:
    assert aead.aad("ab", "c") != aead.aad("a", "bc")
    assert aead.aad("a") != aead.aad("a", "")
    assert aead.aad() != aead.aad("")
    assert aead.aad("é") != aead.aad("e\u0301")


def test_derive_separates_domains() -> None:
    labels = ["statesync chunk-id", "statesync chunk", "statesync manifest", "statesync value"]
    keys = [aead.derive(KEY, label) for label in labels]
    assert len(set(keys)) == len(labels) and all(len(k) == 32 for k in keys)
    assert aead.derive(KEY, "statesync chunk") == keys[1]  # deterministic
    assert aead.derive(os.urandom(32), "statesync chunk") != keys[1]
    assert len(aead.derive(KEY, "x", 16)) == 16
    with pytest.raises(ValueError):
        aead.derive(KEY, "")


def test_wrong_key_size_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        aead.seal(b"short", b"x", b"")
    with pytest.raises(ValueError):
        aead.open_sealed(b"short", b"x" * 40, b"", "w")
