"""Group commit: queued appends go to the server as one atomic batch, each with its own answer."""

from __future__ import annotations

import asyncio

import nats
from nats.aio.client import Client as NATS

from libs.events import catalog as ev
from libs.events.subjects import Aggregate
from libs.eventstore import Appended, JetStreamEventStore, VersionConflict, bootstrap
from tests.factories import dep_event, requested, uid


async def test_concurrent_appends_are_committed_together_with_their_exact_sequences(
    nc: NATS,
) -> None:
    store = JetStreamEventStore(nc, group_commit_after=1)
    ids = [uid("d") for _ in range(40)]
    results = await asyncio.gather(
        *(store.append(dep_event(d, requested(d)), expected_seq=0, prev_hash=None) for d in ids)
    )
    assert store.group_commits >= 1
    assert len({r.seq for r in results}) == len(ids)
    for d, res in zip(ids, results, strict=True):
        [stored] = await store.load(Aggregate.DEPLOYMENT, d)
        assert (stored.seq, stored.envelope.event_id) == (res.seq, res.envelope.event_id)
        assert not res.duplicate


async def test_a_refused_batch_gives_every_append_the_answer_it_would_have_had_alone(
    nc: NATS,
) -> None:
    store = JetStreamEventStore(nc, group_commit_after=0)  # every append queues
    existing, fresh1, fresh2 = uid("d"), uid("d"), uid("d")
    stored_event = dep_event(existing, requested(existing), cause="first")
    first = await store.append(stored_event, expected_seq=0, prev_hash=None)
    stale = dep_event(existing, ev.DeploymentPaused(by="late"), cause="stale")
    results = await asyncio.gather(
        store.append(dep_event(fresh1, requested(fresh1)), expected_seq=0, prev_hash=None),
        store.append(stale, expected_seq=0, prev_hash=None),  # the aggregate is at first.seq
        store.append(dep_event(fresh2, requested(fresh2)), expected_seq=0, prev_hash=None),
        return_exceptions=True,
    )
    ok1, conflict, ok2 = results
    assert isinstance(conflict, VersionConflict)
    assert isinstance(ok1, Appended) and isinstance(ok2, Appended)
    assert [e.seq for e in await store.load(Aggregate.DEPLOYMENT, fresh1)] == [ok1.seq]
    assert [e.seq for e in await store.load(Aggregate.DEPLOYMENT, fresh2)] == [ok2.seq]
    assert [e.seq for e in await store.load(Aggregate.DEPLOYMENT, existing)] == [first.seq]

    # A stored id among queued appends: that one is a duplicate, the others are stored.
    fresh3 = uid("d")
    again, ok3 = await asyncio.gather(
        store.append(stored_event, expected_seq=first.seq, prev_hash=None),
        store.append(dep_event(fresh3, requested(fresh3)), expected_seq=0, prev_hash=None),
    )
    assert again.duplicate and again.seq == first.seq
    assert not ok3.duplicate
    assert [e.seq for e in await store.load(Aggregate.DEPLOYMENT, fresh3)] == [ok3.seq]


async def test_two_queued_appends_to_one_aggregate_never_share_a_batch(nc: NATS) -> None:
    store = JetStreamEventStore(nc, group_commit_after=0)
    d, other = uid("d"), uid("d")
    racing = [dep_event(d, requested(d), cause=f"r{i}") for i in range(2)]
    results = await asyncio.gather(
        *(store.append(e, expected_seq=0, prev_hash=None) for e in racing),
        store.append(dep_event(other, requested(other)), expected_seq=0, prev_hash=None),
        return_exceptions=True,
    )
    won = [r for r in results[:2] if isinstance(r, Appended)]
    lost = [r for r in results[:2] if isinstance(r, VersionConflict)]
    assert len(won) == 1 and len(lost) == 1  # create-once: exactly one of the two
    assert isinstance(results[2], Appended)
    [stored] = await store.load(Aggregate.DEPLOYMENT, d)
    assert stored.seq == won[0].seq


async def test_group_commit_off_sends_every_append_alone(nc: NATS) -> None:
    store = JetStreamEventStore(nc, group_commit_after=None)
    ids = [uid("d") for _ in range(10)]
    await asyncio.gather(
        *(store.append(dep_event(d, requested(d)), expected_seq=0, prev_hash=None) for d in ids)
    )
    assert store.group_commits == 0
    for d in ids:
        assert len(await store.load(Aggregate.DEPLOYMENT, d)) == 1


async def test_queued_appends_never_hang_when_the_connection_closes(nats_url: str) -> None:
    conn = await nats.connect(nats_url)
    await bootstrap(conn)
    store = JetStreamEventStore(conn, group_commit_after=0)
    ids = [uid("d") for _ in range(20)]
    tasks = [
        asyncio.create_task(
            store.append(dep_event(d, requested(d)), expected_seq=0, prev_hash=None)
        )
        for d in ids
    ]
    await asyncio.sleep(0)  # all queued, the committer not yet run
    await conn.close()
    async with asyncio.timeout(10):
        results = await asyncio.gather(*tasks, return_exceptions=True)
    # Each one either went through before the close or says it did not: none is left waiting.
    assert all(isinstance(r, (Appended, Exception)) for r in results)
