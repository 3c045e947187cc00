"""The hiredis fast path: error replies, and a forked child never shares its parent's socket."""

from __future__ import annotations

import gc
import os
import threading
import warnings
from collections.abc import Callable

import pytest
from asgi_redis import RedisChannelLayer
from asgi_redis._fastpath import HAVE_HIREDIS
from redis.exceptions import ResponseError

MakeLayer = Callable[..., RedisChannelLayer]

pytestmark = pytest.mark.skipif(not HAVE_HIREDIS, reason="hiredis is not installed")


def test_an_error_reply_raises_and_the_connection_stays_usable(make_layer: MakeLayer) -> None:
    layer = make_layer()
    assert layer._fast is not None
    with pytest.raises(ResponseError, match="unknown command"):
        layer._fast.call(0, ("NOSUCHCOMMAND",))
    assert layer._fast.call(0, ("PING",)) == b"PONG"


def test_a_forked_child_uses_its_own_connection(make_layer: MakeLayer) -> None:
    layer = make_layer()
    layer.send("fork.test", {"n": 1})
    assert layer._fast is not None
    parent_connection = layer._fast._connection(0)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            fresh = layer._fast._connection(0) is not parent_connection
            layer.send("fork.test", {"n": 2})
            code = 0 if fresh else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert layer.receive(["fork.test"]) == ("fork.test", {"n": 1})
    assert layer.receive(["fork.test"]) == ("fork.test", {"n": 2})
    assert layer._fast._connection(0) is parent_connection


def test_a_finished_thread_leaves_no_socket_open(make_layer: MakeLayer) -> None:
    layer = make_layer()
    thread = threading.Thread(target=layer.send, args=("thread.test", {"n": 1}))
    thread.start()
    thread.join(30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert layer.receive(["thread.test"]) == ("thread.test", {"n": 1})
