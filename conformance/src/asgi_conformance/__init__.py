"""ASGI 1 channel-layer conformance suite."""

__all__: list[str] = []
