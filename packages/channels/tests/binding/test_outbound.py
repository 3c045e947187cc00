"""Outbound binding: model saves and deletes become create/update/delete group messages."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from binding.values.models import IntegerValue, Item, Post, Tag
from channels import Group, route
from channels.binding import CREATE, DELETE, UPDATE, Binding, registered_bindings
from channels.binding.websockets import WebsocketBinding, WebsocketBindingWithMembers
from channels.message import Message
from django.contrib.auth import get_user_model

from .conftest import REPLY, Bind, MakeLayer, drain, drive_all

pytestmark = pytest.mark.django_db


class IntegerValueBinding(WebsocketBinding):
    """The manual's example binding."""

    model = IntegerValue
    stream = "intval"
    fields = ["name", "value"]

    @classmethod
    def group_names(cls, instance):  # type: ignore[no-untyped-def]
        return ["intval-updates"]

    def has_permission(self, user, action, pk):  # type: ignore[no-untyped-def]
        return True


class PostBinding(WebsocketBinding):
    """Posts are shown on their blog's group, unless they have a secret."""

    model = Post
    stream = "posts"
    fields = ["__all__"]

    @classmethod
    def group_names(cls, instance: Any) -> list[str]:
        return [] if instance.secret else [f"blog-{instance.blog}", "all-posts"]

    def has_permission(self, user: Any, action: str, pk: Any) -> bool:
        return True


def listen(*groups: str, reply: str = REPLY) -> None:
    for name in groups:
        Group(name).add(reply)


def test_manual_example_create_update_delete(make_layer: MakeLayer, bind: Bind) -> None:
    bind(IntegerValueBinding)
    layer = make_layer()
    listen("intval-updates")
    value = IntegerValue.objects.create(name="fifty", value=50)
    [received] = drain(layer)
    assert received["stream"] == "intval"
    assert received["payload"] == {
        "action": "create",
        "model": "values.integervalue",
        "pk": value.pk,
        "data": {"name": "fifty", "value": 50},
    }
    value.value = 51
    value.save()
    pk = value.pk
    value.delete()
    sent = drain(layer)
    assert [m["payload"]["action"] for m in sent] == [UPDATE, DELETE]
    assert sent[0]["payload"]["data"] == {"name": "fifty", "value": 51}
    assert sent[1]["payload"]["pk"] == pk
    assert drain(layer) == []


def test_group_changes_send_delete_to_groups_left_and_create_to_groups_entered(
    make_layer: MakeLayer, bind: Bind
) -> None:
    bind(PostBinding)
    layer = make_layer()
    listen("blog-a", reply="watch.a")
    listen("blog-b", reply="watch.b")
    listen("all-posts", reply="watch.all")
    post = Post.objects.create(title="hello", blog="a")
    post.blog = "b"
    post.save()
    post.title = "edited"
    post.save()
    post.secret = "hidden"
    post.save()  # leaves every group
    post.secret = ""
    post.save()  # comes back
    post.delete()

    def actions(reply: str) -> list[tuple[str, str]]:
        return [
            (m["payload"]["action"], m["payload"]["data"]["title"]) for m in drain(layer, reply)
        ]

    assert actions("watch.a") == [(CREATE, "hello"), (DELETE, "hello")]
    assert actions("watch.b") == [
        (CREATE, "hello"),
        (UPDATE, "edited"),
        (DELETE, "edited"),
        (CREATE, "edited"),
        (DELETE, "edited"),
    ]
    assert actions("watch.all") == [
        (CREATE, "hello"),
        (UPDATE, "hello"),
        (UPDATE, "edited"),
        (DELETE, "edited"),
        (CREATE, "edited"),
        (DELETE, "edited"),
    ]


def test_a_change_on_a_stale_copy_is_compared_with_the_stored_row(
    make_layer: MakeLayer, bind: Bind
) -> None:
    bind(PostBinding)
    layer = make_layer()
    listen("blog-a", reply="watch.a")
    listen("blog-c", reply="watch.c")
    post = Post.objects.create(title="t", blog="a")
    copy = Post.objects.get(pk=post.pk)
    copy.blog = "c"
    copy.save()
    assert [m["payload"]["action"] for m in drain(layer, "watch.a")] == [CREATE, DELETE]
    assert [m["payload"]["action"] for m in drain(layer, "watch.c")] == [CREATE]


def test_all_fields_are_serialized_with_json_types(make_layer: MakeLayer, bind: Bind) -> None:
    bind(PostBinding)
    layer = make_layer()
    listen("all-posts")
    author = get_user_model().objects.create_user(username="ann")
    tag = Tag.objects.create(name="news")
    post = Post.objects.create(title="t", blog="a", author=author)
    post.tags.add(tag)  # many-to-many changes send no signal of their own
    post.save()
    sent = drain(layer)
    data = sent[-1]["payload"]["data"]
    assert set(data) == {"title", "blog", "secret", "tags", "author", "created"}
    assert data["tags"] == [tag.pk] and data["author"] == author.pk
    created = datetime.datetime.fromisoformat(data["created"].replace("Z", "+00:00"))
    assert abs(created - post.created) < datetime.timedelta(milliseconds=1)


def test_exclude_leaves_fields_out(make_layer: MakeLayer) -> None:
    class Public(WebsocketBinding):
        model = Post
        stream = "posts"
        exclude = ["secret", "author"]

        @classmethod
        def group_names(cls, instance: Any) -> list[str]:
            return ["public"]

        def has_permission(self, user: Any, action: str, pk: Any) -> bool:
            return False

    layer = make_layer()
    listen("public")
    Post.objects.create(title="t", blog="a", secret="s")
    [sent] = drain(layer)
    assert set(sent["payload"]["data"]) == {"title", "blog", "tags", "created"}


