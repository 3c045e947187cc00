"""Client, WSClient and HttpClient: replies, cookies, headers, sessions, login and accept checks."""

from __future__ import annotations

import json
from typing import Any

from channels import Channel, Group
from channels.auth import channel_session_user_from_http, http_session_user
from channels.exceptions import DenyConnection, WebsocketCloseException
from channels.message import Message
from channels.routing import route
from channels.sessions import http_session
from channels.test import ChannelTestCase, Client, HttpClient, WSClient, apply_routes
from django.contrib.auth.models import User


def deny(message: Message, **kwargs: Any) -> None:
    """Refuse every connection."""
    raise DenyConnection


def close_with_code(message: Message, **kwargs: Any) -> None:
    """Close the socket with code 4001 through WebsocketCloseException."""
    raise WebsocketCloseException(4001)


def crash(message: Message, **kwargs: Any) -> None:
    """Fail like a buggy consumer."""
    raise KeyError("boom")


def show_message(message: Message, **kwargs: Any) -> None:
    """Reply with the interesting parts of the message, as JSON text."""
    headers = {name.decode(): value.decode() for name, value in message["headers"]}
    reply = {"path": message["path"], "headers": headers, "order": message.get("order")}
    message.reply_channel.send({"text": json.dumps(reply)})


@http_session_user
def whoami(message: Message, **kwargs: Any) -> None:
    """Reply with the user's name and a session value, read from the cookie."""
    session = message.http_session  # type: ignore[attr-defined]
    user = message.user  # type: ignore[attr-defined]
    reply = {"user": user.get_username(), "colour": session.get("colour") if session else None}
    message.reply_channel.send({"text": json.dumps(reply)})


@channel_session_user_from_http
def connect_user(message: Message, **kwargs: Any) -> None:
    """Accept and join a group named after the user."""
    message.reply_channel.send({"accept": True})
    Group(f"user-{message.user.pk}").add(message.reply_channel)  # type: ignore[attr-defined]


@http_session
def bump(message: Message, **kwargs: Any) -> None:
    """Count visits in the HTTP session."""
    session = message.http_session  # type: ignore[attr-defined]
    session["visits"] = session.get("visits", 0) + 1


def buffered(message: Message, **kwargs: Any) -> None:
    """Send twice; the consumer-finished flush delivers both after it returns."""
    message.reply_channel.send({"text": "one"})
    Channel("side").send({"n": 1})
    message.reply_channel.send({"text": "two"})


ROUTES = [
    route("websocket.connect", deny, path=r"^/deny/$"),
    route("websocket.connect", close_with_code, path=r"^/code/$"),
    route("websocket.connect", connect_user, path=r"^/user/$"),
    route("websocket.receive", crash, path=r"^/crash/$"),
    route("websocket.receive", whoami, path=r"^/whoami/$"),
    route("websocket.receive", bump, path=r"^/bump/$"),
    route("websocket.receive", buffered, path=r"^/buffered/$"),
    route("websocket.receive", show_message),
]


@apply_routes(ROUTES)
class ClientTests(ChannelTestCase):
    """The plain message Client."""

    def test_send_adds_the_reply_channel_and_copies_content(self) -> None:
        client = Client()
        content = {"x": [1]}
        client.send("thing", content)
        content["x"].append(2)
        message = self.get_next_message("thing", require=True)
        self.assertEqual(message.content, {"x": [1], "reply_channel": client.reply_channel})

    def test_clients_have_separate_reply_channels(self) -> None:
        first, second = Client(), Client()
        Channel(first.reply_channel).send({"to": "first"})
        self.assertIsNone(second.receive())
        self.assertEqual(first.receive(), {"to": "first"})

    def test_consume_without_message_or_route_fails_unless_told_not_to(self) -> None:
        client = Client()
        with self.assertRaisesRegex(AssertionError, "No message to consume"):
            client.consume("nothing.here")
        self.assertIsNone(client.consume("nothing.here", fail_on_none=False))
        client.send("unrouted.channel", {})
        with self.assertRaisesRegex(AssertionError, "No route matches"):
            client.consume("unrouted.channel")

    def test_consumer_exceptions_reach_the_test(self) -> None:
        client = WSClient()
        with self.assertRaises(KeyError):
            client.send_and_consume("websocket.receive", path="/crash/")

    def test_buffered_sends_are_flushed_when_the_consumer_finishes(self) -> None:
        client = WSClient()
        client.send_and_consume("websocket.receive", path="/buffered/")
        self.assertEqual(client.receive(json=False), "one")
        self.assertEqual(client.receive(json=False), "two")
        self.assertEqual(self.get_next_message("side", require=True)["n"], 1)

    def test_get_consumer_by_channel_and_join_group(self) -> None:
        client = Client()
        self.assertIs(client.get_consumer_by_channel("websocket.receive"), show_message)
        self.assertIsNone(client.get_consumer_by_channel("no.such.channel"))
        client.join_group("watchers")
        Group("watchers").send({"news": 1})
        self.assertEqual(client.receive(), {"news": 1})


