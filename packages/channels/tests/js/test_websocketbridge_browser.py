"""The WebSocket bridge (channels/js/websocketbridge.js) in real headless Chromium.

Each test loads a page that includes the shipped static file, drives a
``channels.WebSocketBridge`` through ``BridgePage`` and checks both ends: what
the server received and what the page's callbacks were given.
"""

from __future__ import annotations

from typing import Any

import pytest
from bridge_harness import BridgePage, BridgeServer, wait_for

FAST_RECONNECT = {
    "minReconnectionDelay": 50,
    "maxReconnectionDelay": 400,
    "reconnectionDelayGrowFactor": 2,
    "connectionTimeout": 5000,
}


def test_script_tag_defines_window_channels(server: BridgeServer, bridge_page: BridgePage) -> None:
    """A plain <script> tag defines channels.WebSocketBridge and channels.ReconnectingWebSocket."""
    bridge_page.open(f"{server.http_url}/page/")
    kinds = bridge_page.js(
        "() => [typeof channels.WebSocketBridge, typeof channels.ReconnectingWebSocket]"
    )
    assert kinds == ["function", "function"]


def test_send_is_json_encoded_and_echo_reaches_listen(
    server: BridgeServer, bridge_page: BridgePage
) -> None:
    """send() delivers JSON to the server; the JSON reply is decoded for listen()."""
    bridge_page.open(f"{server.http_url}/page/")
    url = bridge_page.connect(f"{server.ws_url}/ws/")
    assert url == f"{server.ws_url}/ws/"
    bridge_page.wait_open()
    message = {"prop1": "value1", "n": 3, "nested": {"list": [1, None, True]}}
    bridge_page.send(message)
    assert bridge_page.messages(1) == [{"action": message, "stream": None}]
    assert server.received_on("/ws/") == [message]


def test_listen_receives_messages_pushed_by_the_server(
    server: BridgeServer, bridge_page: BridgePage
) -> None:
    """Messages the server sends on its own arrive at listen() in order."""
    bridge_page.open(f"{server.http_url}/page/")
    bridge_page.connect(f"{server.ws_url}/ws/")
    bridge_page.wait_open()
    wait_for(lambda: server.push({"action": "create", "pk": 1}) == 1, "the server to push")
    server.push({"action": "update", "pk": 1, "data": {"value": "é✓"}})
    assert bridge_page.messages(2) == [
        {"action": {"action": "create", "pk": 1}, "stream": None},
        {"action": {"action": "update", "pk": 1, "data": {"value": "é✓"}}, "stream": None},
    ]


def test_demultiplex_routes_each_stream_to_its_handler(
    server: BridgeServer, bridge_page: BridgePage
) -> None:
    """stream(name).send() wraps payloads; replies go to that stream's demultiplex handler."""
    bridge_page.open(f"{server.http_url}/page/")
    bridge_page.connect(f"{server.ws_url}/binding/")
    bridge_page.demultiplex("intval")
    bridge_page.demultiplex("chat")
    bridge_page.wait_open()
    bridge_page.stream_send("intval", {"action": "create", "data": {"value": 1}})
    bridge_page.stream_send("chat", {"text": "hi"})
    bridge_page.stream_send("unhandled", {"x": 1})
    streams = bridge_page.streams(2)
    assert streams == [
        {"payload": {"action": "create", "data": {"value": 1}}, "stream": "intval"},
        {"payload": {"text": "hi"}, "stream": "chat"},
    ]
    # A stream nobody demultiplexes falls through to listen(), with its name.
    assert bridge_page.messages(1) == [
        {"action": {"stream": "unhandled", "payload": {"x": 1}}, "stream": "unhandled"}
    ]
    assert server.received_on("/binding/") == [
        {"stream": "intval", "payload": {"action": "create", "data": {"value": 1}}},
        {"stream": "chat", "payload": {"text": "hi"}},
        {"stream": "unhandled", "payload": {"x": 1}},
    ]


