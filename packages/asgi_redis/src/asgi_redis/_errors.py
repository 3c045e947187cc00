"""The exception raised when a Redis server cannot be reached."""

from __future__ import annotations

__all__ = ["RedisUnavailableError", "unavailable"]


class RedisUnavailableError(ConnectionError):
    """Raised when a Redis server of the layer is down or unreachable.

    It is a :class:`ConnectionError`; the layer keeps working once the server
    is back, without being re-created.
    """


def unavailable(server: str, exc: BaseException) -> RedisUnavailableError:
    """Return the error to raise for a failed call to ``server``."""
    return RedisUnavailableError(
        f"Redis at {server} is unavailable ({exc}); the call was not completed. The layer "
        "reconnects by itself on the next call once the server is back."
    )
