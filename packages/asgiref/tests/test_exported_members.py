"""Each overlay module exports exactly its intended public names."""

from __future__ import annotations

import asgiref.base_layer
import asgiref.inmemory
import asgiref.layer_statistics


def test_base_layer_exports() -> None:
    assert set(asgiref.base_layer.__all__) == {
        "DEFAULT_MESSAGE_SIZE_LIMIT",
        "MAX_NAME_LENGTH",
        "BaseChannelLayer",
        "ChannelLayerProtocol",
        "ChannelStatistics",
        "compile_capacities",
        "copy_message",
        "require_send_pairs",
        "validate_message",
    }
    for name in asgiref.base_layer.__all__:
        assert hasattr(asgiref.base_layer, name)


def test_inmemory_exports() -> None:
    assert set(asgiref.inmemory.__all__) == {"ChannelLayer", "channel_layer"}
    assert isinstance(asgiref.inmemory.channel_layer, asgiref.inmemory.ChannelLayer)


def test_layer_statistics_exports() -> None:
    assert set(asgiref.layer_statistics.__all__) == {
        "ChannelCounters",
        "CounterTable",
        "RateCounter",
    }


def test_inmemory_layer_satisfies_protocol() -> None:
    assert isinstance(asgiref.inmemory.ChannelLayer(), asgiref.base_layer.ChannelLayerProtocol)
