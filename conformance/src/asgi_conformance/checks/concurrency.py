"""Concurrency checks: several threads sending and receiving lose and duplicate nothing.

Senders retry a send that raised ChannelFull (the layer refused it, so it is
not in flight). At most ``_WINDOW`` numbered messages are in flight at once, so
none waits long in a queue: with test settings the expiry is about a second,
and a message that expired unread would look lost on a loaded machine.
Receivers block on all channels and stop on a sentinel, one per receiver, sent
once every numbered message has arrived, so nobody waits out a receive timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from asgi_conformance.context import CheckContext
from asgi_conformance.registry import check

__all__: list[str] = []

logger = logging.getLogger(__name__)

_SENDERS = 4
_RECEIVERS = 3
_PER_SENDER = 40
_WINDOW = 8


@check("concurrency.threads")
def threads(ctx: CheckContext) -> None:
    """Several threads sending and receiving at once: no message lost or duplicated."""
    plain_a, plain_b = ctx.name("a"), ctx.name("b")
    prefix = ctx.name("proc") + "!"
    listen = [plain_a, plain_b, prefix]
    deadline = time.monotonic() + ctx.profile.block_limit
    received: list[tuple[str, Any]] = []
    received_lock = threading.Lock()
    all_in = threading.Event()
    errors: list[BaseException] = []
    expected_total = _SENDERS * _PER_SENDER
    in_flight = threading.BoundedSemaphore(_WINDOW)

    def destination(sender: int, seq: int) -> str:
        return (plain_a, plain_b, f"{prefix}s{sender}")[seq % 3]

    def send(channel: str, message: dict[str, Any]) -> None:
        while time.monotonic() < deadline:
            try:
                ctx.layer.send(channel, message)
                return
            except ctx.layer.ChannelFull:
                time.sleep(0.002)
        raise TimeoutError(f"{channel!r} stayed full until the deadline")

    def sender(index: int) -> None:
        try:
            for seq in range(_PER_SENDER):
                # A lost message never frees its place: stop at the deadline, report it missing.
                if not in_flight.acquire(timeout=max(0.0, deadline - time.monotonic())):
                    return
                send(destination(index, seq), {"sender": index, "seq": seq, "pad": "x" * seq})
        except BaseException as exc:
            errors.append(exc)

    def receiver() -> None:
        try:
            while time.monotonic() < deadline:
                channel, message = ctx.layer.receive(listen, block=True)
                if channel is None:
                    continue
                if message.get("stop"):
                    return
                with received_lock:
                    received.append((channel, message))
                    if len(received) >= expected_total:
                        all_in.set()
                try:
                    in_flight.release()
                except ValueError:
                    pass  # a duplicate delivery; reported below
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=receiver, daemon=True) for _ in range(_RECEIVERS)]
    workers += [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(_SENDERS)]
    for worker in workers:
        worker.start()
    all_in.wait(max(0.0, deadline - time.monotonic()))
    for _ in range(_RECEIVERS):
        send(plain_a, {"stop": True})
    for worker in workers:
        worker.join(max(0.1, deadline - time.monotonic()))
    if errors:
        raise errors[0]
    ctx.expect(
        not any(worker.is_alive() for worker in workers),
        f"threads still running after {ctx.profile.block_limit} s",
    )
    keys = Counter((message["sender"], message["seq"]) for _channel, message in received)
    duplicates = sorted(key for key, count in keys.items() if count > 1)
    missing = [
        (index, seq)
        for index in range(_SENDERS)
        for seq in range(_PER_SENDER)
        if (index, seq) not in keys
    ]
    ctx.expect(not duplicates, f"messages received more than once (sender, seq): {duplicates}")
    ctx.expect(
        not missing,
        f"{len(missing)} of {expected_total} messages never arrived (sender, seq): "
        f"{missing[:10]} (expiry is {ctx.profile.expiry} s)",
    )
    for channel, message in received:
        wanted = destination(message["sender"], message["seq"])
        ctx.expect_equal(channel, wanted, f"channel of message {message['sender'], message['seq']}")
        ctx.expect_equal(message["pad"], "x" * message["seq"], "message body")
