"""``Binding``: tie a Django model to groups (outbound) and to client frames (inbound).

How this works
--------------
Outbound. Defining a Binding subclass with a ``model`` registers it: its
receivers are connected to the model's ``pre_save``, ``post_save``,
``pre_delete`` and ``post_delete`` signals (``unregister()`` disconnects
them). Before a save, the row as stored in the database is read back and
``group_names()`` of that stored state is remembered on the instance; after
the save, ``group_names()`` of the new state is compared with it:

- groups only in the old set get ``delete`` (the instance left them),
- groups in both get ``update``,
- groups only in the new set get ``create`` (the instance entered them).

A delete sends ``delete`` to every group of the deleted instance. Each
message is ``encode(stream, serialize(instance, action))``, sent with
``Group.send`` (so inside a consumer it goes out when the consumer finishes).
Changes made outside Django's ``save()``/``delete()`` (``QuerySet.update``,
raw SQL) send no signals and so no messages.

Inbound. ``Binding.consumer`` is a consumer (route it, or map a
demultiplexer stream to it) that decodes a frame with ``deserialize`` into
``(action, pk, data)``, asks ``has_permission(user, action, pk)`` and then
runs ``create(data)``, ``update(pk, data)`` or ``delete(pk)``. Clients can
only write the fields the binding exposes, values go through the model's
``full_clean()``, and frames that are malformed, name unknown objects or
fail validation are logged at INFO and dropped.
"""

from __future__ import annotations

import logging
import threading
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from django.db import models
from django.db.models import signals

from channels.asgi import DEFAULT_CHANNEL_LAYER
from channels.binding._inbound import InboundMixin
from channels.channel import Group
from channels.generic.base import Handler, InvalidFrameError
from channels.message import Message

__all__ = [
    "CREATE",
    "DELETE",
    "UPDATE",
    "Binding",
    "BindingMetaclass",
    "registered_bindings",
]

logger = logging.getLogger(__name__)

CREATE = "create"
UPDATE = "update"
DELETE = "delete"

_MEMORY = "_channels_binding_groups"
_registry: dict[type[Binding], str] = {}
_registry_lock = threading.Lock()


def registered_bindings() -> list[type[Binding]]:
    """Return the Binding classes whose signal receivers are connected."""
    with _registry_lock:
        return list(_registry)


def _binding_consumer(cls: type[Binding], /, message: Message, **kwargs: Any) -> None:
    """Handle an inbound frame for the binding ``cls`` (its ``consumer`` attribute)."""
    channel = message.channel.name
    if channel == "websocket.connect":
        if "multiplexer" not in kwargs and message.reply_channel is not None:
            message.reply_channel.send({"accept": True})
        return
    if channel == "websocket.disconnect":
        return
    cls.get_handler()(message, **kwargs)


# A demultiplexer reads this to give the socket a channel session with the user in it.
_binding_consumer.__dict__["channel_session_user"] = True


