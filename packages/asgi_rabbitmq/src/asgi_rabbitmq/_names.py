"""Map channel and group names onto RabbitMQ queues, exchanges and routing keys.

How this works
--------------
Every object this layer creates starts with the layer's ``prefix`` (default
``asgi.``), so several sites (or test runs) can share one virtual host.

* A normal or ``?`` channel ``c`` is the queue ``<prefix>c``; senders publish
  to it through the default exchange with the queue name as routing key.
* A process-specific channel ``x!y`` lives in the queue ``<prefix>x!`` shared
  by every ``x!`` channel. That queue is bound to the topic exchange
  ``<prefix>local`` with the key ``<h>.#`` where ``<h>`` is a short hash of
  ``x!``; senders publish with the routing key ``<h>.y``, so the receiver gets
  the local part back from the routing key of the delivery.
* A group ``g`` is the fanout exchange ``<prefix>group.g``. Each membership
  ``(g, c)`` is a relay queue ``<prefix>member.<hash of g and c>`` bound to it.
  Relay queues have a message TTL of zero and dead-letter into the member's
  channel queue with the member's routing key, so one publish to the group
  exchange becomes one message per member, each carrying its channel name, and
  the relay queue's ``x-expires`` drops the membership ``group_expiry``
  seconds after the last ``group_add`` (which re-declares it).
* ``<prefix>roster.g`` records adds and discards for ``group_channels``;
  ``<prefix>registry`` records every object created so ``flush`` can delete
  them; ``<prefix>expired`` collects messages that expired unread (dead-letter
  exchange of every channel queue) so their channels can be evicted.
"""

from __future__ import annotations

import hashlib

__all__ = ["MAX_PREFIX_LENGTH", "Names"]

#: Longest prefix that still keeps every object name under AMQP's 255 bytes.
MAX_PREFIX_LENGTH = 40


def _digest(text: str, length: int) -> str:
    return hashlib.blake2b(text.encode("ascii"), digest_size=length // 2).hexdigest()


class Names:
    """Compute the broker object names for one layer prefix."""

    def __init__(self, prefix: str) -> None:
        if not isinstance(prefix, str) or not prefix or len(prefix) > MAX_PREFIX_LENGTH:
            raise ValueError(
                f"prefix is {prefix!r}; it must be a non-empty str of at most "
                f"{MAX_PREFIX_LENGTH} characters such as 'asgi'."
            )
        if prefix.startswith("amq.") or not prefix.isascii():
            raise ValueError(
                f"prefix is {prefix!r}; RabbitMQ reserves names starting with 'amq.' and "
                "names must be ASCII. Use letters, digits, '-', '_' and '.'."
            )
        self.prefix = prefix if prefix.endswith(".") else prefix + "."
        self.local_exchange = self.prefix + "local"
        self.expired_exchange = self.prefix + "expired"
        self.expired_queue = self.prefix + "expired"
        self.registry_queue = self.prefix + "registry"
        self._group_exchange = self.prefix + "group."

    def queue(self, key: str) -> str:
        """Return the queue holding channel ``key`` (a name, or an ``x!`` prefix)."""
        return self.prefix + key

    def key_of_queue(self, queue: str) -> str | None:
        """Return the channel key a queue name belongs to, or None if not ours."""
        if queue.startswith(self.prefix):
            return queue[len(self.prefix) :]
        return None

    @staticmethod
    def local_hash(key: str) -> str:
        """Return the routing-key word that stands for the ``x!`` prefix ``key``."""
        return _digest(key, 16)

    def binding_key(self, key: str) -> str:
        """Return the topic binding that routes every ``key``-prefixed channel."""
        return self.local_hash(key) + ".#"

    def route(self, channel: str) -> tuple[str, str]:
        """Return ``(exchange, routing_key)`` that delivers to ``channel``'s queue."""
        index = channel.find("!")
        if index < 0:
            return "", self.queue(channel)
        return self.local_exchange, self.local_hash(channel[: index + 1]) + "." + channel[
            index + 1 :
        ]

    @staticmethod
    def channel_from_delivery(key: str, routing_key: str) -> str:
        """Return the channel of a message read from the queue of ``key``."""
        if key.endswith("!"):
            _hash, _dot, local = routing_key.partition(".")
            return key + local
        return key

    def group_exchange(self, group: str) -> str:
        """Return the fanout exchange of ``group``."""
        return self._group_exchange + group

    def group_of_exchange(self, exchange: str) -> str | None:
        """Return the group whose exchange is ``exchange``, or None."""
        if exchange.startswith(self._group_exchange):
            return exchange[len(self._group_exchange) :]
        return None

    def member_queue(self, group: str, channel: str) -> str:
        """Return the relay queue that represents ``channel``'s membership of ``group``."""
        return self.prefix + "member." + _digest(group + " " + channel, 40)

    def roster_queue(self, group: str) -> str:
        """Return the queue that records adds and discards of ``group``."""
        return self.prefix + "roster." + group
