"""Encryption and signatures (ARCHITECTURE.md §7).

* :mod:`~statesync.crypto.aead` — AES-256-GCM with associated data, HKDF subkeys.
* :mod:`~statesync.sync.store.keyring` — per-environment data keys, one keyring
  per key generation, wrapped for every recipient.
* :mod:`~statesync.crypto.providers` — recipients/identities: passphrase,
  key file, AWS KMS, Azure Key Vault, GCP KMS (cloud SDKs imported lazily).
* :mod:`~statesync.crypto.signing` and :mod:`~statesync.crypto.trust` —
  Ed25519 signatures and the local trust policy.

Importing this package imports no cloud SDK.
"""
