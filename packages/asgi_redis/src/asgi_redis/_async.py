"""One set of redis.asyncio clients per event loop, closed when the loop shuts down.

How this works
--------------
redis.asyncio connections belong to the event loop that opened them, so the
layer keeps one client per shard *per loop* (never per call) in a
:class:`weakref.WeakKeyDictionary` keyed by the loop: when a loop is garbage
collected its entry goes too. To close the sockets cleanly before the loop
closes, each entry starts a tiny async generator that sits at its ``yield``;
``loop.shutdown_asyncgens()`` (which ``asyncio.run`` calls) finalizes it, and
its ``finally`` closes the clients while the loop still runs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any

__all__ = ["LoopClients"]

logger = logging.getLogger(__name__)


class _Entry:
    __slots__ = ("clients", "closer")

    def __init__(self, clients: list[Any]) -> None:
        self.clients = clients
        self.closer: AsyncGenerator[None, None] | None = None


async def _close_at_shutdown(entry: _Entry) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        clients, entry.clients = entry.clients, []
        for client in clients:
            try:
                await client.aclose()
            except Exception:  # a broken connection must not stop the others closing
                logger.debug("Error closing a Redis client at loop shutdown", exc_info=True)


class LoopClients:
    """Hand out the current event loop's clients, creating them on first use."""

    def __init__(self, factory: Callable[[], list[Any]]) -> None:
        self._factory = factory
        self._entries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Entry] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    async def get(self) -> list[Any]:
        """Return the clients of the running loop, one per shard."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._entries.get(loop)
            if entry is not None and entry.clients:
                return entry.clients
            entry = _Entry(self._factory())
            self._entries[loop] = entry
        closer = _close_at_shutdown(entry)
        entry.closer = closer
        await closer.__anext__()
        return entry.clients

    async def aclose(self) -> None:
        """Close the running loop's clients now."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._entries.pop(loop, None)
        if entry is not None and entry.closer is not None:
            await entry.closer.aclose()

    def __len__(self) -> int:
        return len(self._entries)
