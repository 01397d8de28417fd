from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from libs.events import catalog as ev
from libs.events.encoding import verify_chain
from libs.events.fold import Recorded
from libs.events.subjects import Aggregate, aggregate_filter
from libs.eventstore import Appended, JetStreamEventStore, Repository, StaleRead
from tests.factories import dep_event, requested, uid


async def _history(store: JetStreamEventStore, dep_id: str, n: int) -> list[Appended]:
    """A deployment with `n` events: the request, then pauses and resumes, each version-checked."""
    out = [await store.append(dep_event(dep_id, requested(dep_id)), expected_seq=0, prev_hash=None)]
    for i in range(1, n):
        data = ev.DeploymentPaused(by="u") if i % 2 else ev.DeploymentResumed(by="u")
        prev = out[-1]
        out.append(
            await store.append(
                dep_event(dep_id, data, cause=f"cmd-{i}"),
                expected_seq=prev.seq,
                prev_hash=prev.envelope.hash,
            )
        )
    return out


class CountingStore(JetStreamEventStore):
    """The real store, counting the events it reads from the server."""

    fetched = 0

    async def read_subjects(
        self, subject_filter: str, **kwargs: Any
    ) -> AsyncGenerator[Recorded, None]:
        async for rec in super().read_subjects(subject_filter, **kwargs):
            self.fetched += 1
            yield rec


async def test_load_returns_forty_events_in_order_with_their_stored_bytes_and_a_valid_chain(
    store: JetStreamEventStore,
) -> None:
    d = uid("d")
    appended = await _history(store, d, 40)
    events = await store.load(Aggregate.DEPLOYMENT, d)
    assert [e.seq for e in events] == [a.seq for a in appended]
    assert [e.envelope.event_id for e in events] == [a.envelope.event_id for a in appended]
    assert [e.envelope.hash for e in events] == [a.envelope.hash for a in appended]
    assert all(e.stored_at.tzinfo is not None for e in events)
    assert [e.stored_at for e in events] == sorted(e.stored_at for e in events)
    assert all(e.raw.startswith(b"{") for e in events)
    assert verify_chain((e.seq, e.raw) for e in events) == 40


async def test_load_after_a_sequence_returns_only_newer_events(store: JetStreamEventStore) -> None:
    d = uid("d")
    appended = await _history(store, d, 10)
    newer = await store.load(Aggregate.DEPLOYMENT, d, after_seq=appended[6].seq)
    assert [e.seq for e in newer] == [a.seq for a in appended[7:]]
    assert await store.load(Aggregate.DEPLOYMENT, d, after_seq=appended[-1].seq) == []


async def test_refresh_fetches_only_the_events_after_the_held_sequence(nc: NATS) -> None:
    store = CountingStore(nc)
    repo = Repository(store)
    d = uid("d")
    await _history(store, d, 12)
    loaded = await repo.load(Aggregate.DEPLOYMENT, d)
    assert store.fetched == 12
    for i in range(3):
        env = dep_event(d, ev.DeploymentPaused(by="other"), cause=f"later-{i}")
        prev = (await store.load(Aggregate.DEPLOYMENT, d))[-1]
        await store.append(env, expected_seq=prev.seq, prev_hash=prev.envelope.hash)
    store.fetched = 0
    await repo.refresh(loaded)
    assert store.fetched == 3
    assert loaded.count == 15
    store.fetched = 0
    await repo.refresh(loaded)
    assert store.fetched == 0 and loaded.count == 15


async def test_load_that_cannot_reach_the_required_sequence_raises_stale_read(
    nc: NATS,
) -> None:
    store = JetStreamEventStore(nc, stale_retry_s=0.01, stale_budget_s=0.05)
    d = uid("d")
    appended = await _history(store, d, 3)
    assert len(await store.load(Aggregate.DEPLOYMENT, d, min_seq=appended[-1].seq)) == 3
    with pytest.raises(StaleRead, match=d):
        await store.load(Aggregate.DEPLOYMENT, d, min_seq=appended[-1].seq + 1_000)


async def test_read_all_from_a_sequence_starts_there(store: JetStreamEventStore) -> None:
    d = uid("d")
    appended = await _history(store, d, 5)
    got = [r async for r in store.read_all(from_seq=appended[2].seq)]
    assert [r.seq for r in got][:3] == [a.seq for a in appended[2:]]
    assert got[0].envelope.event_id == appended[2].envelope.event_id


