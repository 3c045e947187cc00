"""The package imports and exposes its 1.x names."""

import channels
from channels import Channel, Group, channel_layers


def test_public_names_are_exported() -> None:
    assert set(channels.__all__) == {
        "DEFAULT_CHANNEL_LAYER",
        "Channel",
        "Group",
        "__version__",
        "channel_layers",
        "include",
        "route",
        "route_class",
    }
    assert channels.DEFAULT_CHANNEL_LAYER == "default"


def test_channel_send_reaches_the_default_layer() -> None:
    Channel("test.smoke").send({"value": 1})
    layer = channel_layers["default"]
    assert layer.receive(["test.smoke"]) == ("test.smoke", {"value": 1})


def test_group_send_reaches_members() -> None:
    Group("smoke").add("test.member")
    Group("smoke").send({"value": 2})
    assert channel_layers["default"].receive(["test.member"]) == ("test.member", {"value": 2})
