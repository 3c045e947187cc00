"""Encode messages with msgpack and optionally encrypt them with Fernet."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable
from typing import Any

import msgpack

__all__ = ["Codec", "DecodeError"]

logger = logging.getLogger(__name__)


class DecodeError(ValueError):
    """Raised when a message body cannot be decrypted or unpacked."""


class Codec:
    """Turn message dicts into bytes and back; encrypt when keys are given.

    ``symmetric_encryption_keys`` is a list of secrets (str or bytes). Each is
    stretched with SHA-256 into a Fernet key; the first encrypts, all of them
    decrypt, so keys can be rotated by putting the new one first.
    """

    def __init__(self, symmetric_encryption_keys: Iterable[str | bytes] | None = None) -> None:
        self._fernet: Any = None
        if symmetric_encryption_keys is None:
            return
        if isinstance(symmetric_encryption_keys, str | bytes):
            raise TypeError(
                "symmetric_encryption_keys must be a list of keys, got a single "
                f"{type(symmetric_encryption_keys).__name__}; wrap it in a list."
            )
        keys = list(symmetric_encryption_keys)
        if not keys:
            raise ValueError(
                "symmetric_encryption_keys is an empty list; give at least one key or "
                "leave it out to disable encryption."
            )
        try:
            from cryptography.fernet import Fernet, MultiFernet
        except ImportError as exc:
            raise ImportError(
                "symmetric_encryption_keys needs the cryptography package: "
                "pip install 'asgi-rabbitmq[cryptography]'."
            ) from exc
        fernets = []
        for index, key in enumerate(keys):
            if not isinstance(key, str | bytes) or not key:
                raise TypeError(
                    f"symmetric_encryption_keys[{index}] is {key!r}; keys must be non-empty "
                    "str or bytes."
                )
            raw = key.encode("utf-8") if isinstance(key, str) else key
            fernets.append(Fernet(base64.urlsafe_b64encode(hashlib.sha256(raw).digest())))
        self._fernet = MultiFernet(fernets)

    @property
    def encrypted(self) -> bool:
        """Return True if bodies are encrypted."""
        return self._fernet is not None

    def encode(self, message: dict[str, Any]) -> bytes:
        """Return the msgpack bytes of ``message`` (not yet encrypted)."""
        return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]

    def seal(self, packed: bytes) -> bytes:
        """Encrypt ``packed`` if this codec has keys."""
        if self._fernet is None:
            return packed
        return self._fernet.encrypt(packed)  # type: ignore[no-any-return]

    def decode(self, body: bytes) -> dict[str, Any]:
        """Decrypt (if needed) and unpack a message body."""
        if self._fernet is not None:
            from cryptography.fernet import InvalidToken

            try:
                body = self._fernet.decrypt(body)
            except InvalidToken as exc:
                raise DecodeError(
                    "A message could not be decrypted with any of symmetric_encryption_keys; "
                    "every process on this layer needs the same keys."
                ) from exc
        try:
            message = msgpack.unpackb(body, raw=False)
        except (ValueError, msgpack.UnpackException) as exc:
            raise DecodeError(
                f"A message body of {len(body)} bytes is not valid msgpack; is another "
                "program (or an encrypted layer) using the same prefix?"
            ) from exc
        if not isinstance(message, dict):
            raise DecodeError(f"A message body decoded to {type(message).__name__}, not a dict.")
        return message
