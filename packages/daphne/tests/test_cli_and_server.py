"""The daphne command line, graceful shutdown and the programmatic Server API (subprocesses)."""

from __future__ import annotations

import asyncio
import http.client
import os
import subprocess
import sys
import textwrap
import threading

import pytest
from daphne.cli import CommandLineInterface, build_parser
from daphne_process import HERE, DaphneProcess, wait_for


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(HERE))
    return subprocess.run(
        [sys.executable, "-m", "daphne", *args],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


LAYER = "asgiref.inmemory:channel_layer"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["-p", "notaport", LAYER], "notaport"),
        (["-p", "70000", LAYER], "70000"),
        (["-t", "-5", LAYER], "-5"),
        (["-v", "7", LAYER], "7"),
        ([], "channel_layer"),
        (["no_such_module_xyz:channel_layer"], "no_such_module_xyz"),
        (["asgiref.inmemory:missing_attr"], "missing_attr"),
        (["asgiref.inmemory:ChannelLayer.extensions"], "not a channel layer"),
        (["--proxy-headers-trusted", "not-an-ip", LAYER], "not-an-ip"),
        (["--root-path", "/trailing/", LAYER], "/trailing/"),
        (["-e", "bogus:endpoint", LAYER], "bogus:endpoint"),
        (
            ["-e", "ssl:0:privateKey=/nonexistent.pem:certKey=/nonexistent.pem", LAYER],
            "/nonexistent",
        ),
        (["--websocket_timeout", "0", LAYER], "-1"),
    ],
)
def test_bad_arguments_exit_2_naming_the_problem(
    args: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        CommandLineInterface().run(args)
    assert exited.value.code == 2
    assert fragment in capsys.readouterr().err


def test_python_dash_m_daphne_exits_2_on_bad_arguments() -> None:
    result = run_cli("--port", "notaport", "echo_app:channel_layer")
    assert result.returncode == 2
    assert "usage: daphne" in result.stderr and "notaport" in result.stderr


def test_help_lists_every_option() -> None:
    text = build_parser().format_help()
    for option in (
        "--bind",
        "--port",
        "--unix-socket",
        "--fd",
        "--endpoint",
        "--verbosity",
        "--http-timeout",
        "--access-log",
        "--ping-interval",
        "--ping-timeout",
        "--websocket_timeout",
        "--websocket_connect_timeout",
        "--ws-protocol",
        "--root-path",
        "--proxy-headers",
        "--proxy-headers-trusted",
        "--force-sync",
        "--max-body-size",
        "--max-ws-message-size",
        "--max-headers",
        "--max-header-size",
        "--shutdown-timeout",
        "--http-idle-timeout",
        "--ws-allowed-origin",
        "--keep-alive-timeout",
        "--websocket-backpressure-timeout",
    ):
        assert option in text


def test_seed_example_arguments_parse() -> None:
    parser = build_parser()
    seed_line = "-b 0.0.0.0 -p 8000 --ws-protocol graphql-ws --proxy-headers"
    args = parser.parse_args([*seed_line.split(), "my_project.asgi:channel_layer"])
    assert (args.host, args.port, args.ws_protocols) == ("0.0.0.0", 8000, ["graphql-ws"])
    assert args.proxy_headers and args.channel_layer == "my_project.asgi:channel_layer"
    args = parser.parse_args(["--ws-protocol", "graphql-ws", "my_project.asgi:channel_layer"])
    assert args.channel_layer == "my_project.asgi:channel_layer"


def test_port_in_use_is_a_clear_error() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_cli("-p", str(taken.getsockname()[1]), "echo_app:channel_layer")
    assert result.returncode == 1
    assert "Cannot listen" in result.stdout + result.stderr


def test_sigterm_finishes_in_flight_request_closes_sockets_1001_and_exits_0() -> None:
    server = DaphneProcess(["-p", "0", "-v", "2", "--force-sync", "echo_app:channel_layer"])
    result: dict[str, object] = {}

    def slow_request() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            connection.request("GET", "/slowconsume")
            response = connection.getresponse()
            result["status"] = response.status
            result["body"] = response.read()
        finally:
            connection.close()

    async def open_socket_until_closed() -> None:
        import websockets

        async with websockets.connect(f"ws://127.0.0.1:{server.port}/held") as ws:
            opened.set()
            try:
                await ws.recv()
            except websockets.ConnectionClosed as exc:
                result["ws_close"] = exc.rcvd.code if exc.rcvd else None

    opened = threading.Event()
    socket_thread = threading.Thread(
        target=lambda: asyncio.run(asyncio.wait_for(open_socket_until_closed(), 60))
    )
    socket_thread.start()
    assert opened.wait(60)
    thread = threading.Thread(target=slow_request)
    thread.start()
    # Wait until Daphne forwarded the request (the app takes 0.5 s), then ask it to stop.
    assert wait_for(lambda: any("Sent http.request" in line for line in server.lines))
    code = server.stop()
    thread.join(60)
    socket_thread.join(60)
    assert code == 0, server.output()
    assert result.get("status") == 200
    assert result.get("ws_close") == 1001
    assert "Shutting down" in server.output()
    assert "via poll" in server.output()


SERVER_IN_THREAD = textwrap.dedent(
    """
    import http.client, json, sys, threading
    sys.path.insert(0, sys.argv[1])
    import echo_app
    from daphne.server import Server
    from daphne.endpoints import build_endpoint_description_strings

    ready = threading.Event()
    actions = []
    server = Server(
        echo_app.channel_layer,
        build_endpoint_description_strings(host="127.0.0.1", port=0),
        signal_handlers=False,
        ready_callable=ready.set,
        action_logger=lambda p, a, d: actions.append([p, a, d["path"]]),
    )
    thread = threading.Thread(target=server.run)
    thread.start()
    assert ready.wait(30)
    host, port = server.listening_addresses[0]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request("GET", "/echo/thread")
    status = connection.getresponse().status
    connection.close()
    server.stop()
    thread.join(30)
    print(json.dumps({"status": status, "alive": thread.is_alive(), "host": host,
                      "port": port, "actions": actions}))
    """
)


def test_server_runs_in_a_thread_without_signal_handlers_and_stops() -> None:
    import json

    result = subprocess.run(
        [sys.executable, "-c", SERVER_IN_THREAD, str(HERE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == 200
    assert report["alive"] is False
    assert report["host"] == "127.0.0.1" and report["port"] > 0
    assert ["http", "complete", "/echo/thread"] in report["actions"]


def test_fd_option_serves_on_an_inherited_listening_socket() -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(HERE))
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "--fd", str(listener.fileno()), "echo_app:channel_layer"],
        cwd=HERE,
        env=env,
        pass_fds=[listener.fileno()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    listener.close()
    try:
        status = None
        for _ in range(120):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("GET", "/echo/fd")
                status = connection.getresponse().status
                break
            except OSError:
                import time

                time.sleep(0.25)
            finally:
                connection.close()
        assert status == 200
    finally:
        process.terminate()
        assert process.wait(60) == 0
