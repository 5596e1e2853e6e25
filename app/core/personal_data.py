"""Personal data (passport, birth date, SNILS) at rest: AES-GCM with key ids, keyed hashes, masks.

152-FZ (DOMAIN.md, "Personal data"): store them encrypted, show them masked to everyone but
the person themself, never put them in logs.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12


class KeyConfigError(ValueError):
    """The encryption key settings cannot be used; the message names the setting."""


def parse_keys(spec: str) -> dict[str, bytes]:
    """Read 'kid:base64key,kid2:base64key' into a key ring of 32-byte keys."""
    ring: dict[str, bytes] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kid, sep, encoded = part.partition(":")
        if not sep or not kid:
            raise KeyConfigError("SIMREG_PD_KEYS entries must look like 'kid:base64key'")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise KeyConfigError(f"SIMREG_PD_KEYS key '{kid}' is not valid base64") from exc
        if len(key) != 32:
            raise KeyConfigError(f"SIMREG_PD_KEYS key '{kid}' must be 32 bytes (AES-256)")
        ring[kid] = key
    if not ring:
        raise KeyConfigError("SIMREG_PD_KEYS is empty; set at least one 'kid:base64key'")
    return ring


@dataclass(frozen=True)
class PersonalDataVault:
    """Encrypts and decrypts personal data, and hashes it for look-ups without decrypting."""

    keys: dict[str, bytes]
    active_key_id: str
    hash_key: bytes
    # One cipher object per key: building it per call would cost as much as encrypting.
    _ciphers: dict[str, AESGCM] = field(init=False, repr=False, compare=False)
    # BLAKE2b already keyed: a copy of it skips compressing the key block once per value.
    _keyed: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ciphers", {kid: AESGCM(key) for kid, key in self.keys.items()})
        object.__setattr__(self, "_keyed", hashlib.blake2b(key=self.hash_key[:64], digest_size=16))

    @classmethod
    def from_settings(cls, *, keys: str, active_key_id: str, hash_key: str) -> PersonalDataVault:
        """Build from the SIMREG_PD_* settings, refusing an unusable configuration."""
        ring = parse_keys(keys)
        if active_key_id not in ring:
            raise KeyConfigError(
                f"SIMREG_PD_ACTIVE_KEY_ID '{active_key_id}' is not among SIMREG_PD_KEYS"
            )
        if len(hash_key) < 16:
            raise KeyConfigError("SIMREG_PD_HASH_KEY must be at least 16 characters")
        return cls(keys=ring, active_key_id=active_key_id, hash_key=hash_key.encode())

    def seal(self, payload: dict[str, Any]) -> bytes:
        """Encrypt a small JSON document; the key id travels inside the blob."""
        return self.seal_many([orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)])[0]

    def seal_many(self, documents: Sequence[bytes]) -> list[bytes]:
        """Encrypt JSON documents already serialised (bulk paths build them in columns); the
        one place the blob is laid out: key id length, key id, nonce, ciphertext.

        One call to the random source serves every nonce, so the loop left per document is
        the encryption itself."""
        kid = self.active_key_id.encode()
        prefix = bytes([len(kid)]) + kid
        encrypt = self._aead(self.active_key_id).encrypt
        nonces = os.urandom(_NONCE * len(documents))
        sealed: list[bytes] = []
        for i, plaintext in enumerate(documents):
            nonce = nonces[i * _NONCE : (i + 1) * _NONCE]
            sealed.append(prefix + nonce + encrypt(nonce, plaintext, kid))
        return sealed

    def open(self, blob: bytes) -> dict[str, Any]:
        """Decrypt a blob sealed under any key still in the ring."""
        kid_len = blob[0]
        kid = blob[1 : 1 + kid_len]
        nonce = blob[1 + kid_len : 1 + kid_len + _NONCE]
        if kid.decode() not in self.keys:
            raise KeyConfigError(f"key '{kid.decode()}' is not in SIMREG_PD_KEYS; add it back")
        plaintext = self._aead(kid.decode()).decrypt(nonce, blob[1 + kid_len + _NONCE :], kid)
        result: dict[str, Any] = orjson.loads(plaintext)
        return result

    def _aead(self, kid: str) -> AESGCM:
        return self._ciphers[kid]

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        """The key id a blob was sealed under (to find rows to re-encrypt)."""
        return blob[1 : 1 + blob[0]].decode()

    def raw_hash(self, prefixed: str) -> str:
        """`lookup_hash` for a value already written as 'kind:value' (bulk paths build it)."""
        hasher = self._keyed.copy()
        hasher.update(prefixed.encode())
        return str(hasher.hexdigest())

    def lookup_hash(self, kind: str, value: str) -> str:
        """Keyed hash for equality look-ups; `kind` keeps equal values of other fields apart.

        Keyed BLAKE2b is a MAC in its own right and about twice as fast as HMAC-SHA256,
        which counts when an upload hashes millions of fields."""
        return self.raw_hash(f"{kind}:{value}")


def mask_passport(series: str, number: str) -> str:
    """'4512', '345678' -> '45** ***678'."""
    return f"{series[:2]}** ***{number[-3:]}"


def mask_birth_date(value: dt.date | str) -> str:
    """Only the year stays visible."""
    year = value.year if isinstance(value, dt.date) else str(value)[:4]
    return f"**.**.{year}"


def mask_snils(snils: str) -> str:
    """Only the check digits stay visible."""
    return f"***-***-*** {snils[-2:]}"
