"""asgiref.prefetch.PrefetchBuffer: order per queue, liveness, counts, threads."""

from __future__ import annotations

import threading

import asgiref.prefetch
from asgiref.prefetch import PrefetchBuffer


def _live(entry: tuple[str, int], now_ms: int) -> bool:
    return entry[1] > now_ms


def test_exports() -> None:
    assert asgiref.prefetch.__all__ == ["PrefetchBuffer"]


def test_oldest_live_entry_of_the_first_queue_that_has_one() -> None:
    buffer: PrefetchBuffer[tuple[str, int]] = PrefetchBuffer(_live)
    assert not buffer and len(buffer) == 0
    buffer.add("x!", [("a", 100), ("b", 300)])
    buffer.add("x!", [("c", 300)])
    buffer.add("y!", [])
    assert len(buffer) == 3 and buffer.count("x!") == 3 and buffer.count("y!") == 0
    assert buffer.take(["y!"], 200) is None
    assert buffer.take(["y!", "x!"], 200) == ("b", 300)  # "a" expired and is dropped
    assert buffer.take(["x!"], 200) == ("c", 300)
    assert buffer.take(["x!"], 200) is None and not buffer


def test_clear_forgets_everything() -> None:
    buffer: PrefetchBuffer[tuple[str, int]] = PrefetchBuffer(_live)
    buffer.add("x!", [("a", 900)])
    buffer.clear()
    assert buffer.take(["x!"], 0) is None and len(buffer) == 0


def test_concurrent_takers_share_the_entries_exactly_once() -> None:
    buffer: PrefetchBuffer[tuple[str, int]] = PrefetchBuffer(_live)
    buffer.add("x!", [(str(n), 10**12) for n in range(2000)])
    taken: list[tuple[str, int]] = []

    def drain() -> None:
        while (entry := buffer.take(["x!"], 0)) is not None:
            taken.append(entry)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(int(name) for name, _expiry in taken) == list(range(2000))