@apply_routes(ROUTES)
class WSClientTests(ChannelTestCase):
    """WSClient/HttpClient: path, headers, cookies, JSON, sessions, login, accept checks."""

    def test_message_has_path_headers_cookies_and_json_text(self) -> None:
        client = WSClient()
        client.set_header("Origin", "http://example.com")
        client.set_cookie("flavour", "mint")
        client.send("websocket.receive", text={"a": 1}, path="/elsewhere/")
        message = self.get_next_message("websocket.receive", require=True)
        self.assertEqual(message["text"], '{"a": 1}')
        self.assertEqual(message["path"], "/elsewhere/")
        self.assertIn([b"origin", b"http://example.com"], message["headers"])
        self.assertIn([b"cookie", b"flavour=mint"], message["headers"])
        self.assertNotIn("order", message.content)

    def test_receive_decodes_json_unless_told_not_to(self) -> None:
        client = WSClient()
        client.send_and_consume("websocket.receive", path="/x/")
        self.assertEqual(client.receive()["path"], "/x/")
        Channel(client.reply_channel).send({"text": "plain"})
        self.assertEqual(client.receive(json=False), "plain")
        Channel(client.reply_channel).send({"text": "plain"})
        with self.assertRaisesRegex(AssertionError, "not JSON; use receive\\(json=False\\)"):
            client.receive()
        Channel(client.reply_channel).send({"bytes": b"\x00"})
        self.assertEqual(client.receive(), {"bytes": b"\x00"})
        self.assertIsNone(client.receive())

    def test_string_in_place_of_content_is_the_path(self) -> None:
        client = WSClient()
        client.send_and_consume("websocket.receive", "/new")
        self.assertEqual(client.receive()["path"], "/new")

    def test_check_accept_fails_on_a_refused_connection(self) -> None:
        client = WSClient()
        with self.assertRaisesRegex(AssertionError, "was not accepted.*'close': True"):
            client.send_and_consume("websocket.connect", path="/deny/")
        client.send_and_consume("websocket.connect", path="/deny/", check_accept=False)
        self.assertEqual(client.receive(), {"close": True})
        client.send_and_consume("websocket.connect", path="/code/", check_accept=False)
        self.assertEqual(client.receive(), {"close": 4001})

    def test_default_connect_route_accepts(self) -> None:
        client = WSClient()
        client.send_and_consume("websocket.connect", path="/anything/")
        self.assertIsNone(client.receive())

    def test_session_is_sent_as_cookie_and_saved_changes_are_seen(self) -> None:
        client = WSClient()
        client.session["colour"] = "green"
        client.session.save()
        self.assertEqual(client.cookies["sessionid"], client.session.session_key)
        client.send_and_consume("websocket.receive", path="/whoami/")
        self.assertEqual(client.receive(), {"user": "", "colour": "green"})
        client.send_and_consume("websocket.receive", path="/bump/")
        client.send_and_consume("websocket.receive", path="/bump/")
        client.session.clear()
        self.assertEqual(type(client.session)(client.session.session_key).get("visits"), 2)

    def test_login_and_force_login(self) -> None:
        User.objects.create_user(username="ann", password="pw-123456")
        bob = User.objects.create_user(username="bob", password="pw-654321")
        client = WSClient()
        self.assertFalse(client.login(username="ann", password="wrong"))
        self.assertTrue(client.login(username="ann", password="pw-123456"))
        client.send_and_consume("websocket.receive", path="/whoami/")
        self.assertEqual(client.receive()["user"], "ann")
        other = HttpClient()
        other.force_login(bob)
        other.send_and_consume("websocket.connect", path="/user/")
        Group(f"user-{bob.pk}").send({"text": '"hi bob"'})
        self.assertEqual(other.receive(), "hi bob")
        other.logout()
        other.send_and_consume("websocket.receive", path="/whoami/")
        self.assertEqual(other.receive()["user"], "")

    def test_ordered_client_counts_from_zero(self) -> None:
        client = HttpClient(ordered=True)
        for expected in range(3):
            client.send_and_consume("websocket.receive", path="/x/")
            self.assertEqual(client.receive()["order"], expected)
        client.send_and_consume("websocket.receive", content={"order": 10}, path="/x/")
        self.assertEqual(client.receive()["order"], 10)

    def test_headers_given_in_content_are_normalised(self) -> None:
        client = WSClient()
        client.set_cookie("a", "b")
        client.send("websocket.receive", content={"headers": {"X-One": "1"}})
        message = self.get_next_message("websocket.receive", require=True)
        self.assertEqual(message["headers"], [[b"x-one", b"1"], [b"cookie", b"a=b"]])
