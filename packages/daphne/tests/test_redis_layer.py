"""A real Daphne process on the real Redis layer: bursts of replies arrive whole and in order.

Replies to one Daphne process share its ``daphne.response.X!`` queue, which
asgi_redis drains in batches (prefetch); these tests check that a burst to one
socket and a broadcast to many sockets arrive complete and in order per socket.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis
import websockets
from daphne_process import DaphneProcess

REDIS_URL = os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")
GROUP = "daphne-test-broadcast"


def _require_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        message = f"Redis at {REDIS_URL} is unreachable ({exc}); run scripts/services.sh start"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    finally:
        client.close()


class Worker:
    """Answer WebSocket events from Daphne: accept and join GROUP; "burst:N" sends N frames.

    Every websocket.receive and websocket.disconnect is also recorded per path,
    as ``(channel, order, text or code)``, in the order the worker got them.
    """

    def __init__(self) -> None:
        from redis_app import make_layer

        self.layer = make_layer()
        self.events: dict[str, list[tuple[str, int, object]]] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        layer = self.layer
        names = ["websocket.connect", "websocket.receive", "websocket.disconnect"]
        while not self.stopping.is_set():
            channel, message = layer.receive(names, block=True)
            if channel in ("websocket.receive", "websocket.disconnect"):
                detail = message.get("text") if channel == "websocket.receive" else message["code"]
                events = self.events.setdefault(message["path"], [])
                events.append((channel, message["order"], detail))
            if channel == "websocket.connect":
                layer.group_add(GROUP, message["reply_channel"])
                layer.send(message["reply_channel"], {"accept": True})
            elif channel == "websocket.receive" and message["text"].startswith("burst:"):
                for index in range(int(message["text"].split(":")[1])):
                    layer.send(message["reply_channel"], {"text": str(index)})
            elif channel == "websocket.disconnect":
                layer.group_discard(GROUP, message["reply_channel"])

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(30)
        self.layer.flush()
        self.layer.close()


@pytest.fixture(scope="module")
def redis_daphne() -> Iterator[tuple[DaphneProcess, Worker]]:
    _require_redis()
    prefix = f"daphne-test-{uuid.uuid4().hex[:10]}:"
    os.environ["DAPHNE_TEST_REDIS_PREFIX"] = prefix
    try:
        worker = Worker()
        process = DaphneProcess(
            ["-p", "0", "redis_app:channel_layer"], env={"DAPHNE_TEST_REDIS_PREFIX": prefix}
        )
    finally:
        del os.environ["DAPHNE_TEST_REDIS_PREFIX"]
    yield process, worker
    code = process.stop()
    worker.stop()
    assert code == 0, process.output()


def test_a_burst_of_replies_to_one_socket_arrives_in_order(
    redis_daphne: tuple[DaphneProcess, Worker],
) -> None:
    process, _ = redis_daphne

    async def scenario() -> list[str]:
        async with websockets.connect(f"ws://127.0.0.1:{process.port}/burst") as ws:
            await ws.send("burst:300")
            return [str(await asyncio.wait_for(ws.recv(), 60)) for _ in range(300)]

    assert asyncio.run(scenario()) == [str(index) for index in range(300)]


def test_a_broadcast_reaches_every_socket_in_order(
    redis_daphne: tuple[DaphneProcess, Worker],
) -> None:
    process, worker = redis_daphne
    sockets, messages = 25, 20

    async def scenario() -> list[list[str]]:
        clients = [
            await websockets.connect(f"ws://127.0.0.1:{process.port}/room") for _ in range(sockets)
        ]
        try:
            # Every socket is accepted only after the worker added it to the group.
            await asyncio.sleep(0)
            while len(worker.layer.group_channels(GROUP)) < sockets:
                await asyncio.sleep(0.05)
            for index in range(messages):
                worker.layer.send_group(GROUP, {"text": f"b{index}"})
            return [
                [str(await asyncio.wait_for(ws.recv(), 60)) for _ in range(messages)]
                for ws in clients
            ]
        finally:
            for ws in clients:
                await ws.close()

    received = asyncio.run(scenario())
    assert received == [[f"b{index}" for index in range(messages)]] * sockets


def test_frames_sent_just_before_close_reach_the_app_in_order_then_the_disconnect(
    redis_daphne: tuple[DaphneProcess, Worker],
) -> None:
    """Frames from many sockets share batched sends; each socket's order holds end to end.

    The layer does not order messages across channels, so the disconnect is
    checked by its ``order`` (what ``enforce_ordering`` uses): it must come
    right after the last frame, which means every frame was sent before it.
    """
    process, worker = redis_daphne
    sockets, frames = 10, 50

    async def one(index: int) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{process.port}/order/{index}") as ws:
            for number in range(frames):
                await ws.send(f"f{number}")
        # Leaving the block closes with 1000 right after the last frame.

    async def scenario() -> None:
        await asyncio.gather(*(one(index) for index in range(sockets)))

    asyncio.run(scenario())
    paths = [f"/order/{index}" for index in range(sockets)]

    def split(path: str) -> tuple[list[tuple[int, object]], list[tuple[int, object]]]:
        events = list(worker.events.get(path, ()))
        frames_seen = [(order, d) for channel, order, d in events if channel == "websocket.receive"]
        closes = [(order, d) for channel, order, d in events if channel == "websocket.disconnect"]
        return frames_seen, closes

    for _ in range(300):
        if all(len(split(path)[0]) >= frames and split(path)[1] for path in paths):
            break
        threading.Event().wait(0.1)
    for path in paths:
        frames_seen, closes = split(path)
        assert frames_seen == [(n + 1, f"f{n}") for n in range(frames)], path
        assert closes == [(frames + 1, 1000)], path
