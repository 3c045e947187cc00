"""POSIX shared-memory ASGI 1 channel layer for processes on one machine.

Use ``"BACKEND": "asgi_ipc.IPCChannelLayer"`` in ``CHANNEL_LAYERS``; run
``python -m asgi_ipc --help`` to inspect or remove a prefix's shared memory.
"""

from .layer import IPCChannelLayer

__all__ = ["IPCChannelLayer"]
__version__ = "2.0.0.dev0"
