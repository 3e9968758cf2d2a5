"""Encryption keys for Temporal payloads: several readable, one current for writing.

The keyring lives outside the repository: a file (CONFIDE_KEYRING_FILE, default var/keyring.json,
which `confide dev` creates on first start) or the JSON itself in CONFIDE_KEYRING (for secret
stores that inject environment variables). Rotation adds a key and makes it current; old keys
stay so cases started under them still decode, replay and complete.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, model_validator

from infra.secret_files import write_private


class UnknownKeyId(KeyError):
    """A payload names a key the keyring does not hold."""

    def __str__(self) -> str:
        return f"payload encrypted with key id {self.args[0]!r}, which is not in the keyring"


class Keyring(BaseModel):
    """Key id -> base64 AES-256 key; `current` encrypts, every key decrypts."""

    current: str
    keys: dict[str, str]

    @model_validator(mode="after")
    def _valid(self) -> Keyring:
        if self.current not in self.keys:
            raise ValueError(f"current key {self.current!r} is not in the keyring")
        for kid, value in self.keys.items():
            if len(base64.b64decode(value)) != 32:
                raise ValueError(f"key {kid!r} is not 32 bytes (AES-256)")
        return self

    def key(self, kid: str) -> bytes:
        """The key bytes for a key id."""
        try:
            return base64.b64decode(self.keys[kid])
        except KeyError:
            raise UnknownKeyId(kid) from None

    @classmethod
    def generate(cls) -> Keyring:
        """A keyring with one fresh key."""
        return _with_new_key({})

    def rotated(self) -> Keyring:
        """A copy with a new current key; the old keys stay readable."""
        return _with_new_key(dict(self.keys))

    def dump(self, path: Path) -> None:
        """Write the keyring, readable by its owner only."""
        write_private(path, self.model_dump_json(indent=1))

    @classmethod
    def from_env(cls, default_file: Path) -> Keyring:
        """CONFIDE_KEYRING (JSON), else CONFIDE_KEYRING_FILE, else `default_file`."""
        if raw := os.environ.get("CONFIDE_KEYRING"):
            return cls.model_validate(json.loads(raw))
        path = Path(os.environ.get("CONFIDE_KEYRING_FILE") or default_file)
        if not path.exists():
            raise SystemExit(
                f"no keyring at {path}: set CONFIDE_KEYRING_FILE or CONFIDE_KEYRING, "
                "or run `confide dev`, which creates a development keyring"
            )
        return cls.model_validate_json(path.read_text())


def _with_new_key(keys: dict[str, str]) -> Keyring:
    kid = f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"
    keys[kid] = base64.b64encode(secrets.token_bytes(32)).decode()
    return Keyring(current=kid, keys=keys)
