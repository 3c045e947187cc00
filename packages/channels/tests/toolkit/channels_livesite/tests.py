"""The project's own live-server tests: real Daphne and worker processes."""

import os
import time
import urllib.error
import urllib.request

from channels import Group
from channels.test import ChannelLiveServerTestCase
from django.contrib.auth.models import User
from websockets.sync.client import connect

TIMEOUT = 60


def record_pids(case: type[ChannelLiveServerTestCase]) -> None:
    """Note the server pids, so the outer test can check they were stopped."""
    with open(os.path.join(os.environ["CHANNELS_LIVESITE_DIR"], "pids.txt"), "a") as pids:
        for process in case._live_processes:
            pids.write(f"{process.pid}\n")


class LiveServerTests(ChannelLiveServerTestCase):
    """HTTP, WebSocket, groups and static files through the live server."""

    def test_http_request_sees_the_test_database(self) -> None:
        record_pids(type(self))
        User.objects.create_user(username="live-user")
        with urllib.request.urlopen(self.live_server_url + "/users/", timeout=TIMEOUT) as reply:
            self.assertEqual(reply.status, 200)
            self.assertEqual(reply.read(), b"live-user")

    def test_websocket_round_trip(self) -> None:
        self.assertTrue(self.live_server_ws_url.startswith("ws://127.0.0.1:"))
        with connect(self.live_server_ws_url + "/echo/", open_timeout=TIMEOUT) as socket:
            socket.send("hello")
            self.assertEqual(socket.recv(timeout=TIMEOUT), "echo:hello")

    def test_group_send_from_the_test_reaches_the_browser(self) -> None:
        with connect(self.live_server_ws_url + "/group/", open_timeout=TIMEOUT) as socket:
            # The join happens in the worker after the accept; retry until it is a member.
            deadline = time.monotonic() + TIMEOUT
            while True:
                Group("live").send({"text": "news"})
                try:
                    self.assertEqual(socket.recv(timeout=0.5), "news")
                    break
                except TimeoutError:
                    self.assertLess(time.monotonic(), deadline, "the group message never came")

    def test_static_files_are_served(self) -> None:
        url = self.live_server_url + "/static/channels/js/websocketbridge.js"
        with urllib.request.urlopen(url, timeout=TIMEOUT) as reply:
            self.assertEqual(reply.status, 200)
            self.assertIn(b"WebSocketBridge", reply.read())


class NoStaticTests(ChannelLiveServerTestCase):
    """serve_static = False leaves static URLs to the views (404 here)."""

    serve_static = False

    def test_static_files_are_not_served(self) -> None:
        record_pids(type(self))
        url = self.live_server_url + "/static/channels/js/websocketbridge.js"
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url, timeout=TIMEOUT)
        self.assertEqual(caught.exception.code, 404)
