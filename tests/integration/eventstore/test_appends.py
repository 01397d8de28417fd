from __future__ import annotations

import asyncio
import json

import pytest
from nats.aio.client import Client as NATS

from libs.events import catalog as ev
from libs.events.encoding import verify_chain
from libs.events.subjects import Aggregate
from libs.eventstore import (
    DuplicateBatch,
    JetStreamEventStore,
    PendingAppend,
    Repository,
    VersionConflict,
)
from tests.factories import dep_event, env_event, requested, uid


async def test_reappending_an_event_id_stores_nothing_and_returns_the_stored_seq(
    store: JetStreamEventStore,
) -> None:
    d = uid("d")
    env = dep_event(d, requested(d), cause="req-1")
    first = await store.append(env, expected_seq=0, prev_hash=None)
    again = await store.append(env, expected_seq=first.seq, prev_hash=None)
    assert again.duplicate and again.seq == first.seq
    assert len(await store.load(Aggregate.DEPLOYMENT, d)) == 1


async def test_create_once_aggregate_refuses_a_second_creation(store: JetStreamEventStore) -> None:
    d = uid("d")
    await store.append(dep_event(d, requested(d)), expected_seq=0, prev_hash=None)
    with pytest.raises(VersionConflict):
        await store.append(dep_event(d, requested(d)), expected_seq=0, prev_hash=None)


async def test_two_racing_appends_one_wins_and_the_other_reloads_and_decides_again(
    repo: Repository,
) -> None:
    d = uid("d")
    await repo.execute(Aggregate.DEPLOYMENT, d, lambda s: [dep_event(d, requested(d), cause="r")])
    a = await repo.load(Aggregate.DEPLOYMENT, d)
    b = await repo.load(Aggregate.DEPLOYMENT, d)
    pause = dep_event(d, ev.DeploymentPaused(by="a"), cause="p1")
    cancel = dep_event(d, ev.DeploymentCancelled(reason="x", by="b"), cause="c1")
    await repo.append(a, [pause])
    with pytest.raises(VersionConflict):
        await repo.append(b, [cancel])
    # The loser reloads and decides on fresh state: it sees the pause and still appends.
    loaded, appended = await repo.execute(Aggregate.DEPLOYMENT, d, lambda s: [cancel], loaded=b)
    assert len(appended) == 1 and loaded.count == 3


async def test_concurrent_executes_on_one_aggregate_all_get_recorded(repo: Repository) -> None:
    d = uid("d")
    await repo.execute(Aggregate.DEPLOYMENT, d, lambda s: [dep_event(d, requested(d), cause="r")])

    async def pause(i: int) -> None:
        env = dep_event(d, ev.DeploymentPaused(by=f"u{i}"), cause=f"p{i}")
        await repo.execute(Aggregate.DEPLOYMENT, d, lambda s: [env])

    await asyncio.gather(*(pause(i) for i in range(8)))
    events = await repo.store.load(Aggregate.DEPLOYMENT, d)
    assert len(events) == 9
    verify_chain((e.seq, e.raw) for e in events)


async def test_the_same_event_name_repeated_is_stored_every_time(repo: Repository) -> None:
    d = uid("d")
    loaded = await repo.load(Aggregate.DEPLOYMENT, d)
    await repo.append(loaded, [dep_event(d, requested(d), cause="r")])
    for i, data in enumerate(
        [ev.DeploymentPaused(by="u"), ev.DeploymentResumed(by="u"), ev.DeploymentPaused(by="u")]
    ):
        await repo.append(loaded, [dep_event(d, data, cause=f"cmd-{i}")])
    events = await repo.store.load(Aggregate.DEPLOYMENT, d)
    assert [e.envelope.type for e in events][1:] == [
        "DeploymentPaused",
        "DeploymentResumed",
        "DeploymentPaused",
    ]


async def test_two_environment_events_of_one_cause_about_two_deployments_are_both_stored(
    repo: Repository,
) -> None:
    e = uid("env")
    loaded = await repo.load(Aggregate.ENVIRONMENT, e)
    one = env_event(
        e, ev.DeploymentEnded(deployment_id="d1", outcome="cancelled"), cause="x", dep="d1"
    )
    two = env_event(
        e, ev.DeploymentEnded(deployment_id="d2", outcome="cancelled"), cause="x", dep="d2"
    )
    assert one.event_id != two.event_id
    await repo.append(loaded, [one, two])
    assert loaded.count == 2


async def test_atomic_batch_with_one_stale_version_stores_neither(
    store: JetStreamEventStore, repo: Repository
) -> None:
    d, e = uid("d"), uid("env")
    await store.append(dep_event(d, requested(d)), expected_seq=0, prev_hash=None)
    dep = await repo.load(Aggregate.DEPLOYMENT, d)
    before = await store.last_seq()
    batch = [
        PendingAppend(
            dep_event(d, ev.DeploymentAdmitted(deployment_id=d), cause="a"),
            dep.last_seq,
            dep.last_hash,
        ),
        PendingAppend(
            env_event(e, ev.DeploymentAdmitted(deployment_id=d), cause="a", dep=d), 5, None
        ),
    ]
    with pytest.raises(VersionConflict):
        await store.append_batch(batch)
    assert await store.last_seq() == before
    assert len(await store.load(Aggregate.ENVIRONMENT, e)) == 0


async def test_atomic_batch_is_stored_whole_and_a_replay_counts_as_duplicate(
    store: JetStreamEventStore, repo: Repository
) -> None:
    d, e = uid("d"), uid("env")
    await store.append(dep_event(d, requested(d)), expected_seq=0, prev_hash=None)
    dep = await repo.load(Aggregate.DEPLOYMENT, d)
    batch = [
        PendingAppend(
            dep_event(d, ev.DeploymentAdmitted(deployment_id=d), cause="a"),
            dep.last_seq,
            dep.last_hash,
        ),
        PendingAppend(
            env_event(e, ev.DeploymentAdmitted(deployment_id=d), cause="a", dep=d), 0, None
        ),
    ]
    stored = await store.append_batch(batch)
    assert stored[1].seq == stored[0].seq + 1
    with pytest.raises(DuplicateBatch):
        await store.append_batch(
            [
                PendingAppend(batch[0].envelope, stored[0].seq, stored[0].envelope.hash),
                PendingAppend(batch[1].envelope, stored[1].seq, stored[1].envelope.hash),
            ]
        )
    assert len(await store.load(Aggregate.ENVIRONMENT, e)) == 1


async def test_the_server_refuses_deleting_or_purging_an_event(
    nc: NATS, store: JetStreamEventStore
) -> None:
    d = uid("d")
    res = await store.append(dep_event(d, requested(d)), expected_seq=0, prev_hash=None)
    delete = await nc.request(
        "$JS.API.STREAM.MSG.DELETE.SLIPWAY_EVENTS", json.dumps({"seq": res.seq}).encode()
    )
    assert "not permitted" in json.loads(delete.data)["error"]["description"]
    purge = await nc.request("$JS.API.STREAM.PURGE.SLIPWAY_EVENTS", b"{}")
    assert "not permitted" in json.loads(purge.data)["error"]["description"]
    assert len(await store.load(Aggregate.DEPLOYMENT, d)) == 1
