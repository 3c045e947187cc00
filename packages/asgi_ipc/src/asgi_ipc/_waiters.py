"""Wake-ups for blocking receives: waiter slots and one semaphore per slot.

How this works
--------------
A receive that finds nothing claims one of :data:`~asgi_ipc._segment.SLOTS`
waiter slots (a bit in the header's slot bitmap, with the claimer's pid) and,
in the same critical section that found the queues empty, sets the slot's bit
in the waiter bitmap of every queue it reads. Then it releases the lock and
sleeps on the slot's POSIX semaphore with a timeout. A send that appends to a
queue takes (and clears) that queue's waiter bitmap under the lock and, after
releasing it, posts the semaphore of each slot in it. Because registering and
checking happen under the same lock as appending, no wake-up is lost; a stale
post (a slot reused after a waiter gave up) only causes one extra check.

A slot remembers the entries it registered on, so giving it up clears exactly
those bits. Slots of processes that died while waiting are reclaimed when no
slot is free. A receive that cannot get a slot (every slot taken, or more
than :data:`~asgi_ipc._segment.MAX_SLOT_ENTRIES` queues) falls back to
sleeping in short, growing steps up to 50 ms: bounded, never a spin.
"""

from __future__ import annotations

import logging
import os
import struct

import posix_ipc

from ._locks import Journal
from ._segment import MAX_SLOT_ENTRIES, SLOT_SIZE, SLOTS, semaphore_name
from ._store import E_WAITERS, H_SLOTS_USED, KIND_CHANNEL, Store, StoreFullError

__all__ = ["Waiters"]

logger = logging.getLogger(__name__)

_SLOT = struct.Struct("<II")
_U32 = struct.Struct("<I")
_W128 = struct.Struct("<16s")
_ALL_SLOTS = (1 << SLOTS) - 1
_HAS_VALUE = bool(posix_ipc.SEMAPHORE_VALUE_SUPPORTED)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Waiters:
    """Waiter slots of one segment, plus this process's cached semaphores."""

    def __init__(self, store: Store, prefix: str) -> None:
        self.store = store
        self.prefix = prefix
        self.base = store.layout.slots
        self._semaphores: dict[int, posix_ipc.Semaphore] = {}

    def semaphore(self, slot: int) -> posix_ipc.Semaphore:
        """Return (opening or creating once) the semaphore of ``slot``."""
        semaphore = self._semaphores.get(slot)
        if semaphore is None:
            semaphore = posix_ipc.Semaphore(
                semaphore_name(self.prefix, slot), posix_ipc.O_CREAT, mode=0o600, initial_value=0
            )
            self._semaphores[slot] = semaphore
        return semaphore

    def _used(self) -> int:
        return int.from_bytes(self.store.mm[H_SLOTS_USED : H_SLOTS_USED + 16], "little")

    def claim(self, j: Journal) -> int:
        """Claim a free slot for this process; return it, or -1 if none is free."""
        used = self._used()
        if used == _ALL_SLOTS:
            used = self._reclaim_dead(j)
            if used == _ALL_SLOTS:
                return -1
        slot = ((~used) & (used + 1)).bit_length() - 1
        j.write(H_SLOTS_USED, (used | (1 << slot)).to_bytes(16, "little"))
        j.pack(_SLOT, self.base + slot * SLOT_SIZE, os.getpid(), 0)
        semaphore = self.semaphore(slot)
        # Drop stale posts meant for the slot's previous owner (reading the value
        # first spares the common case, no stale post, a BusyError).
        while not _HAS_VALUE or semaphore.value:
            try:
                semaphore.acquire(0)
            except posix_ipc.BusyError:
                break
        return slot

    def _reclaim_dead(self, j: Journal) -> int:
        for slot in range(SLOTS):
            pid = _SLOT.unpack_from(self.store.mm, self.base + slot * SLOT_SIZE)[0]
            if pid and not _alive(pid):
                logger.info("Reclaiming the waiter slot %s of dead process %s", slot, pid)
                self.release(j, slot)
        return self._used()

    def register(self, j: Journal, slot: int, keys: list[bytes], now: float) -> bool:
        """Set ``slot``'s bit on the queues ``keys``; return False if it cannot."""
        if len(keys) > MAX_SLOT_ENTRIES:
            return False
        mm = self.store.mm
        at = self.base + slot * SLOT_SIZE
        pid, count = _SLOT.unpack_from(mm, at)
        known = list(_U32.unpack_from(mm, at + 8 + 4 * index)[0] for index in range(count))
        bit = 1 << slot
        for key in keys:
            try:
                entry = self.store.ensure(j, KIND_CHANNEL, key, now)
            except StoreFullError:
                return False
            waiters_at = self.store.entry_offset(entry) + E_WAITERS
            waiters = int.from_bytes(mm[waiters_at : waiters_at + 16], "little")
            if not waiters & bit:
                j.write(waiters_at, (waiters | bit).to_bytes(16, "little"))
            if entry not in known:
                if len(known) >= MAX_SLOT_ENTRIES:
                    return False
                j.pack(_U32, at + 8 + 4 * len(known), entry)
                known.append(entry)
        if len(known) != count:
            j.pack(_SLOT, at, pid, len(known))
        return True

    def unregister(self, j: Journal, slot: int, keep_count: bool = False) -> None:
        """Clear ``slot``'s bit from every queue it registered on.

        With ``keep_count`` the slot's list of queues is left for the caller to
        reset (``release`` rewrites the whole slot header anyway).
        """
        mm = self.store.mm
        at = self.base + slot * SLOT_SIZE
        pid, count = _SLOT.unpack_from(mm, at)
        bit = 1 << slot
        for index in range(min(count, MAX_SLOT_ENTRIES)):
            entry = _U32.unpack_from(mm, at + 8 + 4 * index)[0]
            if not 0 < entry <= self.store.layout.n_entries:
                continue
            waiters_at = self.store.entry_offset(entry) + E_WAITERS
            waiters = int.from_bytes(mm[waiters_at : waiters_at + 16], "little")
            if waiters & bit:
                j.write(waiters_at, (waiters & ~bit).to_bytes(16, "little"))
        if count and not keep_count:
            j.pack(_SLOT, at, pid, 0)

    def release(self, j: Journal, slot: int) -> None:
        """Unregister ``slot`` and mark it free."""
        self.unregister(j, slot, keep_count=True)
        j.pack(_SLOT, self.base + slot * SLOT_SIZE, 0, 0)
        j.write(H_SLOTS_USED, (self._used() & ~(1 << slot)).to_bytes(16, "little"))

    def wake(self, bitmap: int) -> None:
        """Post the semaphore of every slot in ``bitmap`` (call without the lock)."""
        while bitmap:
            low = bitmap & -bitmap
            slot = low.bit_length() - 1
            bitmap ^= low
            try:
                self.semaphore(slot).release()
            except (posix_ipc.Error, OSError) as exc:
                logger.warning("Could not wake waiter slot %s: %s", slot, exc)

    def slot_pids(self) -> dict[int, int]:
        """Return the claimed slots and their owners' pids."""
        used = self._used()
        return {
            slot: _SLOT.unpack_from(self.store.mm, self.base + slot * SLOT_SIZE)[0]
            for slot in range(SLOTS)
            if used >> slot & 1
        }

    def close(self) -> None:
        """Close this process's semaphore handles."""
        for semaphore in self._semaphores.values():
            try:
                semaphore.close()
            except posix_ipc.Error:
                logger.debug("Semaphore already closed")
        self._semaphores.clear()
