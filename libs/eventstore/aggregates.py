"""Loading aggregates into folded state and deciding-then-appending with the rules of §2 and §5."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from libs.events.envelope import Envelope
from libs.events.fold import Recorded, evolve, initial_state
from libs.events.states import DeploymentState, EnvironmentState, ProjectState
from libs.events.subjects import Aggregate
from libs.eventstore.errors import EventStoreError, VersionConflict
from libs.eventstore.store import Appended, JetStreamEventStore

S = TypeVar("S", DeploymentState, EnvironmentState, ProjectState)


class TooManyConflicts(EventStoreError):
    pass


@dataclass
class Loaded(Generic[S]):
    """An aggregate's folded state plus what the append rules need: ids, last seq, last hash."""

    aggregate: Aggregate
    aggregate_id: str
    state: S
    ids: set[str] = field(default_factory=set)
    last_seq: int = 0  # stream sequence of the aggregate's last event (0: none yet)
    last_hash: str | None = None
    count: int = 0

    @property
    def exists(self) -> bool:
        return self.count > 0

    def apply(self, events: Sequence[Recorded]) -> None:
        for rec in events:
            if rec.seq <= self.last_seq:
                continue
            self.state = evolve(self.state, rec)
            self.ids.add(rec.envelope.event_id)
            self.last_seq = rec.seq
            self.last_hash = rec.envelope.hash
            self.count += 1

    def applied(self, appended: Appended) -> None:
        rec = Recorded(
            seq=appended.seq,
            stored_at=appended.envelope.occurred_at,
            raw=b"",
            envelope=appended.envelope,
        )
        self.apply([rec])


Decide = Callable[[S], Sequence[Envelope]]


class Repository:
    """Reads and writes aggregates through the event store."""

    def __init__(self, store: JetStreamEventStore) -> None:
        self.store = store

    async def load(
        self, aggregate: Aggregate, aggregate_id: str, *, min_seq: int = 0, leader: bool = False
    ) -> Loaded[Any]:
        loaded: Loaded[Any] = Loaded(
            aggregate, aggregate_id, initial_state(aggregate, aggregate_id)
        )
        if leader:
            events = await self.store.load_via_leader(aggregate, aggregate_id)
        else:
            events = await self.store.load(aggregate, aggregate_id, min_seq=min_seq)
        loaded.apply(events)
        return loaded

    async def refresh(
        self, loaded: Loaded[S], *, min_seq: int = 0, leader: bool = False
    ) -> Loaded[S]:
        """Incremental: fetch only the events after the sequence already folded."""
        if leader:
            events = await self.store.load_via_leader(
                loaded.aggregate, loaded.aggregate_id, after_seq=loaded.last_seq
            )
        else:
            events = await self.store.load(
                loaded.aggregate, loaded.aggregate_id, after_seq=loaded.last_seq, min_seq=min_seq
            )
        loaded.apply(events)
        return loaded

    async def append(self, loaded: Loaded[S], envelopes: Sequence[Envelope]) -> list[Appended]:
        """Appends events to one aggregate in order, each under the version check.

        Events whose id is already stored are skipped (that is success). Raises VersionConflict
        when the aggregate moved on; `loaded` is then stale and must be refreshed.
        """
        out = []
        for env in envelopes:
            if env.event_id in loaded.ids:
                continue
            if (env.aggregate, env.aggregate_id) != (loaded.aggregate, loaded.aggregate_id):
                raise ValueError("event for another aggregate")
            res = await self.store.append(
                env, expected_seq=loaded.last_seq, prev_hash=loaded.last_hash
            )
            if res.duplicate:
                # Stored before, by us or a twin: reload before anything else.
                await self.refresh(loaded)
                continue
            loaded.applied(res)
            out.append(res)
        return out

    async def execute(
        self,
        aggregate: Aggregate,
        aggregate_id: str,
        decide: Callable[[S], Sequence[Envelope]],
        *,
        min_seq: int = 0,
        loaded: Loaded[S] | None = None,
        max_attempts: int = 50,
    ) -> tuple[Loaded[S], list[Appended]]:
        """Load, decide on the state, append; on a conflict reload and decide again (§5 rule 5).

        `decide` returns the events to append (possibly none). Because event ids are
        deterministic, an event already stored by an earlier try is recognised and skipped.
        """
        if loaded is None:
            loaded = await self.load(aggregate, aggregate_id, min_seq=min_seq)
        else:
            await self.refresh(loaded, min_seq=min_seq)
        appended: list[Appended] = []
        for _ in range(max_attempts):
            envelopes = [e for e in decide(loaded.state) if e.event_id not in loaded.ids]
            if not envelopes:
                return loaded, appended
            try:
                appended += await self.append(loaded, envelopes)
                return loaded, appended
            except VersionConflict:
                await self.refresh(loaded)
        raise TooManyConflicts(f"{aggregate.value} {aggregate_id}: gave up after conflicts")


def copy_loaded(loaded: Loaded[S]) -> Loaded[S]:
    return dataclasses.replace(loaded, ids=set(loaded.ids))


class FreshStates:
    """Aggregates of one kind, held folded and brought up to date on every read with only the
    events after the last one folded (through the stream leader) — not the whole history each
    time: an environment gains a few events with every deployment, for ever."""

    def __init__(self, repo: Repository, aggregate: Aggregate) -> None:
        self.repo = repo
        self.aggregate = aggregate
        self._held: dict[str, Loaded[Any]] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def loaded(self, aggregate_id: str) -> Loaded[Any]:
        """The aggregate as it is now; the same `Loaded` every time (callers that append to it
        serialise themselves, as one would around any decide-then-append)."""
        async with self._locks[aggregate_id]:
            held = self._held.get(aggregate_id)
            if held is None:
                held = await self.repo.load(self.aggregate, aggregate_id, leader=True)
                self._held[aggregate_id] = held
            else:
                await self.repo.refresh(held, leader=True)
            return held
