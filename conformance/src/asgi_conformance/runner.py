"""The command line: ``python -m asgi_conformance module:attr [--config JSON]``.

The target names a layer class (built with ``--config`` as keyword arguments,
on top of short test settings, fresh for every check), a layer instance (run
with its own settings, flushed between checks) or a ``LayerProfile``. The
report has one line per check and ends with ``N passed, N failed, N skipped``
(``--model`` adds a line for the state machine, outside that count); the exit
status is 1 when a check failed and 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import fnmatch
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import TextIO

from asgi_conformance.context import run_prefix
from asgi_conformance.execute import CheckResult, Status, run_check
from asgi_conformance.loading import TargetError, load_profile, parse_config
from asgi_conformance.profile import CLASS_TEST_SETTINGS, LayerProfile
from asgi_conformance.registry import Check, all_checks

__all__ = ["build_parser", "main", "summary_line"]

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``asgi-conformance`` command."""
    parser = argparse.ArgumentParser(
        prog="asgi-conformance",
        description=(
            "Run the ASGI 1 channel-layer conformance checks against a layer class, "
            "a layer instance or a LayerProfile."
        ),
    )
    parser.add_argument(
        "target",
        nargs="?",
        help="module:attr of a layer class (e.g. asgiref.inmemory:ChannelLayer), a layer "
        "instance (e.g. myproject.asgi:channel_layer) or a LayerProfile",
    )
    parser.add_argument(
        "--config",
        metavar="JSON",
        help="JSON object of keyword arguments for a layer class, e.g. "
        '\'{"hosts": [["127.0.0.1", 6379]]}\'; overrides the short test settings '
        f"{CLASS_TEST_SETTINGS}",
    )
    parser.add_argument(
        "--receive-tries",
        type=int,
        metavar="N",
        help="receives to try before deciding a channel is empty (sharded layers)",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="PATTERN",
        help="run only the checks whose id matches this glob (repeatable), e.g. 'core.*'",
    )
    parser.add_argument(
        "--max-sleep",
        type=float,
        metavar="SECONDS",
        help="skip time checks that would sleep longer than this (default 10)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="fail a check that runs longer than this (default 180)",
    )
    parser.add_argument(
        "--model",
        action="store_true",
        help="also run the hypothesis state machine (needs a profile with a clock hook, or "
        "expiry and group_expiry of at least 60 s)",
    )
    parser.add_argument("--list", action="store_true", help="list the check ids and exit")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print a traceback for each failure"
    )
    return parser


def summary_line(results: Sequence[CheckResult]) -> str:
    """Return ``"N passed, N failed, N skipped"`` (expected failures count as skipped)."""
    passed = sum(result.status == Status.PASSED for result in results)
    failed = sum(result.status == Status.FAILED for result in results)
    skipped = len(results) - passed - failed
    return f"{passed} passed, {failed} failed, {skipped} skipped"


def _select(checks: list[Check], patterns: list[str] | None) -> list[Check]:
    if not patterns:
        return checks
    return [item for item in checks if any(fnmatch.fnmatch(item.id, p) for p in patterns)]


def _describe(profile: LayerProfile) -> str:
    kind = "one shared instance, flushed between checks" if profile.reuse else "fresh per check"
    clock = "clock hook" if profile.clock is not None else "real time"
    return (
        f"{profile.name} ({kind}; expiry={profile.expiry}, group_expiry="
        f"{profile.group_expiry}, capacity={profile.capacity}, receive_tries="
        f"{profile.receive_tries}, {clock})"
    )


def _report(result: CheckResult, width: int, out: TextIO, verbose: bool) -> None:
    status = Status.SKIPPED if result.status == Status.XFAILED else result.status
    line = f"{result.check.id:<{width}}  {status}"
    if result.reason:
        line += f"  {result.reason}"
    print(line, file=out, flush=True)
    if verbose and result.status == Status.FAILED and result.details:
        print(result.details.rstrip(), file=out, flush=True)


def _slow_settings_note(profile: LayerProfile) -> str | None:
    slow = [
        f"{label} {value} s"
        for label, value in (("expiry", profile.expiry), ("group_expiry", profile.group_expiry))
        if value is not None and profile.sleep_for(value) > profile.max_sleep
    ]
    if not slow:
        return None
    return (
        f"note: running with the layer's own settings ({', '.join(slow)}); checks that "
        f"would sleep longer than {profile.max_sleep:g} s are skipped. Run the layer class "
        "instead to get short test settings."
    )


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the suite as the command line says; return the exit status."""
    stream = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    checks = _select(all_checks(), args.only)
    if args.list:
        width = max(len(item.id) for item in all_checks())
        for item in all_checks():
            print(f"{item.id:<{width}}  {item.summary}", file=stream)
        return 0
    if not args.target:
        parser.error("give a target such as asgiref.inmemory:ChannelLayer (or --list)")
    if args.receive_tries is not None and args.receive_tries < 1:
        parser.error(f"--receive-tries is {args.receive_tries}; it must be at least 1")
    if not checks:
        parser.error(f"--only {args.only} matches no check id; see --list")
    # Like `python -m`, let targets in the current directory import (console script too).
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        profile = load_profile(
            args.target, parse_config(args.config), receive_tries=args.receive_tries
        )
    except TargetError as exc:
        parser.error(str(exc))
    if args.max_sleep is not None:
        profile.max_sleep = args.max_sleep
    print(f"asgi-conformance: {_describe(profile)}", file=stream, flush=True)
    note = _slow_settings_note(profile)
    if note:
        print(note, file=stream, flush=True)
    prefix = run_prefix()
    width = max(len(item.id) for item in checks)
    results = []
    for item in checks:
        result = run_check(item, profile, prefix, args.timeout)
        results.append(result)
        _report(result, width, stream, args.verbose)
    failed = any(result.status == Status.FAILED for result in results)
    if args.model:
        failed = _run_model(profile, width, stream, args.verbose) or failed
    print(summary_line(results), file=stream, flush=True)
    return 1 if failed else 0


def _run_model(profile: LayerProfile, width: int, out: TextIO, verbose: bool) -> bool:
    """Run the state machine, print its line, and return True if it failed."""
    from asgi_conformance.model import ModelUnsupportedError, run_model

    label = f"{'model':<{width}}"
    try:
        run_model(profile)
    except ModelUnsupportedError as exc:
        print(f"{label}  skip  {exc}", file=out, flush=True)
        return False
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{label}  fail  {first}", file=out, flush=True)
        if verbose:
            print("".join(traceback.format_exception(exc)).rstrip(), file=out, flush=True)
        return True
    print(f"{label}  pass", file=out, flush=True)
    return False
