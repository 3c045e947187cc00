"""Settings for the real ``rundelay`` processes: the Redis test layer and a SQLite file.

The database file comes from CHANNELS_DELAY_DB; the Redis server and key prefix
from ASGI_REDIS_URL and CHANNELS_TEST_PREFIX (see testproject.settings_redis).
"""

import os

from testproject.settings_redis import *  # noqa: F403

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["CHANNELS_DELAY_DB"]}
}
