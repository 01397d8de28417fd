"""FreshStates: an aggregate read again costs only the events appended since the last read."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client as NATS

from libs.events import catalog as ev
from libs.events.fold import Recorded
from libs.events.subjects import Aggregate
from libs.eventstore import FreshStates, JetStreamEventStore, Repository
from tests.factories import env_event, uid


class LeaderReads(JetStreamEventStore):
    """The real store, recording each read through the leader: (after_seq, events returned)."""

    def __init__(self, nc: NATS) -> None:
        super().__init__(nc)
        self.reads: list[tuple[int, int]] = []

    async def load_via_leader(
        self, aggregate: Aggregate, aggregate_id: str, *, after_seq: int = 0
    ) -> list[Recorded]:
        events = await super().load_via_leader(aggregate, aggregate_id, after_seq=after_seq)
        self.reads.append((after_seq, len(events)))
        return events


async def _configure(repo: Repository, env_id: str, branch: str) -> None:
    loaded = await repo.load(Aggregate.ENVIRONMENT, env_id, leader=True)
    project, _, name = env_id.partition("_")
    data = ev.EnvironmentConfigured(project=project, environment=name, branch=branch)
    await repo.append(loaded, [env_event(env_id, data, cause=uid("c"))])


async def test_a_second_read_fetches_only_what_was_appended_since(nc: NATS) -> None:
    store = LeaderReads(nc)
    repo = Repository(JetStreamEventStore(nc))
    env_id = f"{uid('p')}_production"
    for branch in ("main", "release", "main"):
        await _configure(repo, env_id, branch)
    fresh = FreshStates(Repository(store), Aggregate.ENVIRONMENT)

    first = await fresh.loaded(env_id)
    assert first.count == 3 and first.state.config.branch == "main"
    held = first.last_seq
    await _configure(repo, env_id, "hotfix")
    again = await fresh.loaded(env_id)
    assert again is first and again.count == 4 and again.state.config.branch == "hotfix"
    whole = await repo.load(Aggregate.ENVIRONMENT, env_id, leader=True)
    assert again.state == whole.state  # the same as folding everything afresh
    # The first read took the three events; the second asked only after the last one it held.
    [(after_first, n_first), (after_second, n_second)] = store.reads
    assert (after_first, n_first, after_second, n_second) == (0, 3, held, 1)


async def test_concurrent_reads_of_one_aggregate_load_it_once(nc: NATS) -> None:
    store = LeaderReads(nc)
    repo = Repository(JetStreamEventStore(nc))
    env_id = f"{uid('p')}_staging"
    await _configure(repo, env_id, "main")
    fresh = FreshStates(Repository(store), Aggregate.ENVIRONMENT)
    results: list[Any] = await asyncio.gather(*(fresh.loaded(env_id) for _ in range(5)))
    assert all(r is results[0] for r in results)
    assert store.reads[0] == (0, 1) and all(n == 0 for _, n in store.reads[1:])
