"""Group membership in shared memory: records on two doubly linked lists.

How this works
--------------
A membership is a 32-byte record ``group entry, channel entry, added at,
group next/prev, channel next/prev`` from a pool in the ``members`` region
(bump pointer plus free list). Each record sits on two lists at once: its
group's member list, headed in the group's entry (kind ``g``), and its
channel's membership list, headed in the channel's entry (kind ``n``, keyed
by the full channel name, ``x!y`` included). So:

* ``group_add`` finds an existing record by walking the shorter of the two
  lists (a channel is usually in a few groups), then refreshes its time or
  links a new record at both heads;
* ``group_discard`` unlinks one record in O(1) once found;
* reading or sending to a group walks its member list once, first dropping
  members added more than ``group_expiry`` ago;
* when a message expires unread, :meth:`GroupStore.evict` walks that
  channel's membership list and unlinks it from every group (the reverse
  index that keeps dead channels from lingering in groups for a day).

A group entry is deleted when its last member goes. Out of records or entries
raises :class:`~asgi_ipc._store.StoreFullError` (``ChannelFull`` to callers).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable

from ._locks import Journal
from ._segment import MEMBER_SIZE
from ._store import (
    _ALLOC,
    E_MEMBERS,
    E_QUEUE,
    H_ALLOC,
    KIND_CHANNEL,
    KIND_GROUP,
    Store,
    StoreFullError,
)

__all__ = ["GroupStore"]

logger = logging.getLogger(__name__)

# group entry, channel entry, added, group next, group prev, channel next, channel prev
_MEMBER = struct.Struct("<IIdIIII")
_PAIR = struct.Struct("<II")
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
_G_NEXT, _G_PREV, _C_NEXT, _C_PREV = 16, 20, 24, 28


class GroupStore(Store):
    """The store plus group membership operations (all need the segment lock)."""

    def member_offset(self, member: int) -> int:
        """Return the offset of 1-based membership record ``member``."""
        return self.layout.members + (member - 1) * MEMBER_SIZE

    def _allocate_member(self, j: Journal) -> int:
        used, free, members_used, member_free = _ALLOC.unpack_from(self.mm, H_ALLOC)
        if member_free:
            following = _U32.unpack_from(self.mm, self.member_offset(member_free))[0]
            j.pack(_ALLOC, H_ALLOC, used, free, members_used, following)
            return int(member_free)
        if members_used >= self.layout.n_members:
            raise StoreFullError
        j.pack(_ALLOC, H_ALLOC, used, free, members_used + 1, member_free)
        return int(members_used + 1)

    def _free_member(self, j: Journal, member: int) -> None:
        used, free, members_used, member_free = _ALLOC.unpack_from(self.mm, H_ALLOC)
        j.pack(_MEMBER, self.member_offset(member), member_free, 0, 0.0, 0, 0, 0, 0)
        j.pack(_ALLOC, H_ALLOC, used, free, members_used, member)

    def _find_member(self, group: int, channel: int) -> int:
        mm = self.mm
        g_first, g_count = _PAIR.unpack_from(mm, self.entry_offset(group) + E_QUEUE)
        c_first, c_count = _PAIR.unpack_from(mm, self.entry_offset(channel) + E_MEMBERS)
        by_channel = c_count <= g_count
        member = c_first if by_channel else g_first
        step = _C_NEXT if by_channel else _G_NEXT
        while member:
            at = self.member_offset(member)
            got_group, got_channel = _PAIR.unpack_from(mm, at)
            if got_group == group and got_channel == channel:
                return int(member)
            member = _U32.unpack_from(mm, at + step)[0]
        return 0

    def group_add(self, j: Journal, group_name: bytes, channel_name: bytes, now: float) -> None:
        """Add ``channel_name`` to ``group_name`` or refresh its membership time."""
        # The channel first: a committed idle channel entry is valid, an empty group is not.
        channel = self.ensure(j, KIND_CHANNEL, channel_name, now)
        group = self.ensure(j, KIND_GROUP, group_name, now, keep=channel)
        member = self._find_member(group, channel)
        if member:
            j.pack(_F64, self.member_offset(member) + 8, now)
            return
        member = self._allocate_member(j)
        mm = self.mm
        g_head_at = self.entry_offset(group) + E_QUEUE
        c_head_at = self.entry_offset(channel) + E_MEMBERS
        g_first, g_count = _PAIR.unpack_from(mm, g_head_at)
        c_first, c_count = _PAIR.unpack_from(mm, c_head_at)
        j.pack(_MEMBER, self.member_offset(member), group, channel, now, g_first, 0, c_first, 0)
        if g_first:
            j.pack(_U32, self.member_offset(g_first) + _G_PREV, member)
        if c_first:
            j.pack(_U32, self.member_offset(c_first) + _C_PREV, member)
        j.pack(_PAIR, g_head_at, member, g_count + 1)
        j.pack(_PAIR, c_head_at, member, c_count + 1)

    def group_discard(self, j: Journal, group_name: bytes, channel_name: bytes) -> None:
        """Remove ``channel_name`` from ``group_name`` if it is a member."""
        group = self.find(KIND_GROUP, group_name)
        channel = self.find(KIND_CHANNEL, channel_name) if group else 0
        member = self._find_member(group, channel) if channel else 0
        if member:
            self._unlink(j, member)

    def _unlink(self, j: Journal, member: int) -> None:
        mm = self.mm
        at = self.member_offset(member)
        group, channel, _added, g_next, g_prev, c_next, c_prev = _MEMBER.unpack_from(mm, at)
        for head_at, following, previous, next_field, prev_field in (
            (self.entry_offset(group) + E_QUEUE, g_next, g_prev, _G_NEXT, _G_PREV),
            (self.entry_offset(channel) + E_MEMBERS, c_next, c_prev, _C_NEXT, _C_PREV),
        ):
            if previous:
                j.pack(_U32, self.member_offset(previous) + next_field, following)
            if following:
                j.pack(_U32, self.member_offset(following) + prev_field, previous)
            first, count = _PAIR.unpack_from(mm, head_at)
            j.pack(_PAIR, head_at, following if first == member else first, count - 1)
        self._free_member(j, member)
        if _PAIR.unpack_from(mm, self.entry_offset(group) + E_QUEUE)[1] == 0:
            self.delete(j, group)

    def members(
        self,
        j: Journal,
        group_name: bytes,
        now: float,
        cutoff: float,
        queue_key: Callable[[bytes], bytes],
    ) -> list[bytes]:
        """Return the live members of ``group_name``, dropping stale ones first.

        Members added at or before ``cutoff`` are removed; so are members whose
        queued messages have expired unread (their queues are expired first).
        """
        group = self.find(KIND_GROUP, group_name)
        if not group:
            return []
        keys = {queue_key(name) for name in self._walk(group)}
        for key in keys:
            entry = self.find(KIND_CHANNEL, key)
            if entry:
                self.expire(j, entry, now)
        group = self.find(KIND_GROUP, group_name)
        if not group:
            return []
        live: list[bytes] = []
        mm = self.mm
        member = _PAIR.unpack_from(mm, self.entry_offset(group) + E_QUEUE)[0]
        last_group = False
        while member:
            at = self.member_offset(member)
            _group, channel, added, following, _p, _n, _q = _MEMBER.unpack_from(mm, at)
            if added <= cutoff:
                last_group = _PAIR.unpack_from(mm, self.entry_offset(group) + E_QUEUE)[1] == 1
                self._unlink(j, member)
                j.checkpoint()
                if last_group:
                    break
            else:
                live.append(self.name_of(channel))
            member = following
        live.reverse()
        return live

    def _walk(self, group: int) -> list[bytes]:
        names = []
        member = _PAIR.unpack_from(self.mm, self.entry_offset(group) + E_QUEUE)[0]
        while member:
            at = self.member_offset(member)
            names.append(self.name_of(_MEMBER.unpack_from(self.mm, at)[1]))
            member = _U32.unpack_from(self.mm, at + _G_NEXT)[0]
        return names

    def evict(self, j: Journal, channel: bytes, expired_at: float) -> None:
        """Remove ``channel`` from the groups it joined before ``expired_at``.

        ``expired_at`` is when one of its messages expired unread; memberships
        added (or refreshed) after that stay.
        """
        entry = self.find(KIND_CHANNEL, channel)
        if not entry:
            return
        member = _PAIR.unpack_from(self.mm, self.entry_offset(entry) + E_MEMBERS)[0]
        while member:
            at = self.member_offset(member)
            added = _F64.unpack_from(self.mm, at + 8)[0]
            following = _U32.unpack_from(self.mm, at + _C_NEXT)[0]
            if added < expired_at:
                logger.debug("Evicting %r from a group: its message expired unread", channel)
                self._unlink(j, member)
            member = following

    def group_sizes(self) -> dict[bytes, int]:
        """Return every group's name and member count (walks the whole table)."""
        return {
            self.name_of(entry): _PAIR.unpack_from(self.mm, self.entry_offset(entry) + E_QUEUE)[1]
            for entry in self.iter_entries(KIND_GROUP)
        }
