"""Test helpers for the WebSocket bridge: a small WS + page server and a page driver.

``BridgeServer`` serves the test pages, the shipped static files and a JSON
echo WebSocket endpoint on 127.0.0.1, in a thread with its own event loop, and
can be stopped and started again on the same port. ``BridgePage`` drives a
``WebSocketBridge`` inside a Playwright page and records what it sees; it only
needs a page that loads websocketbridge.js, so the same helper (and the same
test bodies) can be pointed at a live Daphne + worker server by giving it that
server's URLs: assertions on what comes back through the bridge only need an
endpoint that echoes JSON text frames; ``BridgeServer.received_on`` and
``push`` are this test server's own window on the other end.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import channels
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

__all__ = [
    "CHROMIUM_ARGS",
    "REPO_ROOT",
    "STATIC_JS",
    "WAIT_MS",
    "BridgePage",
    "BridgeServer",
    "find_node",
    "wait_for",
]

REPO_ROOT = Path(__file__).resolve().parents[4]
# The installed package's files: exactly what the wheel ships and Django serves.
STATIC_JS = Path(channels.__file__).resolve().parent / "static" / "channels" / "js"
# Generous: other engineers run tests on the same 2 cores.
WAIT_MS = 20_000
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PAGE_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>bridge test</title>
<script src="/static/channels/js/websocketbridge.js"></script>
</head><body><p>WebSocketBridge test page</p></body></html>
"""

MODULE_PAGE_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>bridge module test</title>
<script type="module">
import { WebSocketBridge } from "/static/channels/js/websocketbridge.mjs";
window.ModuleBridge = WebSocketBridge;
</script>
</head><body><p>WebSocketBridge ES module test page</p></body></html>
"""


class BridgeServer:
    """Serve test pages, static files and a JSON echo WebSocket on 127.0.0.1.

    Every text frame received on any WebSocket path is recorded as
    ``(path, decoded JSON)`` and sent straight back, so demultiplexed
    ``{"stream", "payload"}`` frames come back to their stream's handler.
    """

    def __init__(self) -> None:
        self.port = 0
        self.received: list[tuple[str, Any]] = []
        self.connections_opened: list[str] = []
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def start(self) -> None:
        """Listen (again) on the same port; the first start picks a free one."""
        self._run(self._start())

    async def _start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            process_request=self._http,
            ping_interval=None,
            # A closing browser may never answer the close frame; do not wait 10 s for it.
            close_timeout=2,
        )
        if not self.port:
            self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Stop listening and close every open WebSocket (code 1001, going away)."""
        self._run(self._stop())

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # Chromium keeps idle pre-connected sockets open; websockets would wait its whole
            # open_timeout for their handshake, so drop them now (a restart must be prompt).
            for connection in list(self._server.all_connections):
                if connection.protocol.state is State.CONNECTING:
                    connection.transport.abort()
            await self._server.wait_closed()
            self._server = None

    def shutdown(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def push(self, message: Any) -> int:
        """Send ``message`` JSON-encoded to every open WebSocket; return how many got it."""
        return self.push_text(json.dumps(message))

    def push_text(self, text: str) -> int:
        """Send the text frame ``text`` to every open WebSocket; return how many got it."""
        return int(self._run(self._push(text)))

    async def _push(self, text: str) -> int:
        if self._server is None:
            return 0
        sent = 0
        for connection in list(self._server.connections):
            try:
                await connection.send(text)
            except ConnectionClosed:
                continue
            sent += 1
        return sent

    def received_on(self, path: str) -> list[Any]:
        with self._lock:
            return [message for where, message in self.received if where == path]

    async def _handle(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else "?"
        with self._lock:
            self.connections_opened.append(path)
        try:
            async for text in connection:
                try:
                    decoded: Any = json.loads(text)
                except ValueError:
                    decoded = text  # the raw-socket tests send plain text
                with self._lock:
                    self.received.append((path, decoded))
                await connection.send(text)
        except ConnectionClosed:
            pass

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        path = request.path.split("?", 1)[0]
        if path.startswith("/static/channels/js/"):
            name = path.rsplit("/", 1)[1]
            file = STATIC_JS / name
            if name and file.is_file():
                return _response(200, "text/javascript; charset=utf-8", file.read_bytes())
            return _response(404, "text/plain", b"no such static file")
        if path.startswith("/module/"):
            return _response(200, "text/html; charset=utf-8", MODULE_PAGE_HTML.encode())
        if path.startswith("/page/"):
            return _response(200, "text/html; charset=utf-8", PAGE_HTML.encode())
        return _response(404, "text/plain", b"not found")


def _response(status: int, content_type: str, body: bytes) -> Response:
    reasons = {200: "OK", 404: "Not Found"}
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ]
    )
    return Response(status, reasons[status], headers, body)


