"""A test-only channel layer module with an in-process echo application.

``python -m daphne echo_app:channel_layer`` imports this module, which starts a
responder thread on the same in-memory layer, so real-socket tests need no
other process or server. What the app does, by path:

HTTP   /echo...      200 with a JSON description of the http.request message
       /stream       three chunks, then the end (chunked encoding)
       /never        no reply (for the HTTP timeout)
       /hop          a reply carrying hop-by-hop headers (illegal in HTTP/2)
       /body         reads body_channel chunks, answers with length and count
       /events       JSON list of http.disconnect / websocket.disconnect seen
       /slowconsume  like /echo but the responder stalls for 0.5 s first
WS     /reject       accept: false             /hello  accept by sending "hello"
       /close-data   send "bye" and close 4002  /scheme accept by sending the scheme
       otherwise accept: true
       frames are echoed; text "close:NNNN" closes with that code;
       text "stall:S" makes the responder sleep S seconds (back-pressure tests).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from typing import Any

from asgiref.inmemory import ChannelLayer

capacity = int(os.environ.get("ECHO_APP_CAPACITY", "100"))
channel_layer = ChannelLayer(
    capacity=capacity,
    receive_timeout=0.5,
    channel_capacity={"websocket.receive": int(os.environ.get("ECHO_APP_WS_CAPACITY", capacity))},
)
events: list[dict[str, Any]] = []
_CHANNELS = [
    "http.request",
    "http.disconnect",
    "websocket.connect",
    "websocket.receive",
    "websocket.disconnect",
]


def _describe(message: dict[str, Any]) -> bytes:
    body = {
        key: (value.decode("latin-1") if isinstance(value, bytes) else value)
        for key, value in message.items()
        if key not in ("headers", "body")
    }
    body["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in message["headers"]]
    body["body_length"] = len(message.get("body", b""))
    return json.dumps(body).encode()


def _read_body(message: dict[str, Any]) -> tuple[bytes, int]:
    body = message.get("body", b"")
    chunks = 0
    channel = message.get("body_channel")
    while channel:
        name, chunk = channel_layer.receive([channel], block=True)
        if name is None:
            continue
        chunks += 1
        if chunk.get("closed"):
            break
        body += chunk.get("content", b"")
        if not chunk.get("more_content"):
            break
    return body, chunks


def _http(message: dict[str, Any]) -> None:
    reply = message["reply_channel"]
    path = message["path"]
    if path == "/never":
        return
    if path == "/stream":
        channel_layer.send(reply, {"status": 200, "headers": [], "more_content": True})
        for index in range(3):
            channel_layer.send(reply, {"content": b"chunk%d\n" % index, "more_content": True})
        channel_layer.send(reply, {"content": b"end\n"})
        return
    if path == "/large":
        # 2 MB in eight messages: more than a socket buffer, so Daphne's writes go partial.
        channel_layer.send(reply, {"status": 200, "headers": [], "more_content": True})
        for index in range(8):
            chunk = bytes([index]) * 262_144
            channel_layer.send(reply, {"content": chunk, "more_content": index < 7})
        return
    if path == "/hop":
        channel_layer.send(
            reply,
            {
                "status": 200,
                "headers": [[b"connection", b"keep-alive"], [b"transfer-encoding", b"chunked"]],
                "content": b"hop",
            },
        )
        return
    if path == "/body":
        body, chunks = _read_body(message)
        digest = hashlib.sha256(body).hexdigest()
        content = json.dumps({"length": len(body), "chunks": chunks, "sha256": digest}).encode()
    elif path == "/events":
        content = json.dumps(events).encode()
    else:
        if path == "/slowconsume":
            time.sleep(0.5)
        content = _describe(message)
    channel_layer.send(
        reply,
        {
            "status": 200,
            "headers": [[b"content-type", b"application/json"], [b"x-echo", b"1"]],
            "content": content,
        },
    )


def _websocket(channel: str, message: dict[str, Any]) -> None:
    reply = message["reply_channel"]
    if channel == "websocket.connect":
        path = message["path"]
        if path == "/reject":
            channel_layer.send(reply, {"accept": False})
        elif path == "/hello":
            channel_layer.send(reply, {"text": "hello"})
        elif path == "/close-data":
            channel_layer.send(reply, {"text": "bye", "close": 4002})
        elif path == "/scheme":
            channel_layer.send(reply, {"text": message["scheme"]})
        elif path == "/silent":
            return
        else:
            channel_layer.send(reply, {"accept": True})
        return
    text = message.get("text")
    if text is not None and text.startswith("close:"):
        channel_layer.send(reply, {"close": int(text[6:])})
    elif text is not None and text.startswith("stall:"):
        time.sleep(float(text[6:]))
        channel_layer.send(reply, {"text": text})
    elif text is not None and text == "order?":
        channel_layer.send(reply, {"text": str(message["order"])})
    elif text is not None:
        channel_layer.send(reply, {"text": text})
    else:
        channel_layer.send(reply, {"bytes": message["bytes"]})


def _serve() -> None:
    while True:
        channel, message = channel_layer.receive(_CHANNELS, block=True)
        if channel is None:
            continue
        try:
            if channel == "http.request":
                threading.Thread(target=_http, args=(message,), daemon=True).start()
            elif channel in ("http.disconnect", "websocket.disconnect"):
                events.append({"channel": channel, **message})
            else:
                _websocket(channel, message)
        except Exception as exc:  # the fixture must keep serving
            print("echo_app error:", repr(exc), flush=True)


threading.Thread(target=_serve, name="echo-app", daemon=True).start()
