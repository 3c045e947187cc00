"""``runserver`` runs Daphne plus workers, logs 1.x console lines, and falls back to Django's."""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from channels.log import format_action
from django.core.management import get_commands, load_command_class
from watched_process import WatchedProcess

TESTS_DIR = Path(__file__).resolve().parent.parent
# `python -m django runserver`: the test settings list staticfiles before channels, so
# this also checks that Channels' AppConfig takes the command over.
RUNSERVER = ["-m", "django", "runserver"]


class Process(WatchedProcess):
    """A runserver process, stopped with Ctrl-C (SIGINT) as a developer would."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        super().__init__(
            "runserver", args, env, stop_signal=signal.SIGINT, stop_wait=15, start_timeout=60
        )


@pytest.fixture
def spawn() -> Iterator[Callable[..., Process]]:
    """Start runserver processes; stop them all after the test."""
    started: list[Process] = []

    def start(*args: str, settings: str = "testproject.settings", path: str = "") -> Process:
        env = dict(os.environ)
        env["DJANGO_SETTINGS_MODULE"] = settings
        env["PYTHONPATH"] = os.pathsep.join(p for p in (path, str(TESTS_DIR)) if p)
        env["PYTHONUNBUFFERED"] = "1"
        env["DJANGO_RUNSERVER_HIDE_WARNING"] = "true"
        process = Process([sys.executable, *RUNSERVER, *args], env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def _port(process: Process) -> int:
    found = process.wait_for(r"Starting .*development server at http://127\.0\.0\.1:(\d+)/")
    return int(found.group(1))


def test_runserver_serves_http_and_websockets_through_daphne(spawn: Callable[..., Process]) -> None:
    process = spawn("127.0.0.1:0", "--noreload")
    port = _port(process)
    process.wait_for(r"Channel layer default \(asgiref\.inmemory\.ChannelLayer\), 4 worker")
    response = httpx.get(f"http://127.0.0.1:{port}/hello/", timeout=30)
    assert response.status_code == 200
    assert response.text == "Hello, channels!"
    assert "WSGIServer" not in response.headers.get("server", "")
    process.wait_for(
        r"^\[\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\] HTTP GET /hello/ 200 \[\d+\.\d\d, 127\.0\.0\.1:\d+\]$"
    )

    async def echo() -> str:
        async with websockets.connect(f"ws://127.0.0.1:{port}/echo/", open_timeout=30) as ws:
            await ws.send("ping")
            reply = await asyncio.wait_for(ws.recv(), 30)
            return str(reply)

    assert asyncio.run(echo()) == "ping"
    process.wait_for(r"WebSocket HANDSHAKING /echo/ \[127\.0\.0\.1:\d+\]")
    process.wait_for(r"WebSocket CONNECT /echo/ \[127\.0\.0\.1:\d+\]")
    process.wait_for(r"WebSocket DISCONNECT /echo/ \[127\.0\.0\.1:\d+\]")
    assert process.stop() == 0


def test_without_channel_layers_or_with_noasgi_it_is_djangos_runserver(
    spawn: Callable[..., Process], tmp_path: Path
) -> None:
    (tmp_path / "plain_settings.py").write_text(
        "from testproject.settings import *  # noqa\ndel CHANNEL_LAYERS\n"
    )
    # Both start at once to save time.
    plain = spawn("127.0.0.1:0", "--noreload", settings="plain_settings", path=str(tmp_path))
    noasgi = spawn("127.0.0.1:0", "--noreload", "--noasgi")
    for process in (plain, noasgi):
        port = _port(process)
        response = httpx.get(f"http://127.0.0.1:{port}/hello/", timeout=30)
        assert response.status_code == 200
        assert response.headers["server"].startswith("WSGIServer")


def test_port_in_use_is_a_plain_error(spawn: Callable[..., Process]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = spawn(f"127.0.0.1:{port}", "--noreload")
        process.wait_for(r"^Error: That port is already in use\.$")
        assert process.popen.wait(30) == 1


def test_settings_and_options_reach_daphne(spawn: Callable[..., Process], tmp_path: Path) -> None:
    (tmp_path / "mounted_settings.py").write_text(
        "from testproject.settings import *  # noqa\n"
        "FORCE_SCRIPT_NAME = '/mount'\n"
        "CHANNELS_WS_PROTOCOLS = ['graphql-ws']\n"
    )
    process = spawn(
        "127.0.0.1:0",
        "--noreload",
        "--nothreading",
        settings="mounted_settings",
        path=str(tmp_path),
    )
    port = _port(process)
    process.wait_for(r"ChannelLayer\), 1 worker thread$")
    # FORCE_SCRIPT_NAME becomes Daphne's root_path, so /mount/hello/ is the hello view.
    response = httpx.get(f"http://127.0.0.1:{port}/mount/hello/", timeout=30)
    assert (response.status_code, response.text) == (200, "Hello, channels!")

    async def negotiate() -> str | None:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/mount/everyone/",
            subprotocols=[websockets.Subprotocol("graphql-ws")],
            open_timeout=30,
        ) as ws:
            return ws.subprotocol

    assert asyncio.run(negotiate()) == "graphql-ws"


LONGPOLL_URLS = """
from django.http import HttpResponse
from django.urls import path