@pytest.mark.parametrize(
    ("argument", "expected_path"),
    [
        ("/ws/", "/ws/"),
        ("ws/", "/page/room/ws/"),
        ("../up/?token=a%20b", "/page/up/?token=a%20b"),
        (None, "/page/room/"),
    ],
)
def test_relative_and_missing_urls_resolve_against_the_page(
    server: BridgeServer, bridge_page: BridgePage, argument: str | None, expected_path: str
) -> None:
    """connect() with a relative URL or none at all uses the page's host, port and ws scheme."""
    bridge_page.open(f"{server.http_url}/page/room/?q=1#frag")
    url = bridge_page.connect(argument)
    assert url == f"{server.ws_url}{expected_path}"
    bridge_page.wait_open()
    bridge_page.send({"hello": expected_path})
    bridge_page.messages(1)
    assert server.received_on(expected_path) == [{"hello": expected_path}]


def test_https_pages_get_wss_urls(server: BridgeServer, bridge_page: BridgePage) -> None:
    """The scheme follows the page: http gives ws, https gives wss; explicit ws URLs stay."""
    bridge_page.open(f"{server.http_url}/page/")
    resolved = bridge_page.js(
        """() => [
            channels.resolveWebSocketUrl('/ws/', 'https://example.com/a/'),
            channels.resolveWebSocketUrl(undefined, 'https://example.com:8443/a/b?x=1'),
            channels.resolveWebSocketUrl('wss://other.example/ws/#x', 'http://example.com/'),
        ]"""
    )
    assert resolved == [
        "wss://example.com/ws/",
        "wss://example.com:8443/a/b",
        "wss://other.example/ws/",
    ]


def test_messages_sent_before_open_are_delivered_in_order(
    server: BridgeServer, bridge_page: BridgePage
) -> None:
    """send() right after connect() queues until the socket opens, keeping order."""
    bridge_page.open(f"{server.http_url}/page/")
    bridge_page.js(
        f"""() => {{
            const bridge = new channels.WebSocketBridge();
            bridge.connect('{server.ws_url}/early/');
            for (let i = 0; i < 5; i++) bridge.send({{i}});
        }}"""
    )
    wait_for(lambda: len(server.received_on("/early/")) == 5, "five queued messages")
    assert server.received_on("/early/") == [{"i": i} for i in range(5)]


def test_reconnects_after_the_server_restarts(
    server: BridgeServer, bridge_page: BridgePage
) -> None:
    """Stopping the server and starting it on the same port: the page comes back by itself."""
    bridge_page.open(f"{server.http_url}/page/")
    bridge_page.connect(f"{server.ws_url}/ws/", options=FAST_RECONNECT)
    bridge_page.wait_open()
    bridge_page.send({"before": 1})
    bridge_page.messages(1)

    server.stop()
    # Dropped, then retrying (readyState CONNECTING) with at least two failed attempts.
    bridge_page.wait_until(
        "__log.closes.length >= 1 && __bridge.socket.readyState === 0"
        " && __bridge.socket.retryCount >= 2"
    )
    # Sent while the server is down: queued and delivered after reconnecting.
    bridge_page.send({"during": 2})

    server.start()
    bridge_page.wait_open(2)
    bridge_page.send({"after": 3})
    actions = [m["action"] for m in bridge_page.messages(3)]
    assert actions == [{"before": 1}, {"during": 2}, {"after": 3}]
    assert server.received_on("/ws/") == [{"before": 1}, {"during": 2}, {"after": 3}]
    assert server.connections_opened == ["/ws/", "/ws/"]
    # Every close seen while the server was down announced a retry, none gave up.
    assert all(close["state"] == 0 for close in bridge_page.log()["closes"])
    assert bridge_page.page.page_errors == []


