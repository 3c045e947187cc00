"""Flush: wipe a prefix's store back to the all-zero empty state.

How this works
--------------
A fresh segment is all zeros and an all-zero store is empty, so a flush
zeroes the allocation counters, the hash buckets and the block map. Those
regions are too big for the undo journal, so instead the flush first sets a
*reset pending* flag in the header and clears it when done. The segment lock
checks the flag whenever it is taken: a process that died mid-flush leaves it
set, and the next lock holder finishes the flush. Waiter slots survive a
flush (their owners are alive and still sleeping); their bits on the wiped
queues are gone, so those receivers notice new messages at the latest when
their wait times out and they look again.
"""

from __future__ import annotations

import logging
import mmap
import struct

from ._store import H_ALLOC, H_RESET, H_ROVER, H_STATS, Store

__all__ = ["reset_pending", "reset_store"]

logger = logging.getLogger(__name__)

_U32 = struct.Struct("<I")


def reset_pending(mm: mmap.mmap) -> bool:
    """Return True if a flush was interrupted and must be finished."""
    return bool(_U32.unpack_from(mm, H_RESET)[0])


def reset_store(store: Store) -> None:
    """Empty every queue, group and counter of ``store`` (needs the segment lock)."""
    mm = store.mm
    layout = store.layout
    _U32.pack_into(mm, H_RESET, 1)
    mm[H_ALLOC : H_ALLOC + 16] = bytes(16)
    _U32.pack_into(mm, H_ROVER, 0)
    mm[H_STATS : H_STATS + 40] = bytes(40)
    mm[layout.buckets : layout.buckets + 4 * layout.n_buckets] = bytes(4 * layout.n_buckets)
    mm[layout.map : layout.map + layout.n_blocks] = bytes(layout.n_blocks)
    _U32.pack_into(mm, H_RESET, 0)
    logger.debug("Flushed the store of %s entries and %s blocks", layout.n_entries, layout.n_blocks)
