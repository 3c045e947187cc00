"""Blocking and async receive, many threads, separate processes and fork."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from asgi_ipc import IPCChannelLayer

from .test_core import assert_consistent

# The wait is 30 s; a wake-up that works returns long before half of it.
WAIT = 30.0


def run_child(tmp_path: Path, body: str, *args: str) -> subprocess.Popen[str]:
    """Start a Python child running ``body`` with ``args`` in sys.argv."""
    script = tmp_path / f"child{time.monotonic_ns()}.py"
    script.write_text(
        "import sys\nfrom asgi_ipc import IPCChannelLayer\n"
        "def make(**kw):\n"
        "    return IPCChannelLayer(prefix=sys.argv[1], message_memory=1 << 20,"
        " group_memory=1 << 18, **kw)\n" + textwrap.dedent(body)
    )
    return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True)


def reap(child: subprocess.Popen[str]) -> None:
    """Kill ``child`` if it still runs, wait for it and close its pipe."""
    if child.poll() is None:
        child.kill()
        child.wait()
    if child.stdout is not None:
        child.stdout.close()


def test_blocking_receive_wakes_when_another_thread_sends(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    receiver = make_layer(receive_timeout=WAIT)
    sender = make_layer()
    result: list[object] = []

    def receive() -> None:
        started = time.monotonic()
        result.append(receiver.receive(["wake", "other"], block=True))
        result.append(time.monotonic() - started)

    thread = threading.Thread(target=receive)
    thread.start()
    time.sleep(0.2)
    sender.send("wake", {"n": 1})
    thread.join(WAIT + 10)
    assert result[0] == ("wake", {"n": 1})
    assert result[1] < WAIT / 2, "the receiver slept until its timeout instead of waking"
    assert receiver._waiters.slot_pids() == {}


def test_blocking_receive_gives_up_after_receive_timeout(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    layer = make_layer(receive_timeout=0.2)
    assert layer.receive(["nothing"], block=True) == (None, None)
    assert layer._waiters.slot_pids() == {}


def test_many_threads_deliver_every_message_exactly_once(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    layer = make_layer(capacity=10_000, receive_timeout=2)
    senders, per_sender = 6, 300
    received: list[tuple[int, int]] = []
    lock = threading.Lock()
    done = threading.Event()

    def send(sender: int) -> None:
        for number in range(per_sender):
            layer.send("work", {"s": sender, "n": number})

    def receive() -> None:
        other = make_layer(receive_timeout=0.5)
        while not done.is_set():
            channel, message = other.receive(["work"], block=True)
            if channel is not None:
                with lock:
                    received.append((message["s"], message["n"]))

    readers = [threading.Thread(target=receive) for _ in range(4)]
    writers = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join(120)
    deadline = time.monotonic() + 60
    while len(received) < senders * per_sender and time.monotonic() < deadline:
        time.sleep(0.05)
    done.set()
    for thread in readers:
        thread.join(30)
    assert Counter(received) == Counter((s, n) for s in range(senders) for n in range(per_sender))
    assert_consistent(layer)


def test_separate_processes_send_and_receive(
    make_layer: Callable[..., IPCChannelLayer], prefix: str, tmp_path: Path
) -> None:
    layer = make_layer(receive_timeout=WAIT, capacity=1000)
    echo = run_child(
        tmp_path,
        """
        layer = make(receive_timeout=30)
        print("ready", flush=True)
        while True:
            channel, message = layer.receive(["ping"], block=True)
            if message is None or message.get("stop"):
                break
            layer.send(message["reply"], {"echo": message["n"]})
        """,
        prefix,
    )
    producers = [
        run_child(
            tmp_path,
            """
            layer = make(capacity=1000)
            for n in range(200):
                layer.send("bulk", {"who": sys.argv[2], "n": n})
            """,
            prefix,
            str(index),
        )
        for index in range(3)
    ]
    try:
        assert echo.stdout is not None and echo.stdout.readline().strip() == "ready"
        reply = layer.new_channel("reply?")
        for number in range(20):
            layer.send("ping", {"n": number, "reply": reply})
            assert layer.receive([reply], block=True) == (reply, {"echo": number})
        seen: dict[str, list[int]] = {}
        while sum(len(numbers) for numbers in seen.values()) < 600:
            channel, message = layer.receive(["bulk"], block=True)
            assert channel == "bulk", "producers stopped before sending everything"
            seen.setdefault(message["who"], []).append(message["n"])
        assert seen == {str(index): list(range(200)) for index in range(3)}
        layer.send("ping", {"stop": True})
        assert echo.wait(60) == 0
        assert all(producer.wait(60) == 0 for producer in producers)
    finally:
        for child in [echo, *producers]:
            if child.poll() is None:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()
    assert_consistent(layer)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_layer_created_before_fork_still_locks_correctly(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    layer = make_layer(capacity=10_000)
    layer.send("warm", {})
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            for number in range(500):
                layer.send("forked", {"child": number})
        except BaseException:
            code = 1
        os._exit(code)
    for number in range(500):
        layer.send("forked", {"parent": number})
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    counts = Counter()
    while (found := layer.receive(["forked"]))[0]:
        counts.update(found[1].keys())
    assert counts == {"child": 500, "parent": 500}
    assert_consistent(layer)


def test_receive_async_wakes_without_blocking_the_loop(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    layer = make_layer(receive_timeout=WAIT)
    sender = make_layer()

    async def scenario() -> tuple[object, int, float]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        threading.Timer(0.3, sender.send, args=("async", {"ok": 1})).start()
        started = time.monotonic()
        result = await layer.receive_async(["async"])
        elapsed = time.monotonic() - started
        tick_task.cancel()
        return result, ticks, elapsed

    result, ticks, elapsed = asyncio.run(scenario())
    assert result == ("async", {"ok": 1})
    assert ticks > 0, "the event loop was blocked while waiting"
    assert elapsed < WAIT / 2
    assert layer._waiters.slot_pids() == {}


def test_cancelled_receive_async_frees_its_waiter_slot(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    layer = make_layer(receive_timeout=WAIT)

    async def scenario() -> None:
        task = asyncio.create_task(layer.receive_async(["never"]))
        await asyncio.sleep(0.2)
        assert len(layer._waiters.slot_pids()) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert layer._waiters.slot_pids() == {}
    layer.send("never", {"kept": True})
    assert layer.receive(["never"]) == ("never", {"kept": True})


def test_receive_async_returns_queued_message_and_times_out(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    layer = make_layer(receive_timeout=0.2)
    layer.send("ready", {"n": 1})

    async def scenario() -> tuple[object, object]:
        return await layer.receive_async(["ready"]), await layer.receive_async(["ready"])

    assert asyncio.run(scenario()) == (("ready", {"n": 1}), (None, None))