from channels import Group
from channels.exceptions import ResponseLater


def wait(request):
    Group("waiters").add(request.reply_channel)
    raise ResponseLater()


def notify(request):
    Group("waiters").send({"status": 200, "headers": [[b"x-pushed", b"yes"]], "content": b"news"})
    return HttpResponse("notified")


urlpatterns = [path("wait/", wait), path("notify/", notify)]
"""


def test_long_poll_view_is_answered_later_by_another_request(
    spawn: Callable[..., Process], tmp_path: Path
) -> None:
    (tmp_path / "longpoll_urls.py").write_text(LONGPOLL_URLS)
    (tmp_path / "longpoll_settings.py").write_text(
        "from testproject.settings import *  # noqa\nROOT_URLCONF = 'longpoll_urls'\n"
    )
    process = spawn("127.0.0.1:0", "--noreload", settings="longpoll_settings", path=str(tmp_path))
    base = f"http://127.0.0.1:{_port(process)}"
    waiting: list[httpx.Response] = []
    waiter = threading.Thread(target=lambda: waiting.append(httpx.get(f"{base}/wait/", timeout=60)))
    waiter.start()
    # Notify until the waiting request has been parked in the group and answered.
    deadline = time.monotonic() + 60
    while waiter.is_alive() and time.monotonic() < deadline:
        assert httpx.get(f"{base}/notify/", timeout=30).text == "notified"
        waiter.join(0.5)
    waiter.join(5)
    (response,) = waiting
    assert (response.status_code, response.text) == (200, "news")
    assert response.headers["x-pushed"] == "yes"
    assert "Internal Server Error" not in "\n".join(process.lines)


def test_noworker_leaves_requests_to_runworker_until_http_timeout(
    spawn: Callable[..., Process],
) -> None:
    process = spawn("127.0.0.1:0", "--noreload", "--noworker", "--http_timeout", "1")
    port = _port(process)
    process.wait_for(r"ChannelLayer\), no workers")
    response = httpx.get(f"http://127.0.0.1:{port}/hello/", timeout=60)
    assert response.status_code == 503


def test_ipv6_option_binds_the_ipv6_loopback(spawn: Callable[..., Process], tmp_path: Path) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    (tmp_path / "ipv6_settings.py").write_text(
        "from testproject.settings import *  # noqa\nALLOWED_HOSTS = ['[::1]']\n"
    )
    process = spawn("-6", "--noreload", "[::1]:0", settings="ipv6_settings", path=str(tmp_path))
    found = process.wait_for(r"Starting Channels development server at http://\[::1\]:(\d+)/")
    response = httpx.get(f"http://[::1]:{found.group(1)}/hello/", timeout=30)
    assert response.text == "Hello, channels!"


def test_console_lines_match_1x() -> None:
    now = datetime.datetime(2026, 11, 21, 10, 0, 0)
    http = format_action(
        "http",
        "complete",
        {
            "path": "/chat/",
            "status": 200,
            "method": "GET",
            "client": "127.0.0.1:54321",
            "time_taken": 0.0123,
            "size": 10,
        },
        now=now,
    )
    assert http == (
        "[2026/11/21 10:00:00] HTTP GET /chat/ 200 [0.01, 127.0.0.1:54321]",
        "HTTP_SUCCESS",
    )
    for action, word in [
        ("connecting", "HANDSHAKING"),
        ("connected", "CONNECT"),
        ("rejected", "REJECT"),
        ("disconnected", "DISCONNECT"),
    ]:
        line = format_action("websocket", action, {"path": "/ws/", "client": "1.2.3.4:5"}, now)
        assert line == (f"[2026/11/21 10:00:00] WebSocket {word} /ws/ [1.2.3.4:5]", None)
    assert format_action("websocket", "something-else", {}, now) is None
    styles = {
        s: format_action("http", "complete", {"status": s}, now)[1]  # type: ignore[index]
        for s in (101, 204, 304, 302, 404, 403, 500)
    }
    assert styles == {
        101: "HTTP_INFO",
        204: "HTTP_SUCCESS",
        304: "HTTP_NOT_MODIFIED",
        302: "HTTP_REDIRECT",
        404: "HTTP_NOT_FOUND",
        403: "HTTP_BAD_REQUEST",
        500: "HTTP_SERVER_ERROR",
    }


def test_channels_takes_over_runserver_even_after_staticfiles() -> None:
    import django.contrib.staticfiles.management.commands.runserver as static_runserver
    from channels._runserver_hook import install_runserver_command
    from channels.management.commands.runserver import Command

    original = static_runserver.Command
    try:
        # The test settings list staticfiles before channels, so staticfiles owns the name.
        assert get_commands()["runserver"] == "django.contrib.staticfiles"
        install_runserver_command()
        command = load_command_class(get_commands()["runserver"], "runserver")
        assert isinstance(command, Command)
        # Channels' command keeps staticfiles' options.
        parser = command.create_parser("manage.py", "runserver")
        options = parser.parse_args(["--nostatic", "--insecure", "--noworker", "--noasgi"])
        assert options.use_static_handler is False
        assert options.insecure_serving is True
        assert options.run_worker is False
        assert options.use_asgi is False
    finally:
        static_runserver.Command = original
