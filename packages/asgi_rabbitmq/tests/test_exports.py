"""The public names of the package are exactly the intended ones."""

from __future__ import annotations

import asgi_rabbitmq
import asgi_rabbitmq.testing


def test_exported_names_are_exactly_the_intended_ones() -> None:
    assert sorted(asgi_rabbitmq.__all__) == [
        "QueueArgumentsMismatchError",
        "RabbitmqChannelLayer",
        "RabbitmqConnectionError",
        "RabbitmqLayerError",
        "RabbitmqLocalChannelLayer",
    ]
    for name in asgi_rabbitmq.__all__:
        assert getattr(asgi_rabbitmq, name) is not None


def test_testing_helper_names() -> None:
    assert sorted(asgi_rabbitmq.testing.__all__) == [
        "IsolatedLayerMixin",
        "TemporaryRabbitmqLocalChannelLayer",
        "delete_namespace",
        "isolated_layer",
        "random_prefix",
    ]
