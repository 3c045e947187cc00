"""Inbound binding: create/update/delete frames from clients, through a demultiplexer."""

from __future__ import annotations

import json
import logging
import re
import uuid
from importlib import import_module
from typing import Any

import pytest
from binding.values.models import IntegerValue, Item, Post, Tag
from channels import route, route_class
from channels.binding.base import CREATE, DELETE, UPDATE, Binding
from channels.binding.websockets import WebsocketBinding
from channels.generic.websockets import WebsocketDemultiplexer
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model

from .conftest import REPLY, Bind, MakeLayer, drain, drive_all, frame, ws

pytestmark = pytest.mark.django_db
permissions: list[tuple[Any, str, Any]] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    permissions.clear()


class IntegerValueBinding(WebsocketBinding):
    model = IntegerValue
    stream = "intval"
    fields = ["name", "value"]

    @classmethod
    def group_names(cls, instance):  # type: ignore[no-untyped-def]
        return ["intval-updates"]

    def has_permission(self, user, action, pk):  # type: ignore[no-untyped-def]
        permissions.append((user, action, pk))
        return not getattr(user, "username", "").startswith("guest")


class PostBinding(WebsocketBinding):
    model = Post
    stream = "posts"
    fields = ["title", "blog", "tags", "author"]

    @classmethod
    def group_names(cls, instance: Any) -> list[str]:
        return ["posts"]

    def has_permission(self, user: Any, action: str, pk: Any) -> bool:
        return True


class ItemBinding(WebsocketBinding):
    model = Item
    stream = "items"
    fields = ["__all__"]

    @classmethod
    def group_names(cls, instance: Any) -> list[str]:
        return ["items"]

    def has_permission(self, user: Any, action: str, pk: Any) -> bool:
        return True


# The manual's consumer for the binding, as written.
class Demultiplexer(WebsocketDemultiplexer):
    consumers = {
        "intval": IntegerValueBinding.consumer,
        "posts": PostBinding.consumer,
        "items": ItemBinding.consumer,
    }

    def connection_groups(self):  # type: ignore[no-untyped-def]
        return ["intval-updates"]


@pytest.fixture
def socket(make_layer: MakeLayer, bind: Bind) -> Any:
    """Return a function sending frames on one connected, demultiplexed socket."""
    bind(IntegerValueBinding, PostBinding, ItemBinding)
    layer = make_layer([route_class(Demultiplexer, path="^/binding/")])
    order = [0]

    def send(stream: str | None = None, payload: Any = None, **content: Any) -> list[Any]:
        if stream is None:
            layer.send("websocket.connect", ws(0, **content))
        else:
            order[0] += 1
            layer.send("websocket.receive", ws(order[0], text=frame(stream, payload)))
        drive_all(layer)
        return drain(layer)

    return send


def test_connect_joins_the_groups_and_inbound_create_is_broadcast(socket: Any) -> None:
    assert socket() == [{"accept": True}]
    sent = socket("intval", {"action": CREATE, "data": {"name": "one", "value": 1}})
    value = IntegerValue.objects.get()
    assert (value.name, value.value) == ("one", 1)
    assert sent == [
        {
            "stream": "intval",
            "payload": {
                "action": "create",
                "pk": value.pk,
                "data": {"name": "one", "value": 1},
                "model": "values.integervalue",
            },
        }
    ]
    [(user, action, pk)] = permissions
    assert user.is_anonymous and action == CREATE and pk is None


def test_inbound_update_and_delete(socket: Any) -> None:
    value = IntegerValue.objects.create(name="a", value=1)
    socket()
    drain_sent = socket("intval", {"action": UPDATE, "pk": value.pk, "data": {"value": 7}})
    value.refresh_from_db()
    assert (value.name, value.value) == ("a", 7)
    assert drain_sent[0]["payload"]["action"] == UPDATE
    sent = socket("intval", {"action": DELETE, "pk": value.pk})
    assert not IntegerValue.objects.exists()
    assert sent[0]["payload"] == {
        "action": "delete",
        "pk": value.pk,
        "data": {"name": "a", "value": 7},
        "model": "values.integervalue",
    }


def logged_in_cookie(username: str) -> list[list[bytes]]:
    user = get_user_model().objects.create_user(username=username, password="pw")
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return [[b"cookie", f"{settings.SESSION_COOKIE_NAME}={store.session_key}".encode()]]


