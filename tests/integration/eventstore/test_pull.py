"""PullBatches against a real durable pull consumer: what is there at once, else the first to
come; nothing dropped between fetches; every delivery ackable; a deleted consumer refuses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from libs.eventstore.pull import PullBatches, PullRefused
from libs.infra import EmbeddedNats

STREAM, SUBJECTS, CONSUMER = "PULLTEST", "pt.>", "reader"


@pytest.fixture
async def nc(fresh_server: EmbeddedNats) -> AsyncIterator[NATS]:
    conn = await nats.connect(fresh_server.url)
    js = conn.jetstream()
    await js.add_stream(name=STREAM, subjects=[SUBJECTS])
    await js.add_consumer(
        STREAM,
        ConsumerConfig(
            durable_name=CONSUMER,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30,
        ),
    )
    yield conn
    await conn.close()


async def _publish(nc: NATS, first: int, count: int) -> None:
    js = nc.jetstream()
    for i in range(first, first + count):
        await js.publish(f"pt.{i}", str(i).encode())


def _numbers(msgs: list[object]) -> list[int]:
    return [int(m.data) for m in msgs]  # type: ignore[attr-defined]


async def test_what_is_there_comes_at_once_up_to_the_batch(nc: NATS) -> None:
    await _publish(nc, 1, 25)
    pull = await PullBatches(nc, STREAM, CONSUMER).start()
    try:
        started = time.monotonic()
        first = await pull.fetch(10, timeout=5)
        rest = await pull.fetch(100, timeout=5)
        assert time.monotonic() - started < 2  # no waiting out the timeout for a partial batch
        assert _numbers(first) == list(range(1, 11))
        assert _numbers(rest) == list(range(11, 26))
    finally:
        await pull.stop()


async def test_an_empty_consumer_waits_for_the_first_delivery_or_the_timeout(nc: NATS) -> None:
    pull = await PullBatches(nc, STREAM, CONSUMER).start()
    try:
        started = time.monotonic()
        assert await pull.fetch(10, timeout=0.5) == []
        assert 0.4 < time.monotonic() - started < 3

        async def later() -> None:
            await asyncio.sleep(0.3)
            await _publish(nc, 1, 1)

        task = asyncio.create_task(later())
        started = time.monotonic()
        got = await pull.fetch(10, timeout=5)
        assert _numbers(got) == [1] and time.monotonic() - started < 2
        await task
    finally:
        await pull.stop()


async def test_deliveries_after_a_fetch_returned_come_with_the_next_one(nc: NATS) -> None:
    """The lingering request keeps filling its batch after the first delivery was returned."""
    pull = await PullBatches(nc, STREAM, CONSUMER).start()
    seen: list[int] = []
    try:
        waiting = asyncio.create_task(pull.fetch(50, timeout=5))
        await asyncio.sleep(0.2)
        await _publish(nc, 1, 30)
        seen += _numbers(await waiting)
        while len(seen) < 30:
            batch = await pull.fetch(50, timeout=1)
            assert batch, f"deliveries lost after {seen}"
            for msg in batch:
                await msg.ack()
            seen += _numbers(batch)
        assert seen == list(range(1, 31))
        info = await nc.jetstream().consumer_info(STREAM, CONSUMER)
        assert info.delivered.consumer_seq == 30 and info.num_redelivered == 0
    finally:
        await pull.stop()


async def test_every_delivery_can_be_acked(nc: NATS) -> None:
    await _publish(nc, 1, 20)
    pull = await PullBatches(nc, STREAM, CONSUMER).start()
    try:
        for msg in await pull.fetch(20, timeout=5):
            await msg.ack()
        await asyncio.sleep(0.2)
        info = await nc.jetstream().consumer_info(STREAM, CONSUMER)
        assert info.num_ack_pending == 0 and info.ack_floor.stream_seq == 20
    finally:
        await pull.stop()


async def test_a_deleted_consumer_refuses_the_pull(nc: NATS) -> None:
    pull = await PullBatches(nc, STREAM, CONSUMER).start()
    try:
        waiting = asyncio.create_task(pull.fetch(10, timeout=5))
        await asyncio.sleep(0.2)
        await nc.jetstream().delete_consumer(STREAM, CONSUMER)
        with pytest.raises(PullRefused, match="409"):
            await waiting
    finally:
        await pull.stop()
