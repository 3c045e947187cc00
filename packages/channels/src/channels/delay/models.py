"""``DelayedMessage``: a message waiting in the database until it is due.

The content is stored as JSON text. ASGI messages may hold bytes, which JSON
cannot, so bytes are stored as ``{"__bytes__": "<base64>"}``; a dict that
itself has a ``__bytes__`` or ``__dict__`` key is wrapped as
``{"__dict__": {...}}`` so that decoding gives back exactly what was stored.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django.db import models

__all__ = ["DelayedMessage", "decode_content", "encode_content"]

_BYTES = "__bytes__"
_DICT = "__dict__"


def _encode(value: Any, where: str) -> Any:
    if isinstance(value, bytes):
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        encoded = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"Message content keys must be str; {where} has the key {key!r} "
                    f"({type(key).__name__})."
                )
            encoded[key] = _encode(item, f"{where}[{key!r}]")
        if _BYTES in value or _DICT in value:
            return {_DICT: encoded}
        return encoded
    if isinstance(value, list | tuple):
        return [_encode(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(
        f"Message content may hold dict, list, str, bytes, int, float, bool and None; "
        f"{where} is {type(value).__name__} {value!r:.80}."
    )


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _BYTES in value:
            return base64.b64decode(value[_BYTES])
        if len(value) == 1 and _DICT in value:
            return {key: _decode(item) for key, item in value[_DICT].items()}
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def encode_content(content: dict[str, Any]) -> str:
    """Return ``content`` as JSON text (bytes kept); raise TypeError for unstorable values."""
    if not isinstance(content, dict):
        raise TypeError(f"Message content must be a dict, got {type(content).__name__}.")
    return json.dumps(_encode(content, "content"), separators=(",", ":"))


def decode_content(text: str) -> dict[str, Any]:
    """Return the message content stored as ``text`` by :func:`encode_content`."""
    content = _decode(json.loads(text))
    if not isinstance(content, dict):
        raise ValueError(f"Stored message content is not a dict: {text!r:.80}")
    return content


class DelayedMessage(models.Model):  # type: ignore[misc]
    """A message for ``channel_name`` to be sent at ``due_date``."""

    due_date = models.DateTimeField(db_index=True)
    channel_name = models.CharField(max_length=200)
    content = models.TextField()
    #: How many times sending it found the channel full.
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["due_date", "id"]
        verbose_name = "delayed message"

    def __str__(self) -> str:
        return f"message for {self.channel_name} due {self.due_date.isoformat()}"

    @property
    def message(self) -> dict[str, Any]:
        """Return the stored content as a dict (bytes restored)."""
        return decode_content(self.content)

    @message.setter
    def message(self, content: dict[str, Any]) -> None:
        self.content = encode_content(content)
