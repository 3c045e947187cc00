"""Give each test its own empty namespace on a shared RabbitMQ broker.

Every object the layer creates starts with its ``prefix``, so a random prefix
per test isolates it from other tests, other test runs and a live site on the
same virtual host, without needing permissions to create virtual hosts.
Afterwards everything the test created is deleted.

With pytest::

    from asgi_rabbitmq.testing import isolated_layer

    @pytest.fixture
    def channel_layer():
        with isolated_layer("amqp://guest:guest@localhost:5672/%2F") as layer:
            yield layer

With unittest (or Django's ``SimpleTestCase``)::

    from asgi_rabbitmq.testing import IsolatedLayerMixin

    class ChatTests(IsolatedLayerMixin, unittest.TestCase):
        rabbitmq_url = "amqp://guest:guest@localhost:5672/%2F"

        def test_echo(self):
            self.channel_layer.send("echo", {"text": "hi"})
"""

from __future__ import annotations

import os
import random
import string
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from ._link import Link
from .core import DEFAULT_URL, RabbitmqChannelLayer
from .local import RabbitmqLocalChannelLayer

__all__ = [
    "IsolatedLayerMixin",
    "TemporaryRabbitmqLocalChannelLayer",
    "delete_namespace",
    "isolated_layer",
    "random_prefix",
]

#: Environment variable read when no url is given.
URL_ENVIRONMENT_VARIABLE = "ASGI_RABBITMQ_URL"


def random_prefix(base: str = "test") -> str:
    """Return ``base`` plus a dot and 12 random lowercase letters, e.g. ``test.qwertyuiopas``."""
    return base + "." + "".join(random.choices(string.ascii_lowercase, k=12))


def delete_namespace(layer: RabbitmqChannelLayer) -> None:
    """Delete every object under ``layer``'s prefix, including its shared queues."""
    layer.flush()

    def drop_shared(link: Link) -> None:
        names = layer.names
        link.admin.queue_delete(names.expired_queue)
        link.admin.queue_delete(names.registry_queue)
        link.admin.exchange_delete(names.expired_exchange)
        link.admin.exchange_delete(names.local_exchange)

    layer.call(drop_shared)
    layer.forget()


@contextmanager
def isolated_layer(
    url: str | Sequence[str] | None = None,
    layer_class: type[RabbitmqChannelLayer] = RabbitmqChannelLayer,
    **config: Any,
) -> Iterator[RabbitmqChannelLayer]:
    """Yield a layer on a fresh random prefix; delete its objects and close it afterwards.

    ``url`` defaults to ``$ASGI_RABBITMQ_URL`` or the local broker; ``config``
    holds any other layer options (``expiry``, ``capacity`` ...).
    """
    if "prefix" in config:
        raise TypeError("isolated_layer() chooses the prefix itself; do not pass one.")
    url = url or os.environ.get(URL_ENVIRONMENT_VARIABLE) or DEFAULT_URL
    layer = layer_class(url, prefix=random_prefix(), **config)
    try:
        yield layer
    finally:
        try:
            delete_namespace(layer)
        finally:
            layer.close()


class IsolatedLayerMixin:
    """unittest mixin: ``self.channel_layer`` is an isolated layer for each test.

    Set ``rabbitmq_url`` (default ``$ASGI_RABBITMQ_URL`` or the local broker)
    and ``layer_config`` (extra layer options) on the test class.
    """

    rabbitmq_url: ClassVar[str | None] = None
    layer_config: ClassVar[dict[str, Any]] = {}
    channel_layer: RabbitmqChannelLayer

    def setUp(self) -> None:
        """Create the layer and register its clean-up."""
        super().setUp()  # type: ignore[misc]
        context = isolated_layer(self.rabbitmq_url, **self.layer_config)
        self.channel_layer = context.__enter__()
        self.addCleanup(context.__exit__, None, None, None)  # type: ignore[attr-defined]


class TemporaryRabbitmqLocalChannelLayer(RabbitmqLocalChannelLayer):
    """A local-variant layer whose shared memory is removed when the process exits.

    Its local part is ``asgi_ipc.testing.TemporaryIPCChannelLayer`` (one random
    prefix per process, shared by every instance, as in a deployment), so test
    runs, including ``python -m asgi_conformance``, leave nothing in ``/dev/shm``.
    """

    def make_local_layer(self, prefix: str, options: dict[str, Any]) -> Any:
        """Return a temporary IPC layer, ignoring ``prefix`` for a per-process random one."""
        try:
            from asgi_ipc.testing import TemporaryIPCChannelLayer
        except ImportError as exc:
            raise ImportError(
                "TemporaryRabbitmqLocalChannelLayer needs asgi-ipc: "
                "pip install 'asgi-rabbitmq[local]'."
            ) from exc
        return TemporaryIPCChannelLayer(**options)
