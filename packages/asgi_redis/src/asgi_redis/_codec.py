"""Turn messages into bytes and back: msgpack, optionally sealed with Fernet.

Messages are packed with msgpack (bin type on, ``raw=False``), so bytes and str
stay distinct. With ``symmetric_encryption_keys`` the packed bytes are
encrypted with :class:`cryptography.fernet.MultiFernet`: the first key
encrypts, every key decrypts, which is how keys are rotated (put the new key
first, deploy everywhere, then drop the old key once old messages expired).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import msgpack

__all__ = ["Codec", "MessageDecodeError", "entry_channel"]

logger = logging.getLogger(__name__)

# Every Fernet token starts with version byte 0x80, base64-encoded as "gAAAAA".
_FERNET_MARK = b"gAAAAA"


def entry_channel(entry: bytes) -> str:
    """Return the channel of a queue entry (``<13-digit expiry ms><channel>\\0<payload>``)."""
    return entry[13 : entry.index(b"\0", 13)].decode("ascii")


class MessageDecodeError(ValueError):
    """Raised when a received message cannot be decrypted or unpacked."""


class Codec:
    """Encode and decode message payloads for one layer configuration."""

    def __init__(self, symmetric_encryption_keys: Sequence[str | bytes] | None = None) -> None:
        self._fernet: Any = None
        if symmetric_encryption_keys is None:
            return
        if isinstance(symmetric_encryption_keys, str | bytes) or not isinstance(
            symmetric_encryption_keys, Sequence
        ):
            raise ValueError(
                f"symmetric_encryption_keys is {type(symmetric_encryption_keys).__name__}; it "
                "must be a list of keys, newest first, e.g. [SECRET_KEY]."
            )
        if not symmetric_encryption_keys:
            raise ValueError(
                "symmetric_encryption_keys is empty; give at least one key or leave it None."
            )
        try:
            from cryptography.fernet import Fernet, MultiFernet
        except ImportError as exc:
            raise ValueError(
                "symmetric_encryption_keys needs the cryptography package; install "
                "asgi-redis[cryptography]."
            ) from exc
        fernets = [
            Fernet(_derive_key(key, index)) for index, key in enumerate(symmetric_encryption_keys)
        ]
        self._fernet = MultiFernet(fernets)

    @property
    def encrypted(self) -> bool:
        """Return True if payloads are encrypted."""
        return self._fernet is not None

    def packed_size(self, message: dict[str, Any]) -> tuple[bytes, int]:
        """Return ``(payload, size of the unencrypted msgpack encoding)``."""
        packed: bytes = msgpack.packb(message, use_bin_type=True)
        size = len(packed)
        if self._fernet is not None:
            return self._fernet.encrypt(packed), size
        return packed, size

    def decode(self, payload: bytes, channel: str) -> dict[str, Any]:
        """Return the message in ``payload``; raise MessageDecodeError if it is unreadable."""
        if self._fernet is not None:
            from cryptography.fernet import InvalidToken

            try:
                payload = self._fernet.decrypt(payload)
            except InvalidToken as exc:
                raise MessageDecodeError(
                    f"A message on {channel!r} could not be decrypted: it was sent unencrypted "
                    "or with a key missing from symmetric_encryption_keys. Give every process "
                    "the same keys (new key first while rotating). The message was dropped."
                ) from exc
        elif payload.startswith(_FERNET_MARK):
            raise MessageDecodeError(
                f"A message on {channel!r} is encrypted but this layer has no "
                "symmetric_encryption_keys; configure the same keys as the sender. The "
                "message was dropped."
            )
        try:
            message = msgpack.unpackb(payload, raw=False)
        except (ValueError, msgpack.UnpackException) as exc:
            raise MessageDecodeError(
                f"A message on {channel!r} is not valid msgpack ({exc}); was it written by "
                "another program or another asgi_redis version? The message was dropped."
            ) from exc
        if not isinstance(message, dict):
            raise MessageDecodeError(
                f"A message on {channel!r} decoded to {type(message).__name__}, not a dict. "
                "The message was dropped."
            )
        return message


def _derive_key(key: str | bytes, index: int) -> bytes:
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes) or not key:
        raise ValueError(
            f"symmetric_encryption_keys[{index}] is {key!r}; each key must be a non-empty "
            "str or bytes."
        )
    return base64.urlsafe_b64encode(hashlib.sha256(key).digest())
