"""Create, open, describe and remove the shared-memory segment of a prefix.

How this works
--------------
Each prefix owns one POSIX shared-memory segment, ``/asgi-ipc.<prefix>``, and
up to :data:`SLOTS` wake-up semaphores, ``/asgi-ipc.<prefix>.w<n>``. The
segment is laid out once, by whichever process creates it, and the layout is
written into its header; later openers read the layout from the header, so
processes configured with different memory sizes still agree. Regions, in
order (all offsets in the header):

``header``   magic, layout, the lock's mutex, counters (:data:`HEADER_SIZE` bytes)
``journal``  the undo log of the current critical section (see ``_locks``)
``slots``    :data:`SLOTS` waiter slots: pid plus the entries it waits on
``buckets``  the hash table: one u32 chain head per bucket
``entries``  fixed-size name entries (channels and groups)
``members``  32-byte group membership records
``map``      one byte per data block: 0 free, 1 used
``data``     :data:`BLOCK` byte blocks holding message records

The creator makes the segment with ``O_CREX``, sets up the lock's mutex, and
writes the magic last, while holding the segment lock; an opener waits
(briefly) for the magic. The segment is sparse: tmpfs only backs the pages
that are written.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import re
import struct
import time
from dataclasses import dataclass

import posix_ipc

__all__ = [
    "BLOCK",
    "ENTRY_SIZE",
    "HEADER_SIZE",
    "MEMBER_SIZE",
    "SLOTS",
    "Layout",
    "SegmentError",
    "existing_prefixes",
    "open_segment",
    "remove_prefix",
    "segment_name",
    "semaphore_name",
    "validate_prefix",
]

logger = logging.getLogger(__name__)

MAGIC = b"ASGIIPC2"
VERSION = 2  # 2: the segment lock is a robust pthread mutex in the header
BLOCK = 256
ENTRY_SIZE = 320
MEMBER_SIZE = 32
SLOTS = 128
SLOT_SIZE = 144
MAX_SLOT_ENTRIES = 32
HEADER_SIZE = 4096
JOURNAL_SIZE = 512 * 1024
MAX_ENTRIES = 1 << 18
_NAME_PREFIX = "asgi-ipc."
_PREFIX_RE = re.compile(r"^[a-zA-Z0-9_\-.]{1,100}\Z")
# magic, version, block, entries, buckets, blocks, members, journal size,
# then region offsets: journal, slots, buckets, entries, members, map, data, end.
_LAYOUT = struct.Struct("<8sIIIIIII8Q")
_OPEN_WAIT = 5.0


class SegmentError(RuntimeError):
    """Raised when a prefix's shared memory cannot be created or opened."""