def test_gives_up_after_max_retries_and_reconnect_starts_again(
    server: BridgeServer, bridge_page: BridgePage
) -> None:
    """With maxRetries=2 the socket is CLOSED after two failed attempts; reconnect() revives it."""
    bridge_page.open(f"{server.http_url}/page/")
    bridge_page.connect(f"{server.ws_url}/ws/", options={**FAST_RECONNECT, "maxRetries": 2})
    bridge_page.wait_open()
    server.stop()
    # The drop plus two failed attempts; the last close event already says CLOSED.
    bridge_page.wait_until("__log.closes.length >= 3 && __bridge.socket.readyState === 3")
    log = bridge_page.log()
    assert [close["state"] for close in log["closes"]] == [0, 0, 3]
    assert bridge_page.js("() => __bridge.socket.retryCount") == 2

    server.start()
    bridge_page.js("() => __bridge.socket.reconnect()")
    bridge_page.wait_open(2)
    bridge_page.send({"back": True})
    assert bridge_page.messages(1)[0]["action"] == {"back": True}


def test_close_stops_reconnecting(server: BridgeServer, bridge_page: BridgePage) -> None:
    """socket.close() closes for good: CLOSED, and send() then raises a clear error."""
    bridge_page.open(f"{server.http_url}/page/")
    bridge_page.connect(f"{server.ws_url}/ws/", options=FAST_RECONNECT)
    bridge_page.wait_open()
    bridge_page.js("() => __bridge.socket.close()")
    bridge_page.wait_until("__log.closes.length === 1 && __bridge.socket.readyState === 3")
    assert bridge_page.log()["closes"] == [{"code": 1000, "state": 3}]
    error = bridge_page.js(
        "() => { try { __bridge.send({x: 1}); return null; } catch (e) { return e.message; } }"
    )
    assert "close()" in error and "reconnect()" in error


def test_socket_relays_events_to_on_properties_across_reconnects(
    server: BridgeServer, bridge_page: BridgePage
) -> None:
    """onopen/onmessage set once on .socket keep firing after a reconnection."""
    bridge_page.open(f"{server.http_url}/page/")
    bridge_page.js(
        """([url, options]) => {
            window.__props = {opens: 0, data: []};
            const bridge = new channels.WebSocketBridge();
            bridge.connect(url, undefined, options);
            bridge.socket.onopen = (e) => { __props.opens += 1; };
            bridge.socket.onmessage = (e) => { __props.data.push(e.data); };
            window.__socket = bridge.socket;
        }""",
        [f"{server.ws_url}/ws/", FAST_RECONNECT],
    )
    bridge_page.wait_until("__props.opens === 1")
    server.stop()
    server.start()
    bridge_page.wait_until("__props.opens === 2 && __socket.readyState === 1")
    bridge_page.js("() => __socket.send('raw text')")
    bridge_page.wait_until("__props.data.length >= 1")
    props: dict[str, Any] = bridge_page.js("() => __props")
    assert props == {"opens": 2, "data": ["raw text"]}
    assert server.received_on("/ws/") == ["raw text"]


def test_non_json_frames_are_ignored_with_a_warning(
    server: BridgeServer, bridge_page: BridgePage
) -> None:
    """A text frame that is not JSON is skipped (console warning); later messages still arrive."""
    bridge_page.open(f"{server.http_url}/page/")
    bridge_page.connect(f"{server.ws_url}/ws/")
    bridge_page.wait_open()
    wait_for(lambda: server.push_text("not json {") == 1, "the server to push")
    server.push({"ok": True})
    assert bridge_page.messages(1) == [{"action": {"ok": True}, "stream": None}]
    assert any("not JSON" in text for text in bridge_page.page.console_warnings)
    assert bridge_page.page.page_errors == []


