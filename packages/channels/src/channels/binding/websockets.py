"""WebSocket data binding: model changes as JSON frames on a multiplexed stream.

Outbound frames are ``{"stream": stream, "payload": {"action", "pk", "data",
"model"}}`` (``model`` is ``"app_label.modelname"``; ``pk`` is what Django's
JSON serializer gives, so a UUID key arrives as its string). Inbound frames
reach ``Binding.consumer`` through a ``WebsocketDemultiplexer`` with the
payload ``{"action", "pk", "data"}`` as the message's text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from channels.binding.base import Binding
from channels.generic.base import InvalidFrameError
from channels.generic.websockets import WebsocketDemultiplexer
from channels.message import Message

__all__ = ["WebsocketBinding", "WebsocketBindingWithMembers"]

logger = logging.getLogger(__name__)


class WebsocketBinding(Binding):
    """Bind a model to JSON WebSocket frames on the multiplexed stream ``stream``.

    Set ``model``, ``stream``, ``fields`` (or ``exclude``) and define
    ``group_names(instance)`` and ``has_permission(user, action, pk)``.
    """

    @classmethod
    def check_binding(cls) -> None:
        """Check the binding, including that it names its ``stream``."""
        super().check_binding()
        if not isinstance(cls.stream, str) or not cls.stream:
            raise ValueError(
                f"{cls.__qualname__} must set stream = '...' to the multiplexed stream name "
                f"its frames use, got {cls.stream!r}."
            )

    # Outbound --------------------------------------------------------------------

    @classmethod
    def encode(cls, stream: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        """Return the WebSocket message for ``payload`` on ``stream``."""
        return WebsocketDemultiplexer.encode(stream or "", payload)

    def serialize(self, instance: Any, action: str) -> dict[str, Any]:
        """Return ``{"action", "pk", "data", "model"}`` for ``action`` on ``instance``."""
        record = self._serialized(instance)
        return {
            "action": action,
            "pk": record["pk"],
            "data": self.serialize_data(instance),
            "model": instance._meta.label_lower,
        }

    def serialize_data(self, instance: Any) -> dict[str, Any]:
        """Return the bound fields of ``instance`` as JSON-ready data."""
        data: dict[str, Any] = dict(self._serialized(instance)["fields"])
        return data

    def _serialized(self, instance: models.Model) -> dict[str, Any]:
        cached: tuple[models.Model, dict[str, Any]] | None = getattr(self, "_record", None)
        if cached is not None and cached[0] is instance:
            return cached[1]
        text = serializers.serialize("json", [instance], fields=self.serialized_fields())
        record: dict[str, Any] = json.loads(text)[0]
        self._record = (instance, record)
        return record

    def serialized_fields(self) -> Sequence[str] | None:
        """Return the field names to serialize, or None for all of them."""
        if self.exclude is not None:
            return [f.name for f in self._model_fields() if f.name not in self.exclude]
        if self.fields is None or list(self.fields) == ["__all__"]:
            return None
        return list(self.fields)

    # Inbound ---------------------------------------------------------------------

    def deserialize(self, message: Message) -> tuple[str, Any, dict[str, Any]]:
        """Return ``(action, pk, data)`` from the frame's JSON text."""
        text = message.get("text")
        if not isinstance(text, str):
            raise InvalidFrameError("a binding frame must be JSON text")
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise InvalidFrameError(f"the frame is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise InvalidFrameError(
                f'a binding payload is an object {{"action", "pk", "data"}}, got {body!r:.80}'
            )
        action = body.get("action")
        pk = body.get("pk")
        data = body.get("data", {})
        if not isinstance(data, dict):
            raise InvalidFrameError(f"'data' must be an object of field values, got {data!r:.80}")
        if action in ("update", "delete") and pk is None:
            raise InvalidFrameError(f"the {action} action needs the 'pk' of the object")
        if not isinstance(action, str):
            raise InvalidFrameError(f"'action' must be create, update or delete, got {action!r}")
        return action, pk, data


class WebsocketBindingWithMembers(WebsocketBinding):
    """Send model attributes, properties and method results too, besides the fields.

    ``send_members`` names them; a dotted name follows attributes
    (``"author.username"``) and is sent with ``__`` instead of dots. Methods
    are called without arguments. Values must be JSON-serializable by
    Django's JSON encoder.
    """

    send_members: ClassVar[Sequence[str]] = ()
    encoder = DjangoJSONEncoder()

    @classmethod
    def check_binding(cls) -> None:
        """Check the binding, including that ``send_members`` is a list of names."""
        super().check_binding()
        members = cls.send_members
        if isinstance(members, str) or not all(isinstance(m, str) and m for m in members):
            raise TypeError(
                f"{cls.__qualname__}.send_members must be a list of member names such as "
                f"['full_name'], got {members!r:.80}."
            )

    def serialize_data(self, instance: Any) -> dict[str, Any]:
        """Return the bound fields plus the ``send_members`` values."""
        data = super().serialize_data(instance)
        members: dict[str, Any] = {}
        for name in self.send_members:
            value = instance
            for part in name.split("."):
                try:
                    value = getattr(value, part)
                except AttributeError as exc:
                    raise AttributeError(
                        f"{type(self).__qualname__}.send_members names {name!r}, but "
                        f"{type(value).__name__} has no attribute {part!r}."
                    ) from exc
            members[name.replace(".", "__")] = value() if callable(value) else value
        data.update(json.loads(self.encoder.encode(members)))
        return data
