"""Run ``python -m asgi_ipc``."""

import sys

from .cli import main

sys.exit(main())
