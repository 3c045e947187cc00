"""The message store in shared memory: a hash table of queues over a block heap.

How this works
--------------
Names live in a chained hash table: ``buckets`` holds, per bucket, the index
of the first entry of its chain (``crc32`` of the name picks the bucket).
Entries come from a fixed pool (a bump pointer plus a free list, so a fresh,
all-zero segment is a valid empty store). A *channel entry* (kind ``n``) is
keyed by a queue name: a normal or ``?`` channel, or the ``x!`` prefix that
all ``x!y`` channels share. It holds the queue's head, tail and length, the
bitmap of waiter slots blocked on it, the head of the group memberships of
the channel of that name, and its statistics counters.

Message records sit in the data region, in runs of contiguous 256-byte
blocks. One byte per block in ``map`` says whether it is used; allocation is
first-fit from a hint, the lowest block that may be free (``mmap.find``
looking for a run of zero bytes, so the search runs in C and skips used space
quickly). Freed blocks lower the hint, so they are reused first: a busy queue
keeps writing the same few warm pages instead of sweeping (and faulting in)
the whole segment. A record is
``next, nblocks, expires, payload length, channel length`` followed by the
full channel name (for ``x!y`` channels only) and the msgpack payload; records
of one queue form a singly linked FIFO list. So a send or receive costs a
hash lookup, a short map search, one memcpy of the message and a few header
writes, whatever else is stored: no operation walks other channels.

All messages share one expiry delay, so a queue's oldest record is at its
head: expiring is popping from the head whenever a queue is touched, and a
sweep over all queues runs only when memory runs out or for statistics. A
record popped because it expired evicts its channel from every group (see
``_groups``). Out of blocks or entries means ``ChannelFull``.

When the entry pool is full, channel entries with no messages, waiters or
memberships (kept so far for their statistics) are deleted in one pass.
"""

from __future__ import annotations

import logging
import mmap
import struct
import zlib

from ._locks import Journal
from ._segment import BLOCK, ENTRY_SIZE, Layout
from ._stats import RATE_SIZE, counters_at
from ._stats import count as count_events

__all__ = ["KIND_CHANNEL", "KIND_GROUP", "Store", "StoreFullError"]

logger = logging.getLogger(__name__)

KIND_CHANNEL = 1
KIND_GROUP = 2

# Header fields.
H_ALLOC = 128  # entries_used, entry_free, members_used, member_free (journaled)
H_ROVER = 144  # lowest block that may be free (a hint, not journaled)
H_RESET = 148  # set while a flush wipes the regions (not journaled)
H_STATS = 160  # global counters (not journaled)
H_JOURNAL_LEN = 256
H_SLOTS_USED = 272  # 16-byte bitmap of claimed waiter slots (journaled)
# The segment lock's pthread_mutex_t (see _locks): 64 bytes reserved, for the
# 40 of glibc on x86-64 and arm64 (32 on musl).
H_MUTEX = 512
_ALLOC = struct.Struct("<IIII")
# Entry fields.
E_HEAD = 0
E_NAME = 16
E_QUEUE = 216  # head, tail, count
E_MEMBERS = 228  # first membership, membership count
E_WAITERS = 240
E_USED = 256  # end of the journaled part; statistics follow
E_STATS = 264
_ENTRY_HEAD = struct.Struct("<IBBxxI")
_QUEUE = struct.Struct("<III")
_PAIR = struct.Struct("<II")
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
_W128 = struct.Struct("<16s")
_NO_WAITERS = bytes(16)
# Message record header: next, nblocks, expires, payload length, channel length.
_RECORD = struct.Struct("<IIdIH2x")
_RECORD_SIZE = _RECORD.size
# Runs of free (0) and used (1) block-map bytes for small records, built once.
_SMALL = 64
_ZEROS = tuple(bytes(size) for size in range(_SMALL))
_ONES = tuple(b"\x01" * size for size in range(_SMALL))

SENT, FULL, NO_MEMORY = 0, 1, 2


class StoreFullError(Exception):
    """Raised inside the store when there is no room for a new name."""


