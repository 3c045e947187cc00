"""Test settings on the Redis layer, for tests that start real runworker processes.

The server comes from ASGI_REDIS_URL and the key prefix from CHANNELS_TEST_PREFIX,
so concurrent test runs do not see each other's messages.
"""

import os

from testproject.settings import *  # noqa: F403

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "asgi_redis.RedisChannelLayer",
        "ROUTING": "testproject.routing.channel_routing",
        "CONFIG": {
            "hosts": [os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")],
            "prefix": os.environ.get("CHANNELS_TEST_PREFIX", "channels-tests:"),
            "receive_timeout": 1.0,
        },
    },
}
