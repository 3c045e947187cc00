"""Daphne: the HTTP, HTTP/2 and WebSocket interface server for ASGI 1 channel layers."""

__version__ = "2.0.0.dev0"

__all__ = ["__version__"]