async def test_read_all_from_a_server_time_returns_events_stored_at_or_after_it(
    store: JetStreamEventStore,
) -> None:
    d = uid("d")
    appended = await _history(store, d, 6)
    stored = await store.load(Aggregate.DEPLOYMENT, d)
    got = [r async for r in store.read_all(start_time=stored[3].stored_at)]
    assert [r.seq for r in got][:3] == [a.seq for a in appended[3:]]
    assert all(r.stored_at >= stored[3].stored_at for r in got)


async def test_read_all_refuses_a_start_time_without_a_timezone(
    store: JetStreamEventStore,
) -> None:
    with pytest.raises(ValueError, match="timezone"):
        [r async for r in store.read_all(start_time=datetime(2024, 1, 1))]


async def test_read_all_until_a_sequence_stops_after_it(store: JetStreamEventStore) -> None:
    d = uid("d")
    appended = await _history(store, d, 8)
    got = [r async for r in store.read_all(from_seq=appended[1].seq, until_seq=appended[4].seq)]
    assert [r.seq for r in got] == [a.seq for a in appended[1:5]]
    assert [r async for r in store.read_all(from_seq=appended[4].seq + 1, until_seq=1)] == []


async def test_read_all_pages_through_more_events_than_one_batch(
    store: JetStreamEventStore,
) -> None:
    d = uid("d")
    appended = await _history(store, d, 30)
    got = [r async for r in store.read_subjects(aggregate_filter(Aggregate.DEPLOYMENT, d), batch=7)]
    assert [r.seq for r in got] == [a.seq for a in appended]


async def test_follow_yields_history_then_events_appended_after_it_started(
    store: JetStreamEventStore,
) -> None:
    d = uid("d")
    appended = await _history(store, d, 3)
    stream = store.follow(aggregate_filter(Aggregate.DEPLOYMENT, d))
    try:
        seen = [await asyncio.wait_for(anext(stream), 5) for _ in range(3)]
        assert [r.seq for r in seen] == [a.seq for a in appended]
        last = appended[-1]
        live = [
            await store.append(
                dep_event(d, ev.DeploymentCancelled(reason="x", by="u"), cause="live"),
                expected_seq=last.seq,
                prev_hash=last.envelope.hash,
            )
        ]
        seen += [await asyncio.wait_for(anext(stream), 5)]
        assert seen[-1].seq == live[0].seq
        assert seen == await store.load(Aggregate.DEPLOYMENT, d)
    finally:
        await stream.aclose()


async def test_load_through_the_stream_leader_equals_the_direct_load(
    store: JetStreamEventStore,
) -> None:
    d = uid("d")
    await _history(store, d, 7)
    assert await store.load_via_leader(Aggregate.DEPLOYMENT, d) == await store.load(
        Aggregate.DEPLOYMENT, d
    )
    assert await store.load_via_leader(Aggregate.DEPLOYMENT, uid("none")) == []


async def test_repository_load_through_the_leader_folds_the_same_state(repo: Repository) -> None:
    d = uid("d")
    await _history(repo.store, d, 5)
    direct = await repo.load(Aggregate.DEPLOYMENT, d)
    leader = await repo.load(Aggregate.DEPLOYMENT, d, leader=True)
    assert (leader.state, leader.last_seq, leader.last_hash, leader.ids) == (
        direct.state,
        direct.last_seq,
        direct.last_hash,
        direct.ids,
    )


async def test_the_leader_counts_an_aggregates_events_across_its_subjects(
    store: JetStreamEventStore, repo: Repository
) -> None:
    d = uid("d")
    assert await store.count_via_leader(Aggregate.DEPLOYMENT, d) == 0
    await repo.execute(Aggregate.DEPLOYMENT, d, lambda s: [dep_event(d, requested(d), cause="r")])
    for i in range(3):
        pause = dep_event(d, ev.DeploymentPaused(by=f"u{i}"), cause=f"p{i}")
        await repo.execute(Aggregate.DEPLOYMENT, d, lambda s, pause=pause: [pause])
    other = uid("d")
    await repo.execute(
        Aggregate.DEPLOYMENT, other, lambda s: [dep_event(other, requested(other), cause="r")]
    )
    assert await store.count_via_leader(Aggregate.DEPLOYMENT, d) == 4
    assert await store.count_via_leader(Aggregate.DEPLOYMENT, other) == 1