def test_has_permission_sees_the_user_and_can_refuse(make_layer: MakeLayer, bind: Bind) -> None:
    class UserDemultiplexer(Demultiplexer):
        http_user = True

    bind(IntegerValueBinding)
    layer = make_layer([route_class(UserDemultiplexer)])
    layer.send("websocket.connect", ws(0, headers=logged_in_cookie("guest-1")))
    payload = {"action": CREATE, "data": {"name": "x"}}
    layer.send("websocket.receive", ws(1, text=frame("intval", payload)))
    drive_all(layer)
    assert not IntegerValue.objects.exists()
    assert [(u.username, a) for u, a, _ in permissions] == [("guest-1", CREATE)]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"action": "explode", "pk": 1}, "unknown action 'explode'"),
        ({"action": UPDATE, "data": {"value": 2}}, "update action needs the 'pk'"),
        ({"action": DELETE}, "delete action needs the 'pk'"),
        ({"action": UPDATE, "pk": 999, "data": {}}, "no IntegerValue with pk 999"),
        ({"action": UPDATE, "pk": "x1", "data": {}}, "'x1' is not a valid IntegerValue pk"),
        ({"action": DELETE, "pk": [1]}, r"\[1\] is not a valid IntegerValue pk"),
        (
            {"action": CREATE, "data": {"name": "n", "id": 5}},
            r"does not accept the fields \['id'\]",
        ),
        ({"action": CREATE, "data": {"name": "n", "value": "ten"}}, "bad value for 'value'"),
        ({"action": CREATE, "data": {"name": "n" * 101}}, "does not validate"),
        ({"action": CREATE, "data": {"name": "taken"}}, "does not validate"),
        ({"action": CREATE, "data": ["name"]}, "'data' must be an object"),
        (["create"], "a binding payload is an object"),
        ({"action": 5, "data": {}}, "'action' must be create, update or delete"),
    ],
)
def test_bad_inbound_frames_are_logged_and_change_nothing(
    socket: Any, caplog: pytest.LogCaptureFixture, payload: Any, problem: str
) -> None:
    IntegerValue.objects.create(name="taken", value=1)
    socket()
    with caplog.at_level(logging.INFO, logger="channels"):
        assert socket("intval", payload) == []
    assert list(IntegerValue.objects.values_list("name", "value")) == [("taken", 1)]
    infos = [r for r in caplog.records if r.name.startswith("channels.binding")]
    assert len(infos) == 1 and infos[0].levelno == logging.INFO
    assert re.search(problem, infos[0].getMessage())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_relations_and_many_to_many_can_be_written(socket: Any) -> None:
    socket()
    author = get_user_model().objects.create_user(username="ann")
    news, tech = Tag.objects.create(name="news"), Tag.objects.create(name="tech")
    data = {"title": "t", "blog": "b", "tags": [news.pk, tech.pk], "author": author.pk}
    socket("posts", {"action": CREATE, "data": data})
    post = Post.objects.get()
    assert post.author == author and set(post.tags.all()) == {news, tech}
    socket("posts", {"action": UPDATE, "pk": post.pk, "data": {"tags": [tech.pk, 999]}})
    assert set(post.tags.all()) == {news, tech}
    socket("posts", {"action": UPDATE, "pk": post.pk, "data": {"tags": [], "author": None}})
    post.refresh_from_db()
    assert post.author is None and not post.tags.exists()
    socket("posts", {"action": UPDATE, "pk": post.pk, "data": {"secret": "x"}})
    post.refresh_from_db()
    assert post.secret == ""


def test_uuid_primary_keys_work_inbound(socket: Any) -> None:
    socket()
    socket("items", {"action": CREATE, "data": {"name": "widget"}})
    item = Item.objects.get()
    assert isinstance(item.pk, uuid.UUID)
    socket("items", {"action": UPDATE, "pk": str(item.pk), "data": {"board": "side"}})
    item.refresh_from_db()
    assert item.board == "side"
    socket("items", {"action": UPDATE, "pk": "not-a-uuid", "data": {"board": "x"}})
    socket("items", {"action": DELETE, "pk": str(item.pk)})
    assert not Item.objects.exists()


def test_binding_consumer_can_be_routed_directly(make_layer: MakeLayer, bind: Bind) -> None:
    bind(IntegerValueBinding)
    layer = make_layer([route("binding.intval", IntegerValueBinding.consumer)])
    body = {"action": CREATE, "data": {"name": "direct", "value": 3}}
    layer.send("binding.intval", {"reply_channel": REPLY, "text": json.dumps(body)})
    drive_all(layer)
    assert IntegerValue.objects.get().name == "direct"


class EventBinding(Binding):
    """A binding for another protocol: plain dict messages, not WebSocket JSON frames."""

    model = IntegerValue
    fields = ["name", "value"]

    @classmethod
    def group_names(cls, instance: Any) -> list[str]:
        return ["events"]

    def has_permission(self, user: Any, action: str, pk: Any) -> bool:
        return True

    @classmethod
    def encode(cls, stream: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        return {"event": payload}

    def serialize(self, instance: Any, action: str) -> dict[str, Any]:
        return {"op": action, "id": instance.pk, "name": instance.name}

    def deserialize(self, message: Any) -> tuple[str, Any, dict[str, Any]]:
        return message["op"], message.get("id"), message.get("values", {})


def test_the_base_binding_serves_custom_protocols(make_layer: MakeLayer, bind: Bind) -> None:
    bind(EventBinding)
    layer = make_layer([route("custom.binding", EventBinding.consumer)])
    layer.group_add("events", "events.watcher")
    layer.send("custom.binding", {"reply_channel": REPLY, "op": CREATE, "values": {"name": "c"}})
    drive_all(layer)
    value = IntegerValue.objects.get()
    layer.send("custom.binding", {"reply_channel": REPLY, "op": DELETE, "id": value.pk})
    drive_all(layer)
    assert not IntegerValue.objects.exists()
    assert drain(layer, "events.watcher") == [
        {"event": {"op": "create", "id": value.pk, "name": "c"}},
        {"event": {"op": "delete", "id": value.pk, "name": "c"}},
    ]