# Installed into the page: one bridge, every event it sees kept in window.__bridge.
HARNESS_JS = """
([url, protocols, options, ctor]) => {
  const Bridge = ctor === 'module' ? window.ModuleBridge : channels.WebSocketBridge;
  const log = {messages: [], streams: [], opens: 0, closes: [], errors: 0};
  const bridge = new Bridge();
  window.__bridge = bridge;
  window.__log = log;
  bridge.listen((action, stream) => {
    log.messages.push({action, stream: stream === undefined ? null : stream});
  });
  if (url === null) {
    bridge.connect();
  } else {
    bridge.connect(url, protocols === null ? undefined : protocols, options);
  }
  const socket = bridge.socket;
  socket.addEventListener('open', () => { log.opens += 1; });
  socket.addEventListener('close', (e) => {
    log.closes.push({code: e.code, state: socket.readyState});
  });
  bridge.socket.addEventListener('error', () => { log.errors += 1; });
  return bridge.socket.url;
}
"""


class BridgePage:
    """Drive one ``WebSocketBridge`` in a browser page and read back what it received."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def open(self, url: str) -> BridgePage:
        self.page.goto(url)
        self.page.wait_for_function(
            "() => window.channels !== undefined || window.ModuleBridge !== undefined",
            timeout=WAIT_MS,
        )
        return self

    def connect(
        self,
        url: str | None = None,
        protocols: Any = None,
        options: dict[str, Any] | None = None,
        module: bool = False,
    ) -> str:
        """Create the bridge, connect it and return the resolved WebSocket URL."""
        args = [url, protocols, options or {}, "module" if module else "script"]
        return str(self.page.evaluate(HARNESS_JS, args))

    def js(self, expression: str, arg: Any = None) -> Any:
        """Evaluate a function expression in the page, e.g. ``"(x) => __bridge.send(x)"``."""
        return self.page.evaluate(expression, arg)

    def send(self, message: Any) -> None:
        self.js("(m) => __bridge.send(m)", message)

    def stream_send(self, stream: str, payload: Any) -> None:
        self.js("([s, p]) => __bridge.stream(s).send(p)", [stream, payload])

    def demultiplex(self, stream: str) -> None:
        self.js(
            "(s) => __bridge.demultiplex(s, (payload, stream) => {"
            "  __log.streams.push({payload, stream});"
            "})",
            stream,
        )

    def wait_until(self, condition: str) -> None:
        """Wait (generously) until the JS ``condition`` over ``__log``/``__bridge`` is true."""
        self.page.wait_for_function(f"() => {condition}", timeout=WAIT_MS)

    def wait_open(self, count: int = 1) -> None:
        self.wait_until(f"__log.opens >= {count} && __bridge.socket.readyState === 1")

    def messages(self, count: int) -> list[dict[str, Any]]:
        self.wait_until(f"__log.messages.length >= {count}")
        return list(self.js("() => __log.messages"))

    def streams(self, count: int) -> list[dict[str, Any]]:
        self.wait_until(f"__log.streams.length >= {count}")
        return list(self.js("() => __log.streams"))

    def wait_for(self, check: Callable[[], bool], what: str) -> None:
        """Poll a Python-side ``check`` while letting Playwright deliver page events (console)."""
        deadline = time.monotonic() + WAIT_MS / 1000
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {WAIT_MS / 1000:.0f}s waiting for {what}")
            self.page.wait_for_timeout(20)

    def log(self) -> dict[str, Any]:
        return dict(self.js("() => __log"))


def find_node() -> str | None:
    """Return a node executable new enough for ``node --test`` (18+), or None."""
    candidates = [shutil.which("node")]
    try:
        import playwright

        candidates.append(str(Path(playwright.__file__).resolve().parent / "driver" / "node"))
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        pass
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        version = subprocess.run(
            [candidate, "--version"], capture_output=True, text=True, timeout=60, check=False
        ).stdout.strip()
        try:
            major = int(version.lstrip("v").split(".")[0])
        except ValueError:
            continue
        if major >= 18:
            return candidate
    return None


def wait_for(check: Callable[[], bool], what: str, timeout: float = WAIT_MS / 1000) -> None:
    """Poll ``check`` from Python until it is true; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.02)
