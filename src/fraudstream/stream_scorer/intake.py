"""Bulk delivery of the transactions topic: Faust's consumer, without its per-record stream.

Faust hands every record through its conductor, an ``Event`` per record, a stream queue and the
stream's iterator (acknowledgement bookkeeping, sensors, current-event context): measured as the
ceiling of a Faust worker here (a no-op agent drains 1.9 to 3.1k events/s on one core). The scorer
works on micro-batches anyway, so the records of the transactions topic go from Faust's consumer
straight into this buffer, and the scoring task takes them in bulk.

What Faust still does: the consumer group (join, rebalance, heartbeats), fetching, offsets and
commits. What stays the same: at-least-once. A record is acknowledged (``Consumer.ack``, the call
Faust's stream makes) only after its batch's outputs are confirmed; Faust commits acknowledged
offsets. On a rebalance Faust suspends the flow and clears the managed buffers (this one too):
records not yet taken are dropped here and delivered again from the committed offset.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any


class Intake:
    """Records of one topic, delivered by Faust's consumer and taken in batches.

    Attributes:
        topic: The topic taken here; records of other topics go to Faust's own callback.
        capacity: Records buffered at most; delivery waits for room beyond that.
    """

    def __init__(self, topic: str, capacity: int) -> None:
        self.topic = topic
        self.capacity = capacity
        self.records: deque[Any] = deque()
        self.delivered = 0
        self._want = 1
        self._enough = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._fallback: Callable[[Any], Awaitable[None]] | None = None
        self._consumer: Any = None

    def attach(self, consumer: Any) -> None:
        """Take this topic's records from Faust's consumer; others keep Faust's callback."""
        self._consumer = consumer
        self._fallback = consumer.callback
        consumer.callback = self.deliver

    def full(self) -> bool:
        """Whether delivering now would wait for room."""
        return len(self.records) >= self.capacity

    async def deliver(self, message: Any) -> None:
        """The consumer's callback: buffer a record of this topic (waits only when full)."""
        if message.topic != self.topic:
            if self._fallback is not None:
                await self._fallback(message)
            return
        app = self._consumer.app
        if not app.flow_control.is_active():
            await app.flow_control.acquire()  # a rebalance is under way
        while len(self.records) >= self.capacity:
            self._room.clear()
            await self._room.wait()
        self._consumer._unacked_messages.add(message)
        self.records.append(message)
        self.delivered += 1
        if len(self.records) >= self._want:
            self._enough.set()

    async def take(self, n: int, within: float) -> list[Any]:
        """Up to ``n`` records: waits for the first, then at most ``within`` seconds for ``n``."""
        self._want = 1
        while not self.records:
            self._enough.clear()
            await self._enough.wait()
        if len(self.records) < n:
            self._want = n
            self._enough.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._enough.wait(), within)
            self._want = 1
        count = min(n, len(self.records))
        taken = [self.records.popleft() for _ in range(count)]
        self._room.set()
        return taken

    def clear(self) -> None:
        """Drop what was not taken (Faust's flow control calls this on a rebalance)."""
        self.records.clear()
        self._room.set()

    def ack(self, messages: list[Any]) -> None:
        """Acknowledge records to Faust's consumer, which commits them."""
        ack = self._consumer.ack
        for message in messages:
            ack(message)


__all__ = ["Intake"]
