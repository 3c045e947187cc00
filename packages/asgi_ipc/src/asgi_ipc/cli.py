"""The ``python -m asgi_ipc`` command: list, inspect, check and remove prefixes."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import posix_ipc

from ._inspect import snapshot, verify
from ._segment import SegmentError, existing_prefixes, remove_prefix, segment_name, validate_prefix
from .layer import IPCChannelLayer

__all__ = ["main"]

logger = logging.getLogger(__name__)


def _attach(prefix: str) -> IPCChannelLayer:
    validate_prefix(prefix)
    try:
        posix_ipc.SharedMemory(segment_name(prefix)).close_fd()
    except posix_ipc.ExistentialError as exc:
        raise SegmentError(
            f"There is no shared memory for prefix {prefix!r} ({segment_name(prefix)}); "
            "run 'python -m asgi_ipc list' to see the prefixes in use."
        ) from exc
    return IPCChannelLayer(prefix=prefix)


def _show(data: dict[str, Any], prefix: str) -> str:
    memory = data["message_memory"]
    groups = data["group_memory"]
    lines = [
        f"prefix {prefix}: segment {segment_name(prefix)} ({data['segment_bytes']} bytes)",
        f"  message memory: {memory['bytes_used']} of {memory['bytes_total']} bytes used "
        f"({memory['blocks_used']}/{memory['blocks_total']} blocks)",
        f"  names: {data['names']['entries_used']} of {data['names']['entries_total']} entries",
        f"  group memberships: {groups['records_used']} of {groups['records_total']}",
        f"  messages pending: {data['messages_pending']} in {data['queue_count']} queues",
    ]
    lines += [f"    {depth:8d}  {name}" for name, depth in data["queues"]]
    lines.append(f"  groups: {data['group_count']}")
    lines += [f"    {size:8d}  {name}" for name, size in data["groups"]]
    waiters = data["waiters"]
    lines.append(f"  blocked receivers: {len(waiters)} (pids {sorted(set(waiters.values()))})")
    return "\n".join(lines)


def _inspect(args: argparse.Namespace) -> int:
    layer = _attach(args.prefix)
    try:
        with layer._lock:
            data = snapshot(layer._store, layer._waiters.slot_pids(), top=args.top)
    finally:
        layer.close()
    print(json.dumps(data, indent=2) if args.json else _show(data, args.prefix))
    return 0


def _check(args: argparse.Namespace) -> int:
    layer = _attach(args.prefix)
    try:
        with layer._lock:
            problems = verify(layer._store)
    finally:
        layer.close()
    for problem in problems:
        print(problem)
    print(f"prefix {args.prefix}: {'consistent' if not problems else 'INCONSISTENT'}")
    return 1 if problems else 0


def _list(args: argparse.Namespace) -> int:
    prefixes = existing_prefixes()
    for prefix in prefixes:
        print(prefix)
    if not prefixes:
        print("No asgi_ipc shared memory in /dev/shm.", file=sys.stderr)
    return 0


def _remove(args: argparse.Namespace) -> int:
    removed = remove_prefix(args.prefix)
    for name in removed:
        print(f"removed {name}")
    if not removed:
        print(f"Nothing to remove for prefix {args.prefix!r}.", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m asgi_ipc",
        description="Inspect and clean up the shared memory of asgi_ipc channel layers.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list the prefixes that have shared memory")
    listing.set_defaults(run=_list)
    inspect = commands.add_parser("inspect", help="show queues, depths, groups and memory use")
    inspect.add_argument("--prefix", default="asgi", help="layer prefix (default: asgi)")
    inspect.add_argument("--top", type=int, default=20, help="how many queues/groups to show")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(run=_inspect)
    check = commands.add_parser("check", help="verify the shared structures are consistent")
    check.add_argument("--prefix", default="asgi", help="layer prefix (default: asgi)")
    check.set_defaults(run=_check)
    remove = commands.add_parser(
        "remove", help="delete a prefix's shared memory and semaphores (stop its users first)"
    )
    remove.add_argument("--prefix", required=True, help="layer prefix to remove")
    remove.set_defaults(run=_remove)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        status: int = args.run(args)
    except (SegmentError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return status
