"""``Channel`` and ``Group``: named endpoints on a channel layer that you can send to."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from channels.asgi import DEFAULT_CHANNEL_LAYER, channel_layers

if TYPE_CHECKING:
    from channels.asgi import ChannelLayerWrapper

__all__ = ["Channel", "Group"]

logger = logging.getLogger(__name__)


def _resolve_layer(alias: str, channel_layer: Any) -> Any:
    if channel_layer is not None:
        return channel_layer
    return channel_layers[alias]


def _require_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(
            f"{kind} name must be a non-empty str such as 'chat-room', got {name!r} "
            f"({type(name).__name__})."
        )
    return name


def _require_content(kind: str, name: str, content: object) -> dict[str, Any]:
    # Channel.send and Group.send raise the same TypeError for the same mistake.
    if not isinstance(content, Mapping):
        raise TypeError(
            f"{kind}({name!r}).send() takes a dict of message content, got "
            f"{type(content).__name__} {content!r:.80}; wrap it, e.g. {{'text': ...}}."
        )
    return dict(content)


class _Destination:
    """What Channel and Group share: a validated name, a layer, and buffered sends."""

    #: The class name in error messages, and the layer method that checks a name.
    _kind = ""
    _name_check = ""

    def __init__(
        self,
        name: str,
        alias: str = DEFAULT_CHANNEL_LAYER,
        channel_layer: ChannelLayerWrapper | Any | None = None,
    ) -> None:
        self.name = _require_name(self._kind, name)
        self.channel_layer = _resolve_layer(alias, channel_layer)

    def send(self, content: Mapping[str, Any], immediately: bool = False) -> None:
        """Send ``content`` here.

        Inside a consumer the send is buffered and happens when the consumer
        finishes, unless ``immediately`` is true.
        """
        message = _require_content(self._kind, self.name, content)
        from channels.message import pending_message_store

        if not immediately and pending_message_store.active():
            _check_name(self.channel_layer, self._name_check, self.name)
            # Only the two subclasses below exist, so the store sees a Channel or a Group.
            pending_message_store.append(cast("Channel | Group", self), message)
            return
        if pending_message_store.kept_count():
            pending_message_store.flush_deferred()  # earlier consumers' sends go first
        self._send_now(message)

    def _send_now(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<{self._kind} {self.name!r}>"


class Channel(_Destination):
    """A named channel on a layer: ``Channel("my.channel").send({...})``."""

    _kind = "Channel"
    _name_check = "require_channel_name"

    def _send_now(self, message: dict[str, Any]) -> None:
        self.channel_layer.send(self.name, message)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Channel):
            return self.name == other.name
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)


class Group(_Destination):
    """A named group of channels: ``Group("chat").add(reply_channel)`` then ``.send({...})``."""

    _kind = "Group"
    _name_check = "require_group_name"

    def add(self, channel: Channel | str) -> None:
        """Add ``channel`` (a Channel or a name) to the group; adding twice does nothing."""
        self.channel_layer.group_add(self.name, _channel_name(channel))

    def discard(self, channel: Channel | str) -> None:
        """Remove ``channel`` (a Channel or a name) from the group if it is a member."""
        self.channel_layer.group_discard(self.name, _channel_name(channel))

    def _send_now(self, message: dict[str, Any]) -> None:
        self.channel_layer.send_group(self.name, message)


def _check_name(layer: Any, check: str, name: str) -> None:
    # A buffered send must fail where it is made, like an immediate one, not at flush time.
    require = getattr(layer, check, None)
    if callable(require):
        require(name)


def _channel_name(channel: Channel | str) -> str:
    if isinstance(channel, Channel):
        return channel.name
    if isinstance(channel, str) and channel:
        return channel
    raise TypeError(
        f"Group membership takes a Channel or a channel name (str), got {channel!r} "
        f"({type(channel).__name__}); pass message.reply_channel."
    )
