"""The chat app: rooms, messages and their WebSocket consumers."""
