"""The intake: Faust's consumer delivers the transactions topic into it; the scorer takes batches.

Unit tests on the buffer's own rules (the worker tests run it inside a real Faust worker against
a real broker): routing by topic, batch taking, room, acknowledgement, and the rebalance clear.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
from mode.utils.queues import FlowControlEvent

from fraudstream.stream_scorer.intake import Intake


@dataclass(eq=False)
class _Message:
    topic: str
    offset: int
    acked: bool = False


@dataclass
class _App:
    flow_control: FlowControlEvent = field(default_factory=FlowControlEvent)


@dataclass
class _Consumer:
    """Faust's consumer as the intake sees it: its callback, app, unacked set and ack."""

    app: _App = field(default_factory=_App)
    others: list[Any] = field(default_factory=list)
    acked: list[int] = field(default_factory=list)
    _unacked_messages: set[Any] = field(default_factory=set)

    async def callback(self, message: Any) -> None:
        self.others.append(message)

    def ack(self, message: Any) -> bool:
        self.acked.append(message.offset)
        return True


def _sync(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body in its own event loop."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


def _intake(capacity: int = 100) -> tuple[Intake, _Consumer]:
    consumer = _Consumer()
    consumer.app.flow_control.resume()
    intake = Intake("tx", capacity)
    intake.attach(consumer)
    return intake, consumer


@_sync
async def test_records_of_other_topics_keep_fausts_callback() -> None:
    intake, consumer = _intake()
    await consumer.callback(_Message("labels", 0))  # type: ignore[misc]  # now intake.deliver
    await intake.deliver(_Message("tx", 1))
    assert [m.offset for m in consumer.others] == [0]
    assert [m.offset for m in intake.records] == [1]


@_sync
async def test_take_returns_a_full_batch_at_once_and_waits_at_most_the_window() -> None:
    intake, _ = _intake()
    for offset in range(5):
        await intake.deliver(_Message("tx", offset))
    assert [m.offset for m in await intake.take(3, within=10.0)] == [0, 1, 2]
    started = asyncio.get_running_loop().time()
    assert [m.offset for m in await intake.take(3, within=0.05)] == [3, 4]
    assert asyncio.get_running_loop().time() - started >= 0.04


@_sync
async def test_take_waits_for_the_first_record_then_fills_the_batch() -> None:
    intake, _ = _intake()
    taking = asyncio.ensure_future(intake.take(2, within=5.0))
    await asyncio.sleep(0.02)
    assert not taking.done()
    await intake.deliver(_Message("tx", 0))
    await asyncio.sleep(0.01)
    assert not taking.done()  # one record: waits (within the window) for the second
    await intake.deliver(_Message("tx", 1))
    assert [m.offset for m in await asyncio.wait_for(taking, 1.0)] == [0, 1]


@_sync
async def test_a_full_intake_makes_delivery_wait_until_records_are_taken() -> None:
    intake, _ = _intake(capacity=2)
    for offset in range(2):
        await intake.deliver(_Message("tx", offset))
    assert intake.full()
    delivering = asyncio.ensure_future(intake.deliver(_Message("tx", 2)))
    await asyncio.sleep(0.02)
    assert not delivering.done()
    await intake.take(1, within=0.0)
    await asyncio.wait_for(delivering, 1.0)
    assert [m.offset for m in intake.records] == [1, 2]


@_sync
async def test_delivery_waits_while_a_rebalance_suspends_the_flow() -> None:
    intake, consumer = _intake()
    consumer.app.flow_control.suspend()
    delivering = asyncio.ensure_future(intake.deliver(_Message("tx", 0)))
    await asyncio.sleep(0.02)
    assert not delivering.done()
    consumer.app.flow_control.resume()
    await asyncio.wait_for(delivering, 1.0)
    assert len(intake.records) == 1


@_sync
async def test_a_rebalance_drops_what_was_not_taken() -> None:
    # Faust's flow control clears the queues it manages when partitions are revoked: records
    # not taken yet are fetched again from the committed offset by whoever owns them next.
    intake, consumer = _intake()
    consumer.app.flow_control.manage_queue(intake)  # type: ignore[arg-type]
    for offset in range(3):
        await intake.deliver(_Message("tx", offset))
    consumer.app.flow_control.clear()
    assert not intake.records


@_sync
async def test_records_are_acknowledged_to_the_consumer_only_when_asked() -> None:
    intake, consumer = _intake()
    for offset in range(3):
        await intake.deliver(_Message("tx", offset))
    taken = await intake.take(3, within=0.0)
    assert consumer.acked == []
    intake.ack(taken[:2])
    assert consumer.acked == [0, 1]


@pytest.mark.parametrize("capacity", [1, 3])
@_sync
async def test_delivered_counts_every_record_of_the_topic(capacity: int) -> None:
    intake, _ = _intake(capacity=capacity)
    for offset in range(capacity):
        await intake.deliver(_Message("tx", offset))
    assert intake.delivered == capacity