def test_uuid_primary_keys_are_sent_as_strings(make_layer: MakeLayer) -> None:
    class ItemBinding(WebsocketBindingWithMembers):
        model = Item
        stream = "items"
        fields = ["name"]
        send_members = ["shout", "name_length", "board.upper"]

        @classmethod
        def group_names(cls, instance: Any) -> list[str]:
            return [f"board-{instance.board}"]

        def has_permission(self, user: Any, action: str, pk: Any) -> bool:
            return True

    layer = make_layer()
    listen("board-main")
    item = Item.objects.create(name="widget")
    pk = item.pk
    item.delete()
    sent = drain(layer)
    assert [m["payload"]["action"] for m in sent] == [CREATE, DELETE]
    assert sent[0]["payload"]["pk"] == str(pk) == sent[1]["payload"]["pk"]
    uuid.UUID(sent[0]["payload"]["pk"])
    assert sent[0]["payload"]["model"] == "values.item"
    assert sent[0]["payload"]["data"] == {
        "name": "widget",
        "shout": "WIDGET",
        "name_length": 6,
        "board__upper": "MAIN",
    }


def test_changes_inside_a_consumer_are_sent_when_it_finishes(
    make_layer: MakeLayer, bind: Bind
) -> None:
    bind(IntegerValueBinding)
    observed: list[int] = []

    def consumer(message: Message, **kwargs: Any) -> None:
        IntegerValue.objects.create(name=message["name"])
        observed.append(len(drain(layer)))

    layer = make_layer([route("make.value", consumer)])
    listen("intval-updates")
    layer.send("make.value", {"name": "x"})
    drive_all(layer)
    assert observed == [0]
    assert [m["payload"]["action"] for m in drain(layer)] == [CREATE]


def test_queryset_update_sends_nothing(make_layer: MakeLayer, bind: Bind) -> None:
    bind(IntegerValueBinding)
    layer = make_layer()
    IntegerValue.objects.create(name="a")
    listen("intval-updates")
    IntegerValue.objects.update(value=5)
    assert drain(layer) == []


def test_defining_a_binding_registers_it_and_unregister_stops_it(make_layer: MakeLayer) -> None:
    class Temporary(IntegerValueBinding):
        pass

    assert Temporary in registered_bindings()
    assert IntegerValueBinding not in registered_bindings()  # isolated by the conftest
    layer = make_layer()
    listen("intval-updates")
    IntegerValue.objects.create(name="a")
    assert len(drain(layer)) == 1
    Temporary.unregister()
    assert Temporary not in registered_bindings()
    IntegerValue.objects.create(name="b")
    assert drain(layer) == []


def test_a_failing_group_send_does_not_break_the_save(
    make_layer: MakeLayer, bind: Bind, caplog: pytest.LogCaptureFixture
) -> None:
    bind(IntegerValueBinding)
    layer = make_layer()

    def broken(*args: Any) -> None:
        raise ConnectionError("layer down")

    layer.send_group = broken  # type: ignore[method-assign]
    value = IntegerValue.objects.create(name="kept")
    assert IntegerValue.objects.get(pk=value.pk).name == "kept"
    assert "could not send create" in caplog.text


def test_group_names_must_return_a_list(make_layer: MakeLayer) -> None:
    class Wrong(IntegerValueBinding):
        @classmethod
        def group_names(cls, instance: Any) -> Any:
            return "intval-updates"

    make_layer()
    with pytest.raises(TypeError, match="must return a list of group names"):
        IntegerValue.objects.create(name="a")


def _binding(**attrs: Any) -> type[Binding]:
    namespace: dict[str, Any] = {
        "model": IntegerValue,
        "stream": "s",
        "fields": ["name"],
        "group_names": classmethod(lambda cls, instance: []),
        "has_permission": lambda self, user, action, pk: True,
    }
    namespace.update(attrs)
    namespace = {k: v for k, v in namespace.items() if v is not _MISSING}
    return type("Checked", (WebsocketBinding,), namespace)


_MISSING = object()


@pytest.mark.parametrize(
    ("attrs", "error", "text"),
    [
        ({"fields": _MISSING}, ValueError, "must set fields"),
        ({"exclude": ["value"]}, ValueError, "sets both fields and exclude"),
        ({"fields": ["name", "nope"]}, ValueError, r"names \['nope'\], which IntegerValue"),
        ({"fields": "name"}, TypeError, "must be a list of field names"),
        ({"group_names": _MISSING}, TypeError, "does not define group_names"),
        ({"has_permission": _MISSING}, TypeError, "does not define has_permission"),
        ({"model": "values.IntegerValue"}, TypeError, "must be a Django model class"),
        ({"stream": _MISSING}, ValueError, "must set stream"),
    ],
)
def test_bad_bindings_are_refused_when_defined(attrs: Any, error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        _binding(**attrs)
    assert not registered_bindings()


def test_send_members_must_be_a_list_of_names() -> None:
    with pytest.raises(TypeError, match="send_members must be a list"):
        type(
            "Members",
            (WebsocketBindingWithMembers,),
            {
                "model": Item,
                "stream": "s",
                "fields": ["name"],
                "send_members": "shout",
                "group_names": classmethod(lambda cls, instance: []),
                "has_permission": lambda self, user, action, pk: True,
            },
        )
