"""Chat messages, saved by the chat-messages consumer."""

from typing import Any

from django.db import models


class ChatMessage(models.Model):
    """One line said in a room."""

    room = models.CharField(max_length=100, db_index=True)
    username = models.CharField(max_length=150)
    message = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"[{self.room}] {self.username}: {self.message[:50]}"

    def as_dict(self) -> dict[str, Any]:
        """Return what the browser gets for this message."""
        return {
            "room": self.room,
            "username": self.username,
            "message": self.message,
            "created": self.created.isoformat(),
        }