def test_bad_options_raise_errors_naming_the_option(
    server: BridgeServer, bridge_page: BridgePage
) -> None:
    """Unknown or out-of-range options fail at connect() with the name and value."""
    bridge_page.open(f"{server.http_url}/page/")
    messages = bridge_page.js(
        """() => [
            {maxRetrys: 3}, {minReconnectionDelay: -1}, {reconnectionDelayJitter: 2},
        ].map((o) => {
            try { new channels.WebSocketBridge().connect('/ws/', undefined, o); return null; }
            catch (e) { return e.name + ': ' + e.message; }
        })"""
    )
    assert messages[0].startswith('TypeError: unknown option "maxRetrys"')
    assert "maxRetries" in messages[0]
    assert messages[1] == "RangeError: option minReconnectionDelay must be a number >= 0, got -1"
    assert messages[2].startswith("RangeError: option reconnectionDelayJitter")


def test_es_module_variant_works(server: BridgeServer, bridge_page: BridgePage) -> None:
    """websocketbridge.mjs exports WebSocketBridge for <script type="module"> imports."""
    bridge_page.open(f"{server.http_url}/module/")
    bridge_page.connect("/ws/", module=True)
    bridge_page.wait_open()
    bridge_page.stream_send("s", {"v": 1})
    assert bridge_page.messages(1) == [
        {"action": {"stream": "s", "payload": {"v": 1}}, "stream": "s"}
    ]
    assert bridge_page.page.page_errors == []


def test_user_manual_examples_work_as_written(
    server: BridgeServer, bridge_page: BridgePage
) -> None:
    """The manual's "Channels WebSocket wrapper" snippets run unchanged and do what they say."""
    bridge_page.open(f"{server.http_url}/page/")
    # Record console.log/info arguments as data (Chromium's text rendering of objects varies).
    bridge_page.js(
        """() => {
            window.__console = [];
            for (const level of ['log', 'info']) {
                const original = console[level].bind(console);
                console[level] = (...args) => {
                    __console.push([level, ...args.map((a) => a === undefined ? null : a)]);
                    original(...args);
                };
            }
        }"""
    )
    # First example block: connect to /ws/, listen, send, then the .socket example.
    bridge_page.js(
        """() => {
            const webSocketBridge = new channels.WebSocketBridge();
            webSocketBridge.connect('/ws/');
            webSocketBridge.listen(function(action, stream) {
               console.log(action, stream);
            });
            webSocketBridge.send({prop1: 'value1', prop2: 'value1'});
            webSocketBridge.socket.addEventListener('open', function() {
               console.log("Connected to WebSocket");
            })
        }"""
    )
    # Second block, including the manual's listen('/ws/') slip: demultiplexing still works.
    bridge_page.js(
        """() => {
            const webSocketBridge = new channels.WebSocketBridge();
            webSocketBridge.connect();
            webSocketBridge.listen('/ws/');
            webSocketBridge.demultiplex('mystream', function(action, stream) {
               console.log(action, stream);
            });
            webSocketBridge.demultiplex('myotherstream', function(action, stream) {
               console.info(action, stream);
            });
            webSocketBridge.stream('mystream').send({prop1: 'value1', prop2: 'value1'})
            webSocketBridge.stream('myotherstream').send({other: true})
        }"""
    )
    bridge_page.wait_until("__console.length >= 4")
    calls = bridge_page.js("() => __console")
    props = {"prop1": "value1", "prop2": "value1"}
    assert sorted(calls, key=repr) == sorted(
        [
            ["log", "Connected to WebSocket"],
            ["log", props, None],
            ["log", props, "mystream"],
            ["info", {"other": True}, "myotherstream"],
        ],
        key=repr,
    )
    page = bridge_page.page
    assert server.received_on("/ws/") == [{"prop1": "value1", "prop2": "value1"}]
    assert server.received_on("/page/") == [
        {"stream": "mystream", "payload": props},
        {"stream": "myotherstream", "payload": {"other": True}},
    ]
    assert any("listen() takes a callback" in text for text in page.console_warnings)
    assert page.page_errors == []
