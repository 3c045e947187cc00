"""The "Testing Consumers" chapter's examples for generic consumers and data binding."""

from __future__ import annotations

from typing import Any

from binding.values.models import IntegerValue
from channels import Channel, Group, route
from channels.binding.base import CREATE
from channels.binding.websockets import WebsocketBinding
from channels.generic.websockets import JsonWebsocketConsumer, WebsocketDemultiplexer
from channels.test import ChannelTestCase, WSClient, apply_routes
from django.contrib.auth.models import User


class RoomConsumer(JsonWebsocketConsumer):
    http_user = True
    groups = ["rooms_watchers"]

    def receive(self, content, **kwargs):  # type: ignore[no-untyped-def]
        self.send({"rooms": self.message.http_session.get("rooms", [])})
        Channel("rooms_receive").send({"user": self.message.user.id, "message": content["message"]})


class MyConsumer(JsonWebsocketConsumer):
    def connect(self, message: Any, **kwargs: Any) -> None:
        super().connect(message, **kwargs)
        self.send({"key": "value"})


class IntegerValueBinding(WebsocketBinding):
    model = IntegerValue
    stream = "intval"
    fields = ["name", "value"]

    @classmethod
    def group_names(cls, instance):  # type: ignore[no-untyped-def]
        return ["intval-updates"]

    def has_permission(self, user, action, pk):  # type: ignore[no-untyped-def]
        return True


class Demultiplexer(WebsocketDemultiplexer):
    consumers = {
        "intval": IntegerValueBinding.consumer,
    }

    def connection_groups(self):  # type: ignore[no-untyped-def]
        return ["intval-updates"]


@apply_routes([RoomConsumer.as_route(path="/rooms/")])
class RoomsTests(ChannelTestCase):
    def test_rooms(self) -> None:
        client = WSClient()
        user = User.objects.create_user(username="test", email="test@test.com", password="123456")
        client.login(username="test", password="123456")

        client.send_and_consume("websocket.connect", path="/rooms/")
        # check that there is nothing to receive
        self.assertIsNone(client.receive())

        # test that the client in the group
        Group(RoomConsumer.groups[0]).send({"text": "ok"}, immediately=True)
        self.assertEqual(client.receive(json=False), "ok")

        client.session["rooms"] = ["test", "1"]
        client.session.save()

        client.send_and_consume("websocket.receive", text={"message": "hey"}, path="/rooms/")
        # test 'response'
        self.assertEqual(client.receive(), {"rooms": ["test", "1"]})

        self.assertEqual(
            self.get_next_message("rooms_receive").content, {"user": user.id, "message": "hey"}
        )

        # There is nothing to receive
        self.assertIsNone(client.receive())


class ApplyRoutesTests(ChannelTestCase):
    def test_myconsumer(self) -> None:
        client = WSClient()

        with apply_routes([MyConsumer.as_route(path="/new")]):
            client.send_and_consume("websocket.connect", path="/new")
            self.assertEqual(client.receive(), {"key": "value"})


class TestIntegerValueBinding(ChannelTestCase):
    def setUp(self) -> None:
        IntegerValueBinding.register()  # the tests' conftest isolates bindings per test

    def test_outbound_create(self) -> None:
        # We use WSClient because of json encoding messages
        client = WSClient()
        client.join_group("intval-updates")  # join outbound binding

        # create target entity
        value = IntegerValue.objects.create(name="fifty", value=50)

        received = client.receive()  # receive outbound binding message
        self.assertIsNotNone(received)

        self.assertTrue("payload" in received)
        self.assertTrue("action" in received["payload"])
        self.assertTrue("data" in received["payload"])
        self.assertTrue("name" in received["payload"]["data"])
        self.assertTrue("value" in received["payload"]["data"])

        self.assertEqual(received["payload"]["action"], "create")
        self.assertEqual(received["payload"]["model"], "values.integervalue")
        self.assertEqual(received["payload"]["pk"], value.pk)

        self.assertEqual(received["payload"]["data"]["name"], "fifty")
        self.assertEqual(received["payload"]["data"]["value"], 50)

        # assert that is nothing to receive
        self.assertIsNone(client.receive())

    def test_inbound_create(self) -> None:
        # check that initial state is empty
        self.assertEqual(IntegerValue.objects.all().count(), 0)

        with apply_routes(
            [
                Demultiplexer.as_route(path="/"),
                route("binding.intval", IntegerValueBinding.consumer),
            ]
        ):
            client = WSClient()
            client.send_and_consume("websocket.connect", path="/")
            client.send_and_consume(
                "websocket.receive",
                path="/",
                text={
                    "stream": "intval",
                    "payload": {"action": CREATE, "data": {"name": "one", "value": 1}},
                },
            )
            # The manual then runs client.consume('binding.users'), a channel nothing
            # sends to: the demultiplexer already ran the binding's consumer in-process.
            self.assertIsNone(client.consume("binding.intval", fail_on_none=False))

        self.assertEqual(IntegerValue.objects.all().count(), 1)
        value = IntegerValue.objects.all().first()
        self.assertEqual(value.name, "one")
        self.assertEqual(value.value, 1)
        # The socket joined intval-updates on connect, so it hears about the creation.
        received = client.receive()
        self.assertEqual(received["stream"], "intval")
        self.assertEqual(received["payload"]["action"], "create")
