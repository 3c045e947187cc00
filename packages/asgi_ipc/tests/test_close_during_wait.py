"""Closing a layer while receive_async waits in its pool must never crash the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio
    from asgi_ipc.testing import TemporaryIPCChannelLayer, remove_prefix

    async def one_round(index):
        layer = TemporaryIPCChannelLayer(receive_timeout=5)
        task = asyncio.ensure_future(layer.receive_async(["nothing"]))
        await asyncio.sleep(0.01 if index % 2 else 0)
        if index % 3:
            task.cancel()
        layer.close()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass
        remove_prefix(layer.prefix)

    async def main():
        for index in range(60):
            await one_round(index)

    asyncio.run(main())
    print("survived")
    """
)


def test_closing_while_a_pool_thread_waits_does_not_crash() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "survived"
