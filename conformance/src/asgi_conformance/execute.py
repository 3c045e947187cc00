"""Run one check against a profile and classify the outcome.

Every check gets a layer from the profile's factory, flushed first if it has
``flush`` (a shared instance, or a fresh client of a shared server, may hold
earlier state). The check runs in a daemon thread so that a layer that hangs
(a blocking receive that never returns) fails that check instead of the whole
run. A fresh layer with a ``close`` method is closed afterwards.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

from asgi_conformance.context import CheckContext, run_prefix
from asgi_conformance.profile import LayerProfile
from asgi_conformance.registry import Check, CheckFailed, CheckSkipped

__all__ = ["CheckResult", "Status", "run_check", "run_checks"]

logger = logging.getLogger(__name__)


class Status:
    """The outcome names of a check."""

    PASSED = "pass"
    FAILED = "fail"
    SKIPPED = "skip"
    XFAILED = "xfail"


@dataclass
class CheckResult:
    """The outcome of one check: status, a one-line reason, details and duration."""

    check: Check
    status: str
    reason: str = ""
    details: str = ""
    duration: float = 0.0
    error: BaseException | None = None


def _call_with_timeout(check: Check, ctx: CheckContext, timeout: float) -> BaseException | None:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            check(ctx)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name=f"check-{check.id}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return CheckFailed(f"the check did not finish within {timeout:g} s (is the layer hung?)")
    return errors[0] if errors else None


def _prepare(layer: Any) -> None:
    flush = getattr(layer, "flush", None)
    if callable(flush):
        flush()


def run_check(
    check: Check,
    profile: LayerProfile,
    prefix: str | None = None,
    timeout: float = 180.0,
) -> CheckResult:
    """Run ``check`` against a layer from ``profile`` and return its result."""
    started = time.monotonic()
    error: BaseException | None
    layer: Any = None
    try:
        layer = profile.factory()
        _prepare(layer)
    except Exception as exc:
        error = exc
    else:
        ctx = CheckContext(layer, profile, check.id, prefix or run_prefix())
        error = _call_with_timeout(check, ctx, timeout)
    finally:
        if layer is not None and not profile.reuse:
            close = getattr(layer, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:
                    logger.warning("Closing the layer after %s failed", check.id, exc_info=True)
    duration = time.monotonic() - started
    result = _classify(check, profile, error, duration)
    logger.debug("Check %s: %s in %.2f s %s", check.id, result.status, duration, result.reason)
    return result


def _classify(
    check: Check, profile: LayerProfile, error: BaseException | None, duration: float
) -> CheckResult:
    expected = profile.expected_failures.get(check.id)
    if isinstance(error, CheckSkipped):
        return CheckResult(check, Status.SKIPPED, str(error), duration=duration)
    if error is None:
        if expected is not None:
            return CheckResult(
                check,
                Status.FAILED,
                f"passed, but the profile expects it to fail ({expected}); "
                "remove it from expected_failures",
                duration=duration,
            )
        return CheckResult(check, Status.PASSED, duration=duration)
    if isinstance(error, CheckFailed):
        reason = str(error)
    else:
        reason = f"{type(error).__name__} raised: {error}"
    details = "".join(traceback.format_exception(error))
    if expected is not None:
        return CheckResult(
            check,
            Status.XFAILED,
            f"expected failure ({expected}): {reason}",
            details,
            duration,
            error,
        )
    return CheckResult(check, Status.FAILED, reason, details, duration, error)


def run_checks(
    checks: list[Check], profile: LayerProfile, timeout: float = 180.0
) -> list[CheckResult]:
    """Run ``checks`` in order with one random channel prefix; return their results."""
    prefix = run_prefix()
    return [run_check(check, profile, prefix, timeout) for check in checks]
