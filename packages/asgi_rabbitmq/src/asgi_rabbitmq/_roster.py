"""Group membership, eviction and flush for the RabbitMQ layer.

How this works
--------------
AMQP cannot list bindings, so membership is kept in two forms:

* For delivery, each membership ``(group, channel)`` is a relay queue bound to
  the group's fanout exchange (see :mod:`asgi_rabbitmq._names`). Its
  ``x-expires`` of ``group_expiry`` makes the broker drop the membership that
  long after the last ``group_add``, which re-declares it.
* For ``group_channels``, every add and discard appends a small record
  (``["+", channel, ms]`` or ``["-", channel, ms]``) to the group's roster
  queue, whose records live ``group_expiry`` seconds. Reading the roster fetches every
  record unacknowledged and then returns them all to the queue (nack with
  requeue, which keeps their order); replaying the records in order gives the
  members (reads compact a roster that is mostly dead records). A publish is
  confirmed before ``group_add`` returns, so a reader always sees its own
  process's changes; another process reading the same roster at the same
  instant may see fewer records (the spec's "best-effort with regards to other
  nodes"). Readers in one process take turns.

Messages that expire unread are dead-lettered to the shared ``expired`` queue.
:meth:`Roster.evict_expired` drains it: the first ``x-death`` entry names the
channel queue (and the routing key gives back an ``x!y`` local part); an entry
whose exchange is a group exchange names the group it came through. The
channel is removed from that group and from every group this process added it
to, unless this process added it again after the message died.

``flush`` drains the registry queue (one record per object any process
created under the prefix) and deletes everything it lists.
"""

from __future__ import annotations

import datetime
import functools
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import msgpack
import pika
import pika.exceptions

from ._link import Link

if TYPE_CHECKING:
    from .core import RabbitmqChannelLayer

__all__ = ["Roster"]

logger = logging.getLogger(__name__)

#: Drain the expired queue at most this often from ``send_group`` (seconds).
EVICT_INTERVAL = 1.0
#: Most dead messages handled per drain, so one call stays bounded.
EVICT_BATCH = 500
#: Compact a roster read with at least this many records, most of them dead.
COMPACT_AT = 64
#: Tidy the record of this process's memberships above this many channels.
MAX_TRACKED_CHANNELS = 50_000
#: Longest roster read (records), so one call stays bounded.
MAX_ROSTER_RECORDS = 200_000