class BindingMetaclass(type):
    """Check and register every Binding class that names a ``model``."""

    def __new__(
        mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> BindingMetaclass:
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        if getattr(cls, "model", None) is not None:
            cls.check_binding()  # type: ignore[attr-defined]
            cls.register()  # type: ignore[attr-defined]
        return cls


class Binding(InboundMixin, metaclass=BindingMetaclass):
    """Send model changes to groups and apply changes clients send; subclass and set ``model``.

    Required: ``model``, ``fields`` (a list of names, or ``["__all__"]``) or
    ``exclude``, ``group_names(instance)`` and ``has_permission(user, action,
    pk)``; protocol subclasses such as ``WebsocketBinding`` supply
    ``encode``, ``serialize`` and ``deserialize``.
    """

    #: The model class to bind.
    model: ClassVar[type[models.Model] | None] = None
    #: Field names to send and accept; ``["__all__"]`` for every field.
    fields: ClassVar[Sequence[str] | None] = None
    #: Field names never to send or accept (instead of ``fields``).
    exclude: ClassVar[Sequence[str] | None] = None
    #: The stream name messages are sent on, if the protocol has streams.
    stream: ClassVar[str | None] = None
    #: The channel layer alias outbound group messages go to.
    channel_layer_alias: ClassVar[str] = DEFAULT_CHANNEL_LAYER

    def __init__(self) -> None:
        self.message: Message | None = None
        self.kwargs: dict[str, Any] = {}
        self.user: Any = None
        self.instance: models.Model | None = None

    # Checks and registration ------------------------------------------------------

    @classmethod
    def check_binding(cls) -> None:
        """Raise TypeError/ValueError if the class is not a usable binding of ``model``."""
        model = cls.model
        if not (isinstance(model, type) and issubclass(model, models.Model)):
            raise TypeError(
                f"{cls.__qualname__}.model must be a Django model class, got {model!r}; "
                "import the model and assign the class."
            )
        missing = sorted(
            name
            for name in dir(cls)
            if getattr(getattr(cls, name, None), "__isabstractmethod__", False)
        )
        if missing:
            raise TypeError(
                f"{cls.__qualname__} binds {model.__name__} but does not define "
                f"{', '.join(missing)}; every binding must (see the Data Binding docs)."
            )
        if cls.fields is None and cls.exclude is None:
            raise ValueError(
                f"{cls.__qualname__} must set fields = [...] (or ['__all__']) or "
                "exclude = [...]; no fields are sent by default, for safety."
            )
        if cls.fields is not None and cls.exclude is not None:
            raise ValueError(
                f"{cls.__qualname__} sets both fields and exclude; choose one of them."
            )
        known = {field.name for field in cls._model_fields()}
        for option in ("fields", "exclude"):
            names = getattr(cls, option)
            if names is None:
                continue
            if isinstance(names, str) or not all(isinstance(name, str) for name in names):
                raise TypeError(
                    f"{cls.__qualname__}.{option} must be a list of field names such as "
                    f"['name', 'value'], got {names!r:.80}."
                )
            if option == "fields" and list(names) == ["__all__"]:
                continue
            unknown = sorted(set(names) - known)
            if unknown:
                raise ValueError(
                    f"{cls.__qualname__}.{option} names {unknown!r}, which "
                    f"{model.__name__} does not have; its fields are {sorted(known)!r}."
                )

    @classmethod
    def _model_fields(cls) -> list[Any]:
        meta = cls.model._meta  # type: ignore[union-attr]
        return [*meta.concrete_fields, *meta.many_to_many]

    @classmethod
    def _dispatch_uid(cls) -> str:
        return f"channels.binding:{cls.__module__}.{cls.__qualname__}:{id(cls)}"

    @classmethod
    def register(cls) -> None:
        """Connect this binding's receivers to its model's save and delete signals."""
        uid = cls._dispatch_uid()
        with _registry_lock:
            signals.pre_save.connect(cls.pre_save_receiver, cls.model, False, uid)
            signals.post_save.connect(cls.post_save_receiver, cls.model, False, uid)
            signals.pre_delete.connect(cls.pre_delete_receiver, cls.model, False, uid)
            signals.post_delete.connect(cls.post_delete_receiver, cls.model, False, uid)
            _registry[cls] = uid
        logger.debug("Registered binding %s for %s", cls.__qualname__, cls.model)

    @classmethod
    def unregister(cls) -> None:
        """Disconnect this binding from its model's signals (it sends nothing afterwards)."""
        uid = cls._dispatch_uid()
        with _registry_lock:
            for signal in (signals.pre_save, signals.post_save):
                signal.disconnect(sender=cls.model, dispatch_uid=uid)
            for signal in (signals.pre_delete, signals.post_delete):
                signal.disconnect(sender=cls.model, dispatch_uid=uid)
            _registry.pop(cls, None)

    # What subclasses provide -------------------------------------------------------

    @classmethod
    @abstractmethod
    def group_names(cls, instance: Any) -> Iterable[str]:
        """Return the names of the groups that should hear about ``instance``."""

    @abstractmethod
    def has_permission(self, user: Any, action: str, pk: Any) -> bool:
        """Return True if ``user`` may do ``action`` ("create", "update", "delete") on ``pk``."""

    @classmethod
    @abstractmethod
    def encode(cls, stream: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        """Return the channel message carrying ``payload`` (on ``stream``)."""

    @abstractmethod
    def serialize(self, instance: Any, action: str) -> dict[str, Any]:
        """Return the payload describing ``action`` on ``instance``."""

    @abstractmethod
    def deserialize(self, message: Message) -> tuple[str, Any, dict[str, Any]]:
        """Return ``(action, pk, data)`` from an inbound message; raise InvalidFrameError."""

    # Outbound --------------------------------------------------------------------

    @classmethod
    def _group_set(cls, instance: Any) -> set[str]:
        names = cls.group_names(instance)
        if isinstance(names, str) or not isinstance(names, Iterable):
            raise TypeError(
                f"{cls.__qualname__}.group_names() must return a list of group names such "
                f"as ['updates'], got {names!r:.80}."
            )
        return set(names)

    @classmethod
    def _remember(cls, instance: Any, groups: set[str]) -> None:
        instance.__dict__.setdefault(_MEMORY, {})[cls] = groups

    @classmethod
    def _recall(cls, instance: Any) -> set[str]:
        memory = instance.__dict__.get(_MEMORY, {})
        groups: set[str] = memory.pop(cls, set())
        return groups

    @classmethod
    def pre_save_receiver(cls, sender: Any, instance: Any, **kwargs: Any) -> None:
        """Remember the groups of the instance as it is stored now (none if it is new)."""
        old = None
        if instance.pk is not None:
            manager = type(instance)._base_manager.using(kwargs.get("using"))
            old = manager.filter(pk=instance.pk).first()
        cls._remember(instance, cls._group_set(old) if old is not None else set())

    @classmethod
    def post_save_receiver(cls, sender: Any, instance: Any, **kwargs: Any) -> None:
        """Send create/update/delete to the groups the saved instance entered, kept or left."""
        cls.post_change_receiver(instance, CREATE if kwargs.get("created") else UPDATE)

    @classmethod
    def pre_delete_receiver(cls, sender: Any, instance: Any, **kwargs: Any) -> None:
        """Remember the groups of the instance about to be deleted."""
        cls._remember(instance, cls._group_set(instance))

    @classmethod
    def post_delete_receiver(cls, sender: Any, instance: Any, **kwargs: Any) -> None:
        """Send delete to every group of the deleted instance."""
        cls.post_change_receiver(instance, DELETE)

    @classmethod
    def post_change_receiver(cls, instance: Any, action: str) -> None:
        """Send the messages for a change, comparing the groups before and after it."""
        old = cls._recall(instance)
        new = set() if action == DELETE else cls._group_set(instance)
        self = cls()
        self.instance = instance
        # Leaving first, then staying, then entering: a client in both an old and a
        # new group sees the object go and come back, never a stale copy.
        self.send_messages(instance, old - new, DELETE)
        self.send_messages(instance, old & new, UPDATE)
        self.send_messages(instance, new - old, CREATE)

    def send_messages(self, instance: Any, group_names: set[str], action: str) -> None:
        """Send ``action`` on ``instance`` to each of ``group_names``."""
        if not group_names:
            return
        message = self.encode(self.stream, self.serialize(instance, action))
        for name in sorted(group_names):
            try:
                Group(name, alias=self.channel_layer_alias).send(message)
            except Exception:
                logger.exception(
                    "%s could not send %s of %s to group %s",
                    type(self).__qualname__,
                    action,
                    instance,
                    name,
                )

    # Inbound ---------------------------------------------------------------------

    @classmethod
    def get_handler(cls) -> Handler:
        """Return the inbound handler: ``trigger_inbound`` with ``message.user`` provided."""
        from channels.auth import channel_session_user  # late: it imports auth models

        return channel_session_user(cls.trigger_inbound)

    #: The inbound consumer: route a channel to it or map a demultiplexer stream to it.
    consumer = classmethod(_binding_consumer)

    @classmethod
    def trigger_inbound(cls, message: Message, **kwargs: Any) -> None:
        """Decode an inbound message and carry out its action; log and drop bad frames."""
        from django.contrib.auth.models import AnonymousUser

        self = cls()
        self.message = message
        self.kwargs = kwargs
        self.user = getattr(message, "user", None) or AnonymousUser()
        try:
            action, pk, data = self.deserialize(message)
            self.run_action(action, pk, data)
        except InvalidFrameError as exc:
            logger.info(
                "%s dropped an inbound frame from %s: %s",
                cls.__qualname__,
                message.reply_channel,
                exc,
            )
