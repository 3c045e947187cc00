"""A test-only channel layer module: Daphne on asgi_redis (``redis_app:channel_layer``).

The application runs in the test process (see test_redis_layer.py); this module
only gives the Daphne subprocess a layer with the same settings.
"""

from __future__ import annotations

import os

from asgi_redis import RedisChannelLayer

REDIS_URL = os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")


def make_layer() -> RedisChannelLayer:
    """Return a layer on the test Redis with the prefix the test chose."""
    return RedisChannelLayer(
        hosts=[REDIS_URL],
        prefix=os.environ["DAPHNE_TEST_REDIS_PREFIX"],
        stats_prefix="daphne-test-meta:",
        capacity=2000,
        receive_timeout=0.5,
    )


channel_layer = make_layer() if "DAPHNE_TEST_REDIS_PREFIX" in os.environ else None
