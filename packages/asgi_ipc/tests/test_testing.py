"""asgi_ipc.testing: temporary layers leave nothing in /dev/shm."""

from __future__ import annotations

import subprocess
import sys

from .conftest import leftovers

SCRIPT = """
from asgi_ipc.testing import TemporaryIPCChannelLayer, session_prefix
first = TemporaryIPCChannelLayer(message_memory=1 << 20, group_memory=1 << 18, receive_timeout=0.05)
second = TemporaryIPCChannelLayer()
first.send("shared", {"n": 1})
assert second.receive(["shared"]) == ("shared", {"n": 1})
first.receive(["nothing"], block=True)  # creates a waiter semaphore too
print(session_prefix())
"""


def test_temporary_layers_share_a_prefix_and_remove_it_at_exit() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    prefix = result.stdout.strip()
    assert prefix.startswith("tmp-")
    assert leftovers(prefix) == []
