"""Security helpers for consumers (WebSocket origin checks)."""
