"""Consumers that answer simply and record every message they receive.

Each worker process appends one JSON line per message to
``$STACK_RECORD_DIR/<pid>.jsonl`` (bytes as latin-1 text), so a test can
prove what reached a worker, and what never did.

HTTP paths: ``/hello`` answers ``hello <pid>``; ``/slow/<seconds>`` sleeps
first; ``/echo`` answers with a JSON view of the request message; anything
else answers ``ok``. WebSocket: every handshake is accepted; a socket opened
on ``/room/<name>`` is in ``Group("room-<name>")`` until it disconnects; text
``join:<name>`` adds the socket to ``Group("room-<name>")``, ``say:<name>:<text>``
sends ``<text>`` to that group, anything else is echoed.
"""

import json
import logging
import os
import re
import time
from typing import Any

from channels import Group
from channels.message import Message

logger = logging.getLogger(__name__)

_SLOW = re.compile(r"^/slow/(\d+(?:\.\d+)?)$")
_ROOM = re.compile(r"^/room/([A-Za-z0-9_-]{1,50})$")


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def record(message: Message, **extra: Any) -> None:
    """Append ``message`` (and ``extra``) as one JSON line to this process's record file."""
    directory = os.environ.get("STACK_RECORD_DIR")
    if not directory:
        return
    line = json.dumps(
        {
            "pid": os.getpid(),
            "time": time.time(),
            "channel": message.channel.name,
            "content": _plain(message.content),
            **extra,
        }
    )
    with open(os.path.join(directory, f"{os.getpid()}.jsonl"), "a", encoding="utf-8") as file:
        file.write(line + "\n")


def _reply(message: Message, status: int, body: bytes, content_type: bytes) -> None:
    message.reply_channel.send(
        {"status": status, "headers": [[b"content-type", content_type]], "content": body},
        immediately=True,
    )


def http_request(message: Message) -> None:
    """Record the request, then answer it according to its path."""
    record(message, event="start")
    path = message.content.get("path", "")
    pid = os.getpid()
    slow = _SLOW.match(path)
    if slow:
        time.sleep(float(slow.group(1)))
        _reply(message, 200, b"slow %d" % pid, b"text/plain")
    elif path == "/hello":
        _reply(message, 200, b"hello %d" % pid, b"text/plain")
    elif path == "/echo":
        content = message.content
        view = {
            "pid": pid,
            "client": content.get("client"),
            "server": content.get("server"),
            "scheme": content.get("scheme"),
            "path": path,
            "reply_channel": content.get("reply_channel"),
            "headers": _plain(content.get("headers", [])),
        }
        _reply(message, 200, json.dumps(view).encode(), b"application/json")
    else:
        _reply(message, 200, b"ok", b"text/plain")
    record(message, event="done")


def record_only(message: Message) -> None:
    """Record a message that needs no answer (http.disconnect)."""
    record(message)


def ws_connect(message: Message) -> None:
    """Record and accept every handshake; join the room named by a /room/<name> path."""
    record(message)
    room = _ROOM.match(message.content.get("path", ""))
    if room:
        Group(f"room-{room.group(1)}").add(message.reply_channel)
    message.reply_channel.send({"accept": True}, immediately=True)


def ws_receive(message: Message) -> None:
    """Record the frame, then join a group, send to a group, or echo it."""
    record(message)
    text = message.content.get("text")
    if text is None:
        message.reply_channel.send({"bytes": message.content.get("bytes", b"")}, immediately=True)
    elif text.startswith("join:"):
        Group(f"room-{text[5:]}").add(message.reply_channel)
        message.reply_channel.send({"text": "joined"}, immediately=True)
    elif text.startswith("say:"):
        name, _, said = text[4:].partition(":")
        Group(f"room-{name}").send({"text": said}, immediately=True)
    else:
        message.reply_channel.send({"text": text}, immediately=True)


def ws_disconnect(message: Message) -> None:
    """Record the disconnect and leave the room of a /room/<name> path."""
    record(message)
    room = _ROOM.match(message.content.get("path", ""))
    if room:
        Group(f"room-{room.group(1)}").discard(message.reply_channel)
