"""Test helpers: an IPC layer whose shared memory disappears when the process exits.

Use :class:`TemporaryIPCChannelLayer` in tests (yours, or the conformance
suite: ``python -m asgi_conformance asgi_ipc.testing:TemporaryIPCChannelLayer``)
so that test runs never leave segments or semaphores behind in ``/dev/shm``,
or call :func:`remove_prefix` yourself (the ``python -m asgi_ipc remove``
command as a function).
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import threading
from typing import Any

from ._segment import remove_prefix
from .layer import IPCChannelLayer

__all__ = ["TemporaryIPCChannelLayer", "remove_prefix", "session_prefix"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_registered: set[str] = set()
_session: dict[int, str] = {}


def session_prefix() -> str:
    """Return this process's random prefix, the same for every call."""
    with _lock:
        pid = os.getpid()
        if pid not in _session:
            _session[pid] = f"tmp-{pid}-{secrets.token_hex(4)}"
        return _session[pid]


def _remove_at_exit(prefix: str) -> None:
    with _lock:
        if prefix in _registered:
            return
        _registered.add(prefix)
    creator = os.getpid()

    def remove() -> None:
        if os.getpid() == creator:  # not in forked children
            removed = remove_prefix(prefix)
            logger.debug("Removed %s at exit", removed)

    atexit.register(remove)


class TemporaryIPCChannelLayer(IPCChannelLayer):
    """An :class:`~asgi_ipc.IPCChannelLayer` whose prefix is removed at interpreter exit.

    Without ``prefix`` every instance in the process shares one random prefix,
    so separate instances still see each other's messages, as the instances of
    a real deployment do.
    """

    def __init__(self, prefix: str | None = None, **options: Any) -> None:
        chosen = session_prefix() if prefix is None else prefix
        super().__init__(prefix=chosen, **options)
        _remove_at_exit(chosen)
