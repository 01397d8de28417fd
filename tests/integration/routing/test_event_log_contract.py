"""The reconciler's `EventLog` contract: JetStreamEventStore and the unit tests' MemoryLog."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from nats.aio.client import Client as NATS

from libs.events import catalog as ev
from libs.events.envelope import Envelope
from libs.events.fold import Recorded
from libs.events.subjects import EVENTS_ALL
from libs.eventstore import JetStreamEventStore
from services.routing.reconciler import EventLog
from tests.factories import env_event
from tests.unit.routing.fakes import MemoryLog


@dataclass
class Log:
    events: EventLog
    add: Callable[[Envelope], Awaitable[int]]


@pytest.fixture(params=["jetstream", "memory"])
def log(request: pytest.FixtureRequest) -> Log:
    if request.param == "memory":
        memory = MemoryLog()

        async def add_memory(env: Envelope) -> int:
            return memory.append(env)

        return Log(memory, add_memory)
    nc: NATS = request.getfixturevalue("rnc")
    store = JetStreamEventStore(nc)
    last: dict[str, tuple[int, str | None]] = {}

    async def add_real(env: Envelope) -> int:
        expected, prev = last.get(env.aggregate_id, (0, None))
        res = await store.append(env, expected_seq=expected, prev_hash=prev)
        last[env.aggregate_id] = (res.seq, res.envelope.hash)
        return res.seq

    return Log(store, add_real)


def switched(env_id: str, n: int) -> Envelope:
    return env_event(
        env_id, ev.TrafficSwitched(mode="deployment", deployment_id=f"d{n}", upstreams=())
    )


async def fill(log: Log, n: int) -> list[int]:
    return [await log.add(switched(f"proj_env{i % 3}", i)) for i in range(n)]


async def replayed(log: Log, **kwargs: int) -> list[list[Recorded]]:
    return [chunk async for chunk in log.events.replay(EVENTS_ALL, **kwargs)]


async def test_last_seq_is_the_last_stored_event(log: Log) -> None:
    assert await log.events.last_seq() == 0
    seqs = await fill(log, 5)
    assert seqs == [1, 2, 3, 4, 5]
    assert await log.events.last_seq() == 5


async def test_replay_hands_over_the_stored_events_in_order_in_chunks(log: Log) -> None:
    assert await replayed(log, until_seq=0) == []
    await fill(log, 8)
    chunks = await replayed(log, until_seq=6)
    assert all(isinstance(chunk, list) and chunk for chunk in chunks)
    records = [rec for chunk in chunks for rec in chunk]
    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r.envelope.data.deployment_id for r in records] == [f"d{i}" for i in range(6)]
    middle = [rec.seq for chunk in await replayed(log, from_seq=3, until_seq=7) for rec in chunk]
    assert middle == [3, 4, 5, 6, 7]
    everything = [rec.seq for chunk in await replayed(log) for rec in chunk]
    assert everything == list(range(1, 9))


async def test_follow_starts_at_a_sequence_and_goes_on_live(log: Log) -> None:
    await fill(log, 4)
    seen: list[int] = []
    got_stored, got_five = asyncio.Event(), asyncio.Event()

    async def follow() -> None:
        async for rec in log.events.follow(EVENTS_ALL, from_seq=3):
            seen.append(rec.seq)
            if rec.seq == 4:
                got_stored.set()
            if rec.seq == 5:
                got_five.set()

    task = asyncio.create_task(follow())
    try:
        async with asyncio.timeout(10):
            await got_stored.wait()
            assert await log.add(switched("proj_env9", 9)) == 5
            await got_five.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert seen == [3, 4, 5]