class Store:
    """Operations on one mapped segment; every method needs the segment lock."""

    def __init__(self, mm: mmap.mmap, layout: Layout) -> None:
        self.mm = mm
        self.layout = layout
        self.mask = layout.n_buckets - 1
        self.buckets = layout.buckets
        self.entries = layout.entries - ENTRY_SIZE  # so that entry e (1-based) is at e*SIZE
        self.map = layout.map
        self.data = layout.data
        self.n_blocks = layout.n_blocks

    # Entries ----------------------------------------------------------------

    def entry_offset(self, entry: int) -> int:
        """Return the offset of 1-based ``entry``."""
        return self.entries + entry * ENTRY_SIZE

    def find(self, kind: int, name: bytes) -> int:
        """Return the 1-based entry for ``name`` of ``kind``, or 0."""
        mm = self.mm
        hashed = zlib.crc32(name, kind)
        entry = _U32.unpack_from(mm, self.buckets + (hashed & self.mask) * 4)[0]
        size = len(name)
        while entry:
            at = self.entries + entry * ENTRY_SIZE
            chained, got_kind, got_size, got_hash = _ENTRY_HEAD.unpack_from(mm, at)
            if (
                got_hash == hashed
                and got_kind == kind
                and got_size == size
                and mm[at + E_NAME : at + E_NAME + size] == name
            ):
                return int(entry)
            entry = chained
        return 0

    def ensure(self, j: Journal, kind: int, name: bytes, now: float, keep: int = 0) -> int:
        """Return the entry for ``name``, creating it; raise StoreFullError if full.

        Creating may first compact the table (committing the journal as it goes),
        so callers create entries whose committed, empty state is valid (idle
        channels) before those that are not (groups), passing the former as
        ``keep`` so the compaction spares it.
        """
        entry = self.find(kind, name)
        if entry:
            return entry
        return self.create(j, kind, name, keep)

    def create(self, j: Journal, kind: int, name: bytes, keep: int = 0) -> int:
        """Create the entry for ``name`` (known to be missing); see :meth:`ensure`."""
        mm = self.mm
        used, free, members_used, member_free = _ALLOC.unpack_from(mm, H_ALLOC)
        if not free and used >= self.layout.n_entries:
            self.compact(j, keep)
            used, free, members_used, member_free = _ALLOC.unpack_from(mm, H_ALLOC)
        if free:
            entry = int(free)
            next_free = _U32.unpack_from(mm, self.entry_offset(free))[0]
            j.pack(_ALLOC, H_ALLOC, used, next_free, members_used, member_free)
        elif used < self.layout.n_entries:
            entry = int(used) + 1
            j.pack(_ALLOC, H_ALLOC, used + 1, free, members_used, member_free)
        else:
            raise StoreFullError
        hashed = zlib.crc32(name, kind)
        bucket = self.buckets + (hashed & self.mask) * 4
        head = _U32.unpack_from(mm, bucket)[0]
        at = self.entry_offset(entry)
        fresh = bytearray(E_USED)
        _ENTRY_HEAD.pack_into(fresh, 0, head, kind, len(name), hashed)
        fresh[E_NAME : E_NAME + len(name)] = name
        j.write(at, bytes(fresh))
        mm[at + E_USED : at + ENTRY_SIZE] = bytes(ENTRY_SIZE - E_USED)
        j.pack(_U32, bucket, entry)
        return entry

    def delete(self, j: Journal, entry: int) -> None:
        """Unlink ``entry`` from its hash chain and put it on the free list."""
        mm = self.mm
        at = self.entry_offset(entry)
        chained, _kind, _size, hashed = _ENTRY_HEAD.unpack_from(mm, at)
        link = self.buckets + (hashed & self.mask) * 4
        current = _U32.unpack_from(mm, link)[0]
        while current and current != entry:
            link = self.entry_offset(current)
            current = _U32.unpack_from(mm, link)[0]
        if current:
            j.pack(_U32, link, chained)
        used, free, members_used, member_free = _ALLOC.unpack_from(mm, H_ALLOC)
        j.write(at, _U32.pack(free) + bytes(E_USED - 4))
        j.pack(_ALLOC, H_ALLOC, used, entry, members_used, member_free)

    def name_of(self, entry: int) -> bytes:
        """Return the name stored in ``entry``."""
        at = self.entry_offset(entry)
        size = self.mm[at + 5]
        return bytes(self.mm[at + E_NAME : at + E_NAME + size])

    def iter_entries(self, kind: int) -> list[int]:
        """Return every live entry of ``kind`` (walks the whole table)."""
        mm = self.mm
        found = []
        for bucket in range(self.layout.n_buckets):
            entry = _U32.unpack_from(mm, self.buckets + bucket * 4)[0]
            while entry:
                at = self.entry_offset(entry)
                if mm[at + 4] == kind:
                    found.append(entry)
                entry = _U32.unpack_from(mm, at)[0]
        return found

    def is_idle(self, entry: int) -> bool:
        """Return True if channel ``entry`` holds nothing but statistics."""
        at = self.entry_offset(entry)
        return (
            _QUEUE.unpack_from(self.mm, at + E_QUEUE)[2] == 0
            and _PAIR.unpack_from(self.mm, at + E_MEMBERS)[1] == 0
            and self.mm[at + E_WAITERS : at + E_WAITERS + 16] == _NO_WAITERS
        )

    def compact(self, j: Journal, keep: int = 0) -> int:
        """Delete idle channel entries (but ``keep``) to make room; return how many went."""
        idle = [e for e in self.iter_entries(KIND_CHANNEL) if e != keep and self.is_idle(e)]
        for entry in idle:
            self.delete(j, entry)
            j.checkpoint()
        if idle:
            logger.info("Forgot %s idle channels to make room in the name table", len(idle))
        return len(idle)

    # Blocks -------------------------------------------------------------------

    def find_blocks(self, nblocks: int) -> int:
        """Return the first of ``nblocks`` free contiguous blocks from the hint, or -1."""
        mm = self.mm
        start = self.map
        end = start + self.n_blocks
        rover = _U32.unpack_from(mm, H_ROVER)[0]
        if rover >= self.n_blocks:
            rover = 0
        zeros = _ZEROS[nblocks] if nblocks < _SMALL else bytes(nblocks)
        found = mm.find(zeros, start + rover, end)
        if found < 0:
            found = mm.find(zeros, start, min(end, start + rover + nblocks - 1))
            if found < 0:
                return -1
        return found - start

    def release_blocks(self, j: Journal, block: int, nblocks: int) -> None:
        """Mark ``nblocks`` blocks from ``block`` free."""
        j.write(self.map + block, _ZEROS[nblocks] if nblocks < _SMALL else bytes(nblocks))
        if block < _U32.unpack_from(self.mm, H_ROVER)[0]:
            _U32.pack_into(self.mm, H_ROVER, block)

    def blocks_used(self) -> int:
        """Return how many data blocks are in use."""
        return self.mm[self.map : self.map + self.n_blocks].count(1)

    # Queues -------------------------------------------------------------------

    def enqueue(
        self,
        j: Journal,
        key: bytes,
        channel: bytes,
        payload: bytes,
        expires: float,
        capacity: int,
        now: float,
    ) -> tuple[int, int]:
        """Append a record to queue ``key``; return (status, waiter bitmap to wake).

        ``channel`` is the full channel name when it differs from ``key``.
        """
        # The hot path of every send: locals and inlined helpers on purpose.
        entry = self.find(KIND_CHANNEL, key)
        if not entry:
            try:
                entry = self.create(j, KIND_CHANNEL, key)
            except StoreFullError:
                self.count_full(None, now)
                return NO_MEMORY, 0
        mm = self.mm
        at = self.entries + entry * ENTRY_SIZE
        queue_at = at + E_QUEUE
        head, tail, count = _QUEUE.unpack_from(mm, queue_at)
        if count and _RECORD.unpack_from(mm, self.data + (head - 1) * BLOCK)[2] <= now:
            self.expire(j, entry, now)
            head, tail, count = _QUEUE.unpack_from(mm, queue_at)
        if count >= capacity:
            self.count_full(entry, now)
            return FULL, 0
        channel_size = len(channel)
        size = len(payload)
        nblocks = (_RECORD_SIZE + channel_size + size + BLOCK - 1) // BLOCK
        block = self.find_blocks(nblocks)
        if block < 0:
            self.sweep(j, now)
            block = self.find_blocks(nblocks)
            if block < 0:
                self.count_full(entry, now)
                return NO_MEMORY, 0
            head, tail, count = _QUEUE.unpack_from(mm, queue_at)
        if block <= _U32.unpack_from(mm, H_ROVER)[0]:  # else a smaller gap is at the hint
            _U32.pack_into(mm, H_ROVER, block + nblocks)
        record = self.data + block * BLOCK
        _RECORD.pack_into(mm, record, 0, nblocks, expires, size, channel_size)
        body = record + _RECORD_SIZE
        if channel_size:
            mm[body : body + channel_size] = channel
            body += channel_size
        mm[body : body + size] = payload
        # The record's blocks are marked used (journaled) only now, in the same
        # journal append as the queue link, so a crash before leaves them free.
        used = _ONES[nblocks] if nblocks < _SMALL else b"\x01" * nblocks
        if tail:
            j.write2(self.map + block, used, self.data + (tail - 1) * BLOCK, _U32.pack(block + 1))
            j.write(queue_at, _QUEUE.pack(head, block + 1, count + 1))
        else:
            j.write2(self.map + block, used, queue_at, _QUEUE.pack(block + 1, block + 1, count + 1))
        waiters_at = at + E_WAITERS
        waiters = mm[waiters_at : waiters_at + 16]
        if waiters != _NO_WAITERS:
            j.write(waiters_at, _NO_WAITERS)
        second = int(now)
        count_events(mm, at + E_STATS, second, 1)
        count_events(mm, H_STATS, second, 1)
        return SENT, int.from_bytes(waiters, "little")

    def pop(self, j: Journal, key: bytes, now: float) -> tuple[bytes, bytes] | None:
        """Pop the oldest live record of queue ``key``; return (channel, payload)."""
        entry = self.find(KIND_CHANNEL, key)
        if not entry:
            return None
        mm = self.mm
        queue_at = self.entries + entry * ENTRY_SIZE + E_QUEUE
        head, tail, count = _QUEUE.unpack_from(mm, queue_at)
        if not count:
            return None
        record = self.data + (head - 1) * BLOCK
        following, nblocks, expires, size, channel_size = _RECORD.unpack_from(mm, record)
        if expires <= now:
            self.expire(j, entry, now)
            head, tail, count = _QUEUE.unpack_from(mm, queue_at)
            if not count:
                return None
            record = self.data + (head - 1) * BLOCK
            following, nblocks, expires, size, channel_size = _RECORD.unpack_from(mm, record)
        body = record + _RECORD_SIZE
        channel = mm[body : body + channel_size] if channel_size else key
        body += channel_size
        payload = mm[body : body + size]
        j.write2(
            queue_at,
            _QUEUE.pack(following, tail if following else 0, count - 1),
            self.map + head - 1,
            _ZEROS[nblocks] if nblocks < _SMALL else bytes(nblocks),
        )
        if head - 1 < _U32.unpack_from(mm, H_ROVER)[0]:
            _U32.pack_into(mm, H_ROVER, head - 1)
        return channel, payload

    def expire(self, j: Journal, entry: int, now: float) -> int:
        """Drop the expired records at the head of ``entry``'s queue; return how many."""
        mm = self.mm
        at = self.entry_offset(entry)
        dropped = 0
        while True:
            head, tail, count = _QUEUE.unpack_from(mm, at + E_QUEUE)
            if not count:
                return dropped
            record = self.data + (head - 1) * BLOCK
            following, nblocks, expires, _size, channel_size = _RECORD.unpack_from(mm, record)
            if expires > now:
                return dropped
            body = record + _RECORD_SIZE
            channel = mm[body : body + channel_size] if channel_size else self.name_of(entry)
            j.pack(_QUEUE, at + E_QUEUE, following, tail if following else 0, count - 1)
            self.release_blocks(j, head - 1, nblocks)
            self.evict(j, channel, expires)
            j.checkpoint()
            dropped += 1

    def evict(self, j: Journal, channel: bytes, expired_at: float) -> None:
        """Remove ``channel`` from its groups (implemented by the groups mixin)."""

    def sweep(self, j: Journal, now: float) -> tuple[int, float]:
        """Expire every queue; return (messages pending, oldest message's expiry)."""
        pending = 0
        oldest = 0.0
        for entry in self.iter_entries(KIND_CHANNEL):
            self.expire(j, entry, now)
            head, _tail, count = _QUEUE.unpack_from(self.mm, self.entry_offset(entry) + E_QUEUE)
            if count:
                pending += count
                expires = _RECORD.unpack_from(self.mm, self.data + (head - 1) * BLOCK)[2]
                oldest = expires if not oldest else min(oldest, expires)
        return pending, oldest

    def queue_state(self, key: bytes, now: float, j: Journal) -> tuple[int, float]:
        """Return (length, oldest expiry or 0) of queue ``key`` after expiring it."""
        entry = self.find(KIND_CHANNEL, key)
        if not entry:
            return 0, 0.0
        self.expire(j, entry, now)
        head, _tail, count = _QUEUE.unpack_from(self.mm, self.entry_offset(entry) + E_QUEUE)
        if not count:
            return 0, 0.0
        return count, _RECORD.unpack_from(self.mm, self.data + (head - 1) * BLOCK)[2]

    # Statistics ---------------------------------------------------------------

    def count_full(self, entry: int | None, now: float) -> None:
        """Count one refused message for ``entry`` (if known) and globally."""
        second = int(now)
        if entry:
            count_events(self.mm, self.entry_offset(entry) + E_STATS + RATE_SIZE, second, 1)
        count_events(self.mm, H_STATS + RATE_SIZE, second, 1)

    def counters(self, entry: int | None, now: float) -> dict[str, int | float]:
        """Return the spec's counter keys for ``entry`` (or the whole store)."""
        at = H_STATS if entry is None else self.entry_offset(entry) + E_STATS
        return counters_at(self.mm, at, now)
