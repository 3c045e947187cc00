"""Read-only views of a prefix's store: a usage snapshot and a consistency check.

Both walk the whole store, so they are for the command line and for tests,
never for the hot path. Call them with the segment lock held.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

from ._groups import _MEMBER, GroupStore
from ._segment import BLOCK, ENTRY_SIZE, MEMBER_SIZE
from ._store import _ALLOC, _QUEUE, _RECORD, E_MEMBERS, E_QUEUE, H_ALLOC, KIND_CHANNEL, KIND_GROUP

__all__ = ["snapshot", "verify"]

logger = logging.getLogger(__name__)

_PAIR = struct.Struct("<II")
_U32 = struct.Struct("<I")


def snapshot(store: GroupStore, slot_pids: dict[int, int], top: int = 20) -> dict[str, Any]:
    """Return memory use, the deepest queues and the groups of ``store``."""
    layout = store.layout
    used, _free, members_used, member_free = _ALLOC.unpack_from(store.mm, H_ALLOC)
    queues = []
    for entry in store.iter_entries(KIND_CHANNEL):
        count = _QUEUE.unpack_from(store.mm, store.entry_offset(entry) + E_QUEUE)[2]
        if count:
            queues.append((store.name_of(entry).decode("ascii"), count))
    queues.sort(key=lambda item: (-item[1], item[0]))
    groups = sorted(
        ((name.decode("ascii"), size) for name, size in store.group_sizes().items()),
        key=lambda item: (-item[1], item[0]),
    )
    blocks = store.blocks_used()
    return {
        "segment_bytes": layout.end,
        "message_memory": {
            "blocks_used": blocks,
            "blocks_total": layout.n_blocks,
            "bytes_used": blocks * BLOCK,
            "bytes_total": layout.n_blocks * BLOCK,
        },
        "names": {"entries_used": used, "entries_total": layout.n_entries},
        "group_memory": {
            "records_used": members_used - _chain_length(store, member_free),
            "records_total": layout.n_members,
            "bytes_total": layout.n_members * MEMBER_SIZE + layout.n_entries * ENTRY_SIZE,
        },
        "messages_pending": sum(count for _name, count in queues),
        "queues": queues[:top],
        "queue_count": len(queues),
        "groups": groups[:top],
        "group_count": len(groups),
        "waiters": {str(slot): pid for slot, pid in sorted(slot_pids.items())},
    }


def _chain_length(store: GroupStore, member: int) -> int:
    length = 0
    while member and length <= store.layout.n_members:
        length += 1
        member = _U32.unpack_from(store.mm, store.member_offset(member))[0]
    return length


def verify(store: GroupStore) -> list[str]:
    """Return every inconsistency found in ``store`` (an empty list when sound)."""
    problems: list[str] = []
    mm = store.mm
    layout = store.layout
    seen: set[int] = set()
    owner = bytearray(layout.n_blocks)
    members_by_group: set[int] = set()
    members_by_channel: set[int] = set()
    for bucket in range(layout.n_buckets):
        entry = _U32.unpack_from(mm, store.buckets + bucket * 4)[0]
        while entry:
            if entry in seen or not 0 < entry <= layout.n_entries:
                problems.append(f"bucket {bucket}: bad or repeated entry {entry}")
                break
            seen.add(entry)
            at = store.entry_offset(entry)
            kind = mm[at + 4]
            name = store.name_of(entry)
            if kind == KIND_CHANNEL:
                _check_queue(store, entry, name, owner, problems)
                _check_list(store, entry, E_MEMBERS, 4, 24, 28, members_by_channel, problems)
            elif kind == KIND_GROUP:
                _check_list(store, entry, E_QUEUE, 0, 16, 20, members_by_group, problems)
            else:
                problems.append(f"entry {entry} {name!r} has unknown kind {kind}")
            entry = _U32.unpack_from(mm, at)[0]
    if members_by_group != members_by_channel:
        problems.append(
            f"memberships differ between group lists and channel lists: "
            f"{sorted(members_by_group ^ members_by_channel)[:10]}"
        )
    marked = bytes(mm[store.map : store.map + layout.n_blocks])
    if marked != bytes(owner):
        wrong = [i for i in range(layout.n_blocks) if marked[i] != owner[i]]
        problems.append(f"{len(wrong)} blocks marked wrongly in the map, first {wrong[:10]}")
    used, free, _members_used, _member_free = _ALLOC.unpack_from(mm, H_ALLOC)
    steps = 0
    while free and steps <= layout.n_entries:
        if free in seen:
            problems.append(f"entry {free} is both free and in use")
            break
        free = _U32.unpack_from(mm, store.entry_offset(free))[0]
        steps += 1
    if len(seen) + steps != used:
        problems.append(f"{used} entries allocated but {len(seen)} live and {steps} free")
    return problems


def _check_queue(
    store: GroupStore, entry: int, name: bytes, owner: bytearray, problems: list[str]
) -> None:
    mm = store.mm
    head, tail, count = _QUEUE.unpack_from(mm, store.entry_offset(entry) + E_QUEUE)
    record, last, length = head, 0, 0
    while record and length <= store.layout.n_blocks:
        following, nblocks, _expires, size, channel_size = _RECORD.unpack_from(
            mm, store.data + (record - 1) * BLOCK
        )
        first = record - 1
        if nblocks < 1 or first + nblocks > store.layout.n_blocks:
            problems.append(f"queue {name!r}: record at block {first} has {nblocks} blocks")
            return
        if _RECORD.size + channel_size + size > nblocks * BLOCK:
            problems.append(f"queue {name!r}: record at block {first} overflows its blocks")
        if any(owner[first : first + nblocks]):
            problems.append(f"queue {name!r}: block {first} belongs to two records")
        owner[first : first + nblocks] = b"\x01" * nblocks
        last, record, length = record, following, length + 1
    if length != count or last != tail:
        problems.append(f"queue {name!r}: count {count}/tail {tail}, walked {length}/{last}")


def _check_list(
    store: GroupStore,
    entry: int,
    head_field: int,
    owner_field: int,
    next_field: int,
    prev_field: int,
    found: set[int],
    problems: list[str],
) -> None:
    mm = store.mm
    first, count = _PAIR.unpack_from(mm, store.entry_offset(entry) + head_field)
    member, previous, length = first, 0, 0
    while member and length <= store.layout.n_members:
        at = store.member_offset(member)
        fields = _MEMBER.unpack_from(mm, at)
        if fields[owner_field // 4] != entry:
            problems.append(f"membership {member} is on the list of entry {entry} wrongly")
        if _U32.unpack_from(mm, at + prev_field)[0] != previous:
            problems.append(f"membership {member} has a wrong back link")
        found.add(member)
        previous, length = member, length + 1
        member = _U32.unpack_from(mm, at + next_field)[0]
    if length != count:
        problems.append(f"entry {entry}: {count} memberships recorded, {length} linked")
    if count == 0 and mm[store.entry_offset(entry) + 4] == KIND_GROUP:
        problems.append(f"group entry {entry} is empty but not deleted")
