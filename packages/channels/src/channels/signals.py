"""Django signals sent by workers around consumers and at start-up."""

from __future__ import annotations

from django.db import close_old_connections
from django.dispatch import Signal

__all__ = ["consumer_finished", "consumer_started", "worker_process_ready", "worker_ready"]

#: Sent before a consumer runs (keyword arguments ``environ`` and ``message``).
consumer_started = Signal()
#: Sent after a consumer ran (even if it raised); buffered sends are flushed then.
consumer_finished = Signal()
#: Sent by each worker (thread) when it is about to start taking messages.
worker_ready = Signal()
#: Sent once per worker process, when all its workers are about to start.
worker_process_ready = Signal()

# Like Django's request_started/request_finished: never run a consumer on a
# connection that went stale while the worker was idle.
consumer_started.connect(close_old_connections, dispatch_uid="channels.close_old_connections")
consumer_finished.connect(close_old_connections, dispatch_uid="channels.close_old_connections")
