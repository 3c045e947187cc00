"""Run the conformance suite: ``python -m asgi_conformance module:attr``."""

import sys

from asgi_conformance.runner import main

sys.exit(main())
