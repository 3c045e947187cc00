"""The segment lock and its undo journal: crash-safe critical sections.

How this works
--------------
Every change to a prefix's shared memory happens inside one critical section,
guarded by two locks taken in order:

1. a ``threading.Lock`` per layer instance, which serialises the threads of
   one process, and
2. an exclusive ``flock`` on the instance's own file descriptor of the
   shared-memory segment, which serialises processes (and separate layer
   instances in one process, because each opens its own descriptor).

The kernel drops a ``flock`` the moment its holder dies, so a process killed
while holding the lock (SIGKILL, OOM killer, segfault) never wedges the
others: the next process simply gets the lock. There is no lock timeout to
tune and no owner-pid guessing. After ``fork`` the child shares the parent's
open file description (and so its lock); :class:`SegmentLock` notices the new
pid and opens a descriptor of its own before locking.

Getting the lock back is only half of recovery: the dead holder may have left
the structures half-changed. So every metadata write made under the lock goes
through :class:`Journal`, an undo log in the segment: it first appends
``(offset, length, old bytes)`` and publishes the new journal length, then
writes the new bytes. Leaving the critical section normally empties the
journal (commit); leaving it with an exception replays it backwards
(rollback). A holder that finds a non-empty journal when it takes the lock
knows its predecessor died mid-operation and rolls the journal back first,
restoring the exact state before the interrupted operation. Message payloads
are copied into blocks that the journaled allocation map still marks as free
until the operation commits, so they need no journaling. Long operations
(sweeps, group fan-out) call :meth:`Journal.checkpoint` between steps that
each leave the structures consistent, so the journal stays small.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import struct
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["Journal", "JournalOverflowError", "SegmentLock"]

logger = logging.getLogger(__name__)

_RECORD = struct.Struct("<II")
_U32 = struct.Struct("<I")
# Bumped in every child after fork, so a lock notices without calling getpid().
_fork_generation = [0]


def _after_fork_in_child() -> None:
    _fork_generation[0] += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class JournalOverflowError(RuntimeError):
    """Raised when one critical section writes more than the journal holds."""


class Journal:
    """An undo log for the metadata writes of one critical section."""

    __slots__ = ("_end", "_len_off", "_mm", "_off", "used")

    def __init__(self, mm: mmap.mmap, offset: int, size: int, length_offset: int) -> None:
        self._mm = mm
        self._off = offset
        self._end = size
        self._len_off = length_offset
        self.used = 0

    def write(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` after logging the bytes it replaces."""
        mm = self._mm
        size = len(data)
        used = self.used
        new_used = used + 8 + size
        if new_used > self._end:
            raise JournalOverflowError(
                f"One operation wrote more than the {self._end}-byte journal holds; "
                "this is a bug in asgi_ipc, please report it."
            )
        at = self._off + used
        _RECORD.pack_into(mm, at, offset, size)
        mm[at + 8 : at + 8 + size] = mm[offset : offset + size]
        self.used = new_used
        _U32.pack_into(mm, self._len_off, new_used)
        mm[offset : offset + size] = data

    def pack(self, layout: struct.Struct, offset: int, *values: Any) -> None:
        """Journal-write ``values`` packed with ``layout`` at ``offset``."""
        self.write(offset, layout.pack(*values))

    def checkpoint(self) -> None:
        """Forget the logged writes: the structures are consistent right now."""
        if self.used:
            self.used = 0
            _U32.pack_into(self._mm, self._len_off, 0)

    def pending(self) -> int:
        """Return the journal length recorded in shared memory."""
        return int(_U32.unpack_from(self._mm, self._len_off)[0])

    def rollback(self) -> int:
        """Undo every logged write, newest first; return how many were undone."""
        mm = self._mm
        length = min(self.pending(), self._end)
        records: list[tuple[int, int, int]] = []
        at = 0
        while at + 8 <= length:
            offset, size = _RECORD.unpack_from(mm, self._off + at)
            if at + 8 + size > length or offset + size > len(mm):
                break
            records.append((offset, size, self._off + at + 8))
            at += 8 + size
        for offset, size, saved in reversed(records):
            mm[offset : offset + size] = mm[saved : saved + size]
        self.used = 0
        _U32.pack_into(mm, self._len_off, 0)
        return len(records)


class SegmentLock:
    """The crash-safe lock of one segment; use as a context manager.

    ``reopen`` returns a fresh file descriptor of the segment (used after
    ``fork``). ``repair`` runs with the lock held, before the caller's code,
    when the u32 at ``repair_flag`` is non-zero (a flush that did not finish).
    """

    def __init__(
        self,
        fd: int,
        journal: Journal,
        reopen: Callable[[], int],
        repair_flag: int,
        repair: Callable[[], None],
    ) -> None:
        self._fd = fd
        self._journal = journal
        self._reopen = reopen
        self._repair_flag = repair_flag
        self._repair = repair
        self._generation = _fork_generation[0]
        self._thread_lock = threading.Lock()

    @property
    def fd(self) -> int:
        """Return the file descriptor the lock is taken on."""
        return self._fd

    def _after_fork(self) -> None:
        # The inherited descriptor shares its lock with the parent: get our own.
        self._thread_lock = threading.Lock()
        old = self._fd
        self._fd = self._reopen()
        self._generation = _fork_generation[0]
        try:
            os.close(old)
        except OSError:
            logger.debug("Inherited segment descriptor %s was already closed", old)

    def __enter__(self) -> Journal:
        if self._generation != _fork_generation[0]:
            self._after_fork()
        self._thread_lock.acquire()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        try:
            journal = self._journal
            mm = journal._mm
            if _U32.unpack_from(mm, journal._len_off)[0]:
                undone = journal.rollback()
                logger.warning(
                    "A process died while changing shared memory; rolled back %s writes "
                    "of its unfinished operation.",
                    undone,
                )
            if _U32.unpack_from(mm, self._repair_flag)[0]:
                self._repair()
        except BaseException:
            self._release()
            raise
        return journal

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self._journal.checkpoint()
            else:
                self._journal.rollback()
        finally:
            self._release()

    def _release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Close the lock's descriptor."""
        try:
            os.close(self._fd)
        except OSError:
            logger.debug("Segment descriptor %s was already closed", self._fd)