@dataclass(frozen=True)
class Layout:
    """Sizes and offsets of a segment's regions."""

    n_entries: int
    n_buckets: int
    n_blocks: int
    n_members: int
    journal: int
    slots: int
    buckets: int
    entries: int
    members: int
    map: int
    data: int
    end: int

    @classmethod
    def plan(cls, message_memory: int, group_memory: int) -> Layout:
        """Return the layout for the configured memory sizes."""
        n_blocks = max(64, message_memory // BLOCK)
        n_members = max(64, group_memory // (2 * MEMBER_SIZE))
        n_entries = min(MAX_ENTRIES, max(256, message_memory // 4096 + group_memory // 1024))
        n_buckets = 1 << (n_entries - 1).bit_length()
        journal = HEADER_SIZE
        slots = journal + JOURNAL_SIZE
        buckets = _align(slots + SLOTS * SLOT_SIZE)
        entries = _align(buckets + 4 * n_buckets)
        members = _align(entries + ENTRY_SIZE * n_entries)
        map_ = _align(members + MEMBER_SIZE * n_members)
        data = _align(map_ + n_blocks)
        end = data + BLOCK * n_blocks
        return cls(
            n_entries,
            n_buckets,
            n_blocks,
            n_members,
            journal,
            slots,
            buckets,
            entries,
            members,
            map_,
            data,
            end,
        )

    def pack(self) -> bytes:
        """Return the header bytes describing this layout."""
        return _LAYOUT.pack(
            MAGIC, VERSION, BLOCK, self.n_entries, self.n_buckets, self.n_blocks,
            self.n_members, JOURNAL_SIZE, self.journal, self.slots, self.buckets,
            self.entries, self.members, self.map, self.data, self.end,
        )  # fmt: skip

    @classmethod
    def unpack(cls, header: bytes) -> Layout | None:
        """Return the layout in ``header``, or None if it is not initialised yet."""
        magic, version, block, n_entries, n_buckets, n_blocks, n_members, _journal, *offsets = (
            _LAYOUT.unpack_from(header)
        )
        if magic != MAGIC:
            return None
        if version != VERSION or block != BLOCK:
            raise SegmentError(
                f"The shared memory was laid out by an incompatible asgi_ipc (format "
                f"{version}, block {block}); stop every process using the prefix and run "
                "'python -m asgi_ipc remove --prefix <prefix>'."
            )
        return cls(n_entries, n_buckets, n_blocks, n_members, *offsets)


def _align(offset: int, to: int = 4096) -> int:
    return (offset + to - 1) // to * to


def validate_prefix(prefix: object) -> str:
    """Return ``prefix`` if it is usable in shared-memory names, else raise."""
    if not isinstance(prefix, str) or not _PREFIX_RE.match(prefix):
        raise ValueError(
            f"prefix is {prefix!r}; it must be 1-100 ASCII letters, digits, '-', '_' or '.', "
            "for example 'asgi' or 'mysite'."
        )
    return prefix


def segment_name(prefix: str) -> str:
    """Return the POSIX shared-memory name of ``prefix``."""
    return f"/{_NAME_PREFIX}{prefix}"


def semaphore_name(prefix: str, slot: int) -> str:
    """Return the POSIX semaphore name of waiter ``slot`` of ``prefix``."""
    return f"/{_NAME_PREFIX}{prefix}.w{slot}"


def open_segment(
    prefix: str, message_memory: int, group_memory: int
) -> tuple[posix_ipc.SharedMemory, mmap.mmap, Layout, bool]:
    """Create or open the segment of ``prefix``; return (shm, map, layout, created).

    A newly created segment is returned still unformatted (``created`` True):
    the caller formats it under the segment lock.
    """
    name = segment_name(prefix)
    planned = Layout.plan(message_memory, group_memory)
    _check_room(name, planned.end)
    try:
        shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, mode=0o600, size=planned.end)
        created = True
    except posix_ipc.ExistentialError:
        created = False
        try:
            shm = posix_ipc.SharedMemory(name)
        except posix_ipc.ExistentialError as exc:
            raise SegmentError(
                f"The shared memory {name!r} vanished while opening it; was "
                "'python -m asgi_ipc remove' run at the same time?"
            ) from exc
    except (OSError, ValueError) as exc:
        raise SegmentError(
            f"Cannot create shared memory {name!r} of {planned.end} bytes ({exc}); lower "
            "message_memory/group_memory or free space in /dev/shm."
        ) from exc
    if created:
        mm = mmap.mmap(shm.fd, planned.end)
        return shm, mm, planned, True
    layout = _wait_for_layout(shm, name)
    mm = mmap.mmap(shm.fd, layout.end)
    return shm, mm, layout, False


def _check_room(name: str, size: int) -> None:
    """Refuse a segment bigger than the free space of /dev/shm (writes would SIGBUS)."""
    try:
        stats = os.statvfs("/dev/shm")
    except OSError:
        return
    free = stats.f_bavail * stats.f_frsize
    if size > free and not os.path.exists("/dev/shm" + name):
        raise SegmentError(
            f"The shared memory {name!r} needs {size} bytes but /dev/shm has only {free} "
            "free; lower message_memory/group_memory or enlarge /dev/shm."
        )


def _wait_for_layout(shm: posix_ipc.SharedMemory, name: str) -> Layout:
    deadline = time.monotonic() + _OPEN_WAIT
    while True:
        size = os.fstat(shm.fd).st_size
        if size >= HEADER_SIZE:
            with mmap.mmap(shm.fd, HEADER_SIZE) as header:
                layout = Layout.unpack(header[:HEADER_SIZE])
            if layout is not None:
                if layout.end > size:
                    raise SegmentError(f"The shared memory {name!r} is truncated.")
                return layout
        if time.monotonic() > deadline:
            raise SegmentError(
                f"The shared memory {name!r} exists but was never initialised (its creator "
                "probably died); stop every process using the prefix and run "
                "'python -m asgi_ipc remove --prefix <prefix>'."
            )
        time.sleep(0.005)


def existing_prefixes() -> list[str]:
    """Return the prefixes that have a segment in /dev/shm (Linux only)."""
    try:
        names = os.listdir("/dev/shm")
    except OSError:
        return []
    return sorted(
        name[len(_NAME_PREFIX) :]
        for name in names
        if name.startswith(_NAME_PREFIX) and not name.startswith("sem.")
    )


def remove_prefix(prefix: str) -> list[str]:
    """Unlink the segment and semaphores of ``prefix``; return the names removed."""
    validate_prefix(prefix)
    removed: list[str] = []
    try:
        posix_ipc.unlink_shared_memory(segment_name(prefix))
        removed.append(segment_name(prefix))
    except posix_ipc.ExistentialError:
        logger.debug("No shared memory for prefix %s", prefix)
    for slot in range(SLOTS):
        try:
            posix_ipc.unlink_semaphore(semaphore_name(prefix, slot))
            removed.append(semaphore_name(prefix, slot))
        except posix_ipc.ExistentialError:
            continue
        except OSError as exc:  # pragma: no cover - permissions
            if exc.errno != errno.ENOENT:
                raise
    return removed
