"""AES-256-GCM for cache entries that hold PII.

The cache key is the associated data, so a sealed value copied under another key (another
user's) fails to open. Each sealed value names its key id: the active key seals, every
configured key opens, so keys rotate without flushing the cache.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12


class SealError(Exception):
    """A sealed value could not be opened (unknown key id, tampered, or moved)."""


class Sealer:
    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ValueError(f"active key {active_key_id!r} is not among the keys {sorted(keys)}")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self._active = active_key_id

    @classmethod
    def ephemeral(cls) -> Sealer:
        """A random key for a single process (the in-process cache needs nothing shared)."""
        return cls({"ephemeral": AESGCM.generate_key(bit_length=256)}, "ephemeral")

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        kid = self._active.encode()
        nonce = os.urandom(_NONCE)
        return bytes([len(kid)]) + kid + nonce + self._ciphers[self._active].encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        try:
            kid_length = sealed[0]
            kid = sealed[1 : 1 + kid_length].decode()
            nonce = sealed[1 + kid_length : 1 + kid_length + _NONCE]
            cipher = self._ciphers[kid]
            return cipher.decrypt(nonce, sealed[1 + kid_length + _NONCE :], aad)
        except (IndexError, UnicodeDecodeError, KeyError, InvalidTag, ValueError) as exc:
            raise SealError(f"cannot open sealed cache entry: {type(exc).__name__}") from exc


__all__ = ["SealError", "Sealer"]
