"""AES-256-GCM payload codec: every payload Temporal stores or shows is ciphertext.

Each encoded payload is the whole original payload (metadata and data) encrypted, with the key
id in clear metadata so a rotated keyring still finds the right key. The key id is also the
associated data, so a payload moved under another key id fails authentication.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from infra.keyring import Keyring

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


class PayloadTampered(ValueError):
    """A payload's ciphertext does not authenticate under its key."""


class EncryptionCodec(PayloadCodec):
    """Encrypts with the keyring's current key; decrypts with whichever key a payload names."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._ciphers: dict[str, AESGCM] = {}

    def _cipher(self, kid: str) -> AESGCM:
        if kid not in self._ciphers:
            self._ciphers[kid] = AESGCM(self.keyring.key(kid))
        return self._ciphers[kid]

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload with the current key."""
        kid = self.keyring.current
        cipher = self._cipher(kid)
        out = []
        for p in payloads:
            nonce = os.urandom(12)
            sealed = cipher.encrypt(nonce, p.SerializeToString(), kid.encode())
            out.append(
                Payload(metadata={"encoding": ENCODING, KEY_ID: kid.encode()}, data=nonce + sealed)
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads; pass others (e.g. written before encryption) through."""
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)
                continue
            kid = p.metadata[KEY_ID].decode()
            try:
                plain = self._cipher(kid).decrypt(p.data[:12], p.data[12:], kid.encode())
            except InvalidTag:
                raise PayloadTampered(
                    f"payload under key id {kid!r} failed authentication (altered or wrong key)"
                ) from None
            out.append(Payload.FromString(plain))
        return out
