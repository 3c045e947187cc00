"""The 1.x import path of the channel-layer conformance test case.

``from asgiref.conformance import ConformanceTestCase`` keeps working; the suite
itself lives in the separately installable ``asgi-conformance`` distribution.
"""

from __future__ import annotations

__all__ = ["ConformanceTestCase"]

try:
    from asgi_conformance import ConformanceTestCase
except ImportError as exc:  # pragma: no cover - exercised in a venv without the suite
    raise ImportError(
        "asgiref.conformance needs the conformance suite: pip install asgi-conformance "
        "(or asgiref-layers[conformance])."
    ) from exc
