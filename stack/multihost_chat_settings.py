"""The tutorial chat's settings with its Redis layer sharded over STACK_REDIS_HOSTS.

Used by stack/tests/test_multihost.py: examples/chat reads one Redis URL; this
module keeps everything else and lists every shard (comma-separated URLs).
"""

import os

from chat_site.settings import *  # noqa: F403
from chat_site.settings import CHANNEL_LAYERS

CHANNEL_LAYERS["default"]["CONFIG"] = {
    **CHANNEL_LAYERS["default"].get("CONFIG", {}),
    "hosts": os.environ["STACK_REDIS_HOSTS"].split(","),
    "receive_timeout": 2.0,
    "connection_kwargs": {"socket_connect_timeout": 3},
}