class Roster:
    """Group bookkeeping of one layer instance."""

    def __init__(self, layer: RabbitmqChannelLayer) -> None:
        self.layer = layer
        self.names = layer.names
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        #: channel -> {group: wall-clock time of this process's last group_add}
        self._added: dict[str, dict[str, float]] = {}
        self._next_evict = 0.0
        self._group_expiry_ms = max(1, int(layer.group_expiry * 1000))

    # Changes ------------------------------------------------------------------

    def _ensure_group(self, link: Link, group: str) -> tuple[str, str]:
        layer = self.layer
        exchange = self.names.group_exchange(group)
        roster = self.names.roster_queue(group)
        if not layer.is_fresh(exchange):
            layer.ensure_infrastructure(link)
            link.admin.exchange_declare(exchange, "fanout", auto_delete=True)
            layer.register(link, "e", exchange)
            layer.mark(exchange)
        if not layer.is_fresh(roster):
            link.admin.queue_declare(
                roster,
                arguments={
                    "x-message-ttl": self._group_expiry_ms,
                    "x-expires": self._group_expiry_ms + 60_000,
                    "x-max-length": MAX_ROSTER_RECORDS,
                },
            )
            layer.register(link, "q", roster)
            layer.mark(roster)
        return exchange, roster

    def _record(self, link: Link, roster: str, sign: str, channel: str) -> None:
        body = msgpack.packb([sign, channel, int(time.time() * 1000)])
        try:
            link.main.basic_publish("", roster, body, mandatory=True)
        except pika.exceptions.UnroutableError:
            self.layer.unmark(roster)
            raise pika.exceptions.ChannelClosedByBroker(404, "roster queue missing") from None

    def add(self, group: str, channel: str) -> None:
        """Add ``channel`` to ``group`` (renewing the membership's expiry)."""
        layer = self.layer
        key = layer.non_local_name(channel)
        member = self.names.member_queue(group, channel)
        dead_letter_exchange, dead_letter_key = self.names.route(channel)

        def op(link: Link) -> None:
            layer.ensure_queue(link, key)
            exchange, roster = self._ensure_group(link, group)
            link.admin.queue_declare(
                member,
                arguments={
                    "x-message-ttl": 0,
                    "x-dead-letter-exchange": dead_letter_exchange,
                    "x-dead-letter-routing-key": dead_letter_key,
                    "x-expires": self._group_expiry_ms,
                },
            )
            link.admin.queue_bind(member, exchange)
            if not layer.is_fresh(member):
                layer.register(link, "q", member)
                layer.mark(member)
            self._record(link, roster, "+", channel)

        layer.call(op)
        now = time.time()
        with self._lock:
            self._added.setdefault(channel, {})[group] = now
            if len(self._added) > MAX_TRACKED_CHANNELS:
                # Members that were never discarded (crashed consumers): forget
                # the ones whose membership has lapsed anyway.
                cutoff = now - layer.group_expiry
                for member in list(self._added):
                    groups = self._added[member]
                    for name in [g for g, added in groups.items() if added < cutoff]:
                        del groups[name]
                    if not groups:
                        del self._added[member]

    def discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group``."""
        with self._lock:
            groups = self._added.get(channel)
            if groups is not None:
                groups.pop(group, None)
                if not groups:
                    del self._added[channel]
        self.layer.call(lambda link: self._remove(link, group, channel))

    def _remove(self, link: Link, group: str, channel: str) -> None:
        member = self.names.member_queue(group, channel)
        link.admin.queue_delete(member)
        self.layer.unmark(member)
        _exchange, roster = self._ensure_group(link, group)
        self._record(link, roster, "-", channel)

    # Reading ------------------------------------------------------------------

    def members(self, group: str) -> list[str]:
        """Return the members of ``group`` by replaying its roster."""
        self.evict_expired(force=True)
        roster = self.names.roster_queue(group)
        with self._read_lock:
            live = self.layer.call(lambda link: self._browse(link, roster))
        return list(live)

    @staticmethod
    def _replay(records: list[bytes], roster: str) -> dict[str, int]:
        """Return ``{channel: time added in ms}`` from records in queue order."""
        live: dict[str, int] = {}
        for body in records:
            try:
                sign, channel, added_ms = msgpack.unpackb(body, raw=False)
            except (ValueError, TypeError, msgpack.UnpackException):
                logger.warning("Ignoring an unreadable record in %s", roster)
                continue
            if sign == "+":
                live.pop(channel, None)
                live[channel] = int(added_ms)
            else:
                live.pop(channel, None)
        return live

    def _browse(self, link: Link, roster: str) -> dict[str, int]:
        """Read every record of ``roster`` without consuming it and replay them.

        When most records are dead (discarded or superseded members), the roster
        is compacted: one fresh record per live member, carrying the rest of its
        membership's lifetime as its TTL, replaces everything that was read.
        """
        admin = link.admin
        try:
            count = admin.queue_declare(roster, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 404:
                raise
            link.reopen_admin()
            return {}
        records: list[bytes] = []
        compacted = False
        try:
            for _ in range(min(count, MAX_ROSTER_RECORDS)):
                method, _props, body = admin.basic_get(roster, auto_ack=False)
                if method is None:
                    break
                records.append(body)
            live = self._replay(records, roster)
            if len(records) >= COMPACT_AT and 2 * len(live) < len(records):
                self._rewrite(link, roster, live)
                admin.basic_ack(delivery_tag=0, multiple=True)
                compacted = True
        finally:
            if records and not compacted and admin.is_open:
                admin.basic_nack(delivery_tag=0, multiple=True, requeue=True)
        return live

    def _rewrite(self, link: Link, roster: str, live: dict[str, int]) -> None:
        now_ms = int(time.time() * 1000)
        for channel, added_ms in live.items():
            remaining = added_ms + self._group_expiry_ms - now_ms
            if remaining > 0:
                link.main.basic_publish(
                    "",
                    roster,
                    msgpack.packb(["+", channel, added_ms]),
                    pika.BasicProperties(expiration=str(remaining)),
                )

    # Eviction -----------------------------------------------------------------

    def evict_expired(self, force: bool) -> None:
        """Drop channels whose messages expired unread from their groups."""
        now = time.monotonic()
        if not force and now < self._next_evict:
            return
        self._next_evict = now + EVICT_INTERVAL
        if not self.layer.is_fresh(self.names.local_exchange):
            self.layer.call(self.layer.ensure_infrastructure)
        dead = self.layer.call(self._drain_expired)
        if not dead:
            return
        evictions: set[tuple[str, str]] = set()
        with self._lock:
            for channel, died_at, via_group in dead:
                groups = dict(self._added.get(channel, {}))
                if via_group is not None:
                    groups.setdefault(via_group, 0.0)
                for group, added_at in groups.items():
                    if added_at > died_at + 1.0:
                        continue  # Re-added after the message died: keep it.
                    evictions.add((group, channel))
                    mine = self._added.get(channel)
                    if mine is not None:
                        mine.pop(group, None)
                        if not mine:
                            del self._added[channel]
        for group, channel in sorted(evictions):
            logger.debug("evicting %s from group %s: a message expired unread", channel, group)
            self.layer.call(functools.partial(self._remove, group=group, channel=channel))

    def _drain_expired(self, link: Link) -> list[tuple[str, float, str | None]]:
        dead: list[tuple[str, float, str | None]] = []
        for _ in range(EVICT_BATCH):
            method, props, _body = link.admin.basic_get(self.names.expired_queue, auto_ack=True)
            if method is None:
                break
            found = self._parse_death(method, props)
            if found is not None:
                dead.append(found)
        return dead

    def _parse_death(
        self, method: Any, props: pika.BasicProperties
    ) -> tuple[str, float, str | None] | None:
        deaths = (props.headers or {}).get("x-death") or []
        if not deaths or not isinstance(deaths[0], dict):
            return None
        key = self.names.key_of_queue(str(deaths[0].get("queue", "")))
        if key is None:
            return None
        channel = self.names.channel_from_delivery(key, method.routing_key)
        died = deaths[0].get("time")
        died_at = died.timestamp() if isinstance(died, datetime.datetime) else time.time()
        via_group = None
        for death in deaths:
            if isinstance(death, dict):
                group = self.names.group_of_exchange(str(death.get("exchange", "")))
                if group is not None:
                    via_group = group
                    break
        return channel, died_at, via_group

    # Flush --------------------------------------------------------------------

    def flush(self, link: Link) -> None:
        """Delete every object listed in the registry and purge the expired queue."""
        self.layer.ensure_infrastructure(link)
        admin = link.admin
        queues: set[str] = set()
        exchanges: set[str] = set()
        while True:
            method, _props, body = admin.basic_get(self.names.registry_queue, auto_ack=True)
            if method is None:
                break
            kind, _space, name = body.decode("ascii", "replace").partition(" ")
            (queues if kind == "q" else exchanges).add(name)
        for name in sorted(queues):
            admin.queue_delete(name)
        for name in sorted(exchanges):
            admin.exchange_delete(name)
        admin.queue_purge(self.names.expired_queue)

    def clear_local(self) -> None:
        """Forget this process's memberships (after a flush)."""
        with self._lock:
            self._added.clear()
