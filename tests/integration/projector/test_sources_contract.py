"""One contract for the query API's ports, run against the JetStream adapters and the fakes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from nats.aio.client import Client as NATS

from libs.events import Aggregate, new_event
from libs.events import catalog as ev
from libs.events.envelope import Envelope
from libs.events.subjects import aggregate_filter, job_log_subject
from libs.eventstore import JetStreamEventStore
from services.projector.adapters.logs import JetStreamLogSource
from services.projector.ports import EventSource, LogSource
from tests.unit.projector.fakes import FakeEventSource, FakeLogSource


@dataclass
class Events:
    source: EventSource
    add: Callable[[Envelope], Awaitable[int]]


@dataclass
class Logs:
    source: LogSource
    publish: Callable[[str, bytes], Awaitable[None]]


@pytest.fixture(params=["jetstream", "fake"])
def events(request: pytest.FixtureRequest) -> Events:
    if request.param == "fake":
        fake = FakeEventSource()

        async def add_fake(env: Envelope) -> int:
            return fake.append(env).seq

        return Events(fake, add_fake)
    store: JetStreamEventStore = request.getfixturevalue("pstore")
    last: dict[tuple[Aggregate, str], tuple[int, str | None]] = {}

    async def add_real(env: Envelope) -> int:
        expected, prev = last.get((env.aggregate, env.aggregate_id), (0, None))
        res = await store.append(env, expected_seq=expected, prev_hash=prev)
        last[(env.aggregate, env.aggregate_id)] = (res.seq, res.envelope.hash)
        return res.seq

    return Events(store, add_real)


@pytest.fixture(params=["jetstream", "fake"])
def logs(request: pytest.FixtureRequest) -> Logs:
    if request.param == "fake":
        fake = FakeLogSource()
        return Logs(fake, fake.publish)
    nc: NATS = request.getfixturevalue("pnc")

    async def publish(subject: str, data: bytes) -> None:
        await nc.jetstream().publish(subject, data)

    return Logs(JetStreamLogSource(nc), publish)


def paused(did: str) -> Envelope:
    return new_event(
        ev.DeploymentPaused(by="t"),
        aggregate=Aggregate.DEPLOYMENT,
        aggregate_id=did,
        causation_id=uuid.uuid4().hex,
        actor="t",
    )


async def test_an_event_source_reads_one_aggregate_in_stream_order(events: Events) -> None:
    a, b = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    seqs = {a: [], b: []}  # type: dict[str, list[int]]
    for did in (a, b, a, a, b):
        seqs[did].append(await events.add(paused(did)))
    got = [m async for m in events.source.read_raw(aggregate_filter(Aggregate.DEPLOYMENT, a))]
    assert [m.seq for m in got] == seqs[a]
    assert all(m.subject.startswith(f"events.deployment.{a}.") for m in got)
    later = events.source.read_raw(aggregate_filter(Aggregate.DEPLOYMENT, a), from_seq=seqs[a][1])
    assert [m.seq async for m in later] == seqs[a][1:]
    since = events.source.read_raw(
        aggregate_filter(Aggregate.DEPLOYMENT, a), start_time=got[1].stored_at
    )
    assert [m.seq async for m in since] == seqs[a][1:]
    assert got[0].stored_at <= got[1].stored_at
    assert await events.source.last_seq() == max(seqs[a] + seqs[b])
    loaded = await events.source.load_via_leader(Aggregate.DEPLOYMENT, b)
    assert [r.seq for r in loaded] == seqs[b]
    assert [r.raw for r in loaded] == [
        m.raw async for m in events.source.read_raw(aggregate_filter(Aggregate.DEPLOYMENT, b))
    ]
    after = await events.source.load_via_leader(Aggregate.DEPLOYMENT, b, after_seq=seqs[b][0])
    assert [r.seq for r in after] == seqs[b][1:]
    before_all = got[0].stored_at - timedelta(days=1)
    assert len([m async for m in events.source.read_raw("events.>", start_time=before_all)]) >= 5


async def test_a_log_source_gives_one_deployment_s_history_then_its_live_lines(logs: Logs) -> None:
    did, other = f"d{uuid.uuid4().hex[:8]}", f"o{uuid.uuid4().hex[:8]}"
    await logs.publish(job_log_subject(did, "build"), b'{"line":"one"}\n')
    await logs.publish(job_log_subject(other, "build"), b'{"line":"not mine"}\n')
    await logs.publish(job_log_subject(did, "deploy"), b'{"line":"two"}\n')
    history = [m async for m in logs.source.history(did)]
    assert [m.raw for m in history] == [b'{"line":"one"}\n', b'{"line":"two"}\n']
    assert history[0].seq < history[1].seq
    assert [m.raw async for m in logs.source.history(did, after_seq=history[0].seq)] == [
        b'{"line":"two"}\n'
    ]
    live = logs.source.follow(did, after_seq=history[0].seq)
    assert (await asyncio.wait_for(anext(live), 5)).raw == b'{"line":"two"}\n'
    pending = asyncio.ensure_future(anext(live))
    await asyncio.sleep(0.1)
    assert not pending.done()
    await logs.publish(job_log_subject(other, "build"), b'{"line":"still not mine"}\n')
    await logs.publish(job_log_subject(did, "deploy"), b'{"line":"three"}\n')
    assert (await asyncio.wait_for(pending, 5)).raw == b'{"line":"three"}\n'
    await live.aclose()  # type: ignore[attr-defined]
