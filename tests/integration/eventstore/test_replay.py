"""Bulk replay (catch-up, rebuild): every event once, in order, with bounded client memory, and
resumed after a lost delivery or a vanished consumer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.client import JetStreamContext

from libs.events.subjects import EVENTS_STREAM, Aggregate, aggregate_kind_filter
from libs.eventstore import JetStreamEventStore, bootstrap
from libs.infra import EmbeddedNats
from tests.support.histories import build_log, publish_sealed, seal_all


@pytest.fixture
async def seeded(
    fresh_server: EmbeddedNats,
) -> AsyncIterator[tuple[NATS, JetStreamEventStore, list[bytes]]]:
    nc = await nats.connect(fresh_server.url)
    await bootstrap(nc)
    sealed = seal_all(build_log(deployments=40, projects=3))
    last = await publish_sealed(nc, sealed)
    assert last == len(sealed)
    yield nc, JetStreamEventStore(nc), [raw for _, raw in sealed]
    await nc.close()


async def _consumers(nc: NATS) -> list[Any]:
    return list(await nc.jetstream().consumers_info(EVENTS_STREAM))


async def test_every_event_once_in_order_in_chunks(
    seeded: tuple[NATS, JetStreamEventStore, list[bytes]],
) -> None:
    nc, store, raws = seeded
    chunks = [c async for c in store.replay(chunk=100, window=400)]
    assert all(0 < len(c) <= 100 for c in chunks)
    events = [r for c in chunks for r in c]
    assert [r.seq for r in events] == list(range(1, len(raws) + 1))
    assert [r.raw for r in events] == raws
    assert events[0].envelope.type == "ProjectRegistered"

    middle = [r.seq async for c in store.replay(from_seq=101, until_seq=250) for r in c]
    assert middle == list(range(101, 251))
    await asyncio.sleep(0)
    assert await _consumers(nc) == []  # each replay removes its consumer when done


async def test_a_filtered_replay_ends_at_until_seq_though_later_events_match(
    seeded: tuple[NATS, JetStreamEventStore, list[bytes]],
) -> None:
    _, store, raws = seeded
    until = len(raws) // 2
    flt = aggregate_kind_filter(Aggregate.ENVIRONMENT)
    seqs = [r.seq async for c in store.replay_stored(flt, until_seq=until) for r in c]
    everything = [r async for c in store.replay_stored() for r in c]
    expected = [m.seq for m in everything if m.subject.startswith("events.environment.")]
    assert seqs == [s for s in expected if s <= until] and seqs


async def test_a_slow_reader_keeps_at_most_the_window_outstanding(
    seeded: tuple[NATS, JetStreamEventStore, list[bytes]],
) -> None:
    nc, store, raws = seeded
    seen: list[int] = []
    outstanding: list[int] = []
    async for chunk in store.replay_stored(chunk=50, window=100):
        seen += [m.seq for m in chunk]
        for info in await _consumers(nc):
            outstanding.append(info.num_ack_pending)
        await asyncio.sleep(0.01)
    assert seen == list(range(1, len(raws) + 1))
    assert outstanding and max(outstanding) <= 100


async def test_a_lost_delivery_resumes_after_the_last_event_taken(
    seeded: tuple[NATS, JetStreamEventStore, list[bytes]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client buffer smaller than the window makes nats-py drop deliveries (a slow consumer):
    the replay sees the hole in the delivery numbers and starts a new consumer."""
    _, store, raws = seeded
    subscribe = JetStreamContext.subscribe

    async def small_buffer(self: JetStreamContext, *args: Any, **kwargs: Any) -> Any:
        kwargs["pending_msgs_limit"] = 60
        return await subscribe(self, *args, **kwargs)

    monkeypatch.setattr(JetStreamContext, "subscribe", small_buffer)
    seen: list[int] = []
    with caplog.at_level(logging.WARNING, logger="libs.eventstore.replay"):
        async for chunk in store.replay_stored(chunk=50, window=300, stall_s=0.5):
            seen += [m.seq for m in chunk]
            await asyncio.sleep(0.02)
    assert seen == list(range(1, len(raws) + 1))
    assert "lost" in caplog.text


async def test_a_vanished_consumer_is_replaced(
    seeded: tuple[NATS, JetStreamEventStore, list[bytes]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    nc, store, raws = seeded
    seen: list[int] = []
    js = nc.jetstream()
    with caplog.at_level(logging.WARNING, logger="libs.eventstore.replay"):
        gen = store.replay_stored(chunk=50, window=100, stall_s=0.3)
        async for chunk in gen:
            seen += [m.seq for m in chunk]
            if len(seen) == 50:
                for info in await _consumers(nc):
                    await js.delete_consumer(EVENTS_STREAM, info.name)
    assert seen == list(range(1, len(raws) + 1))
    assert "the consumer is gone" in caplog.text


async def test_a_server_restart_mid_replay_resumes_after_the_last_event_taken(
    fresh_server: EmbeddedNats, caplog: pytest.LogCaptureFixture
) -> None:
    """The replay's consumer lives in the server's memory: a restart loses it, the replay sees
    it gone and carries on from the last event it handed over — nothing missed or repeated."""
    nc = await nats.connect(fresh_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        await bootstrap(nc)
        last = await publish_sealed(nc, seal_all(build_log(deployments=40, projects=3)))
        store = JetStreamEventStore(nc)
        seen: list[int] = []
        with caplog.at_level(logging.WARNING, logger="libs.eventstore.replay"):
            async for chunk in store.replay_stored(chunk=50, window=100, stall_s=0.5):
                seen += [m.seq for m in chunk]
                if len(seen) == 200:
                    fresh_server.stop()
                    await asyncio.sleep(0.5)
                    fresh_server.start()
        assert seen == list(range(1, last + 1))
        assert "the consumer is gone" in caplog.text
    finally:
        await nc.close()
