"""Reads the query API answers from the event store itself: events, as-of states, fallbacks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.audit import export_record
from libs.events import Aggregate, DeploymentState, Recorded, decode, evolve
from libs.events.encoding import ChainBreak, EncodingError, verify_bytes, verify_chain
from libs.events.states import ENDED
from libs.events.subjects import aggregate_filter
from libs.eventstore import StoredMessage
from services.projector.ports import EventSource
from services.projector.project import DEFAULT_CHECKPOINT, read_checkpoint


async def aggregate_messages(
    events: EventSource, aggregate: Aggregate, aggregate_id: str, *, after_seq: int = 0
) -> list[StoredMessage]:
    return [
        m
        async for m in events.read_raw(
            aggregate_filter(aggregate, aggregate_id), from_seq=after_seq + 1
        )
    ]


def event_items(msgs: Sequence[StoredMessage]) -> dict[str, Any]:
    """An aggregate's stored events, each with `verified`: its bytes hash right and it links to
    the event before it. `verified` on the whole is `verify_chain` over the stored bytes."""
    items: list[dict[str, Any]] = []
    prev: str | None = None
    for msg in msgs:
        item = export_record(msg)
        try:
            stored = verify_bytes(msg.raw)
            item["verified"] = stored.get("prev_hash") == prev
        except EncodingError:
            item["verified"] = False
        prev = item["hash"]
        items.append(item)
    try:
        verify_chain((m.seq, m.raw) for m in msgs)
        problem = None
    except ChainBreak as exc:
        problem = str(exc)
    return {"items": items, "verified": problem is None, "problem": problem, "next_cursor": None}


def fold_messages(
    msgs: Sequence[StoredMessage],
    deployment_id: str,
    *,
    until_seq: int | None = None,
    as_of: datetime | None = None,
) -> DeploymentState | None:
    """The deployment folded up to a sequence, or up to the last event the server stored at or
    before `as_of`; None when it did not exist yet."""
    if as_of is not None:
        stamped = [m.seq for m in msgs if m.stored_at <= as_of]
        until_seq = max(stamped, default=0)
    state = None
    for msg in msgs:
        if until_seq is not None and msg.seq > until_seq:
            break
        rec = Recorded(msg.seq, msg.stored_at, msg.raw, decode(msg.raw))
        state = evolve(state or DeploymentState(id=deployment_id), rec)
    return state


def fold_recorded(events: Sequence[Recorded], deployment_id: str) -> DeploymentState | None:
    state = None
    for rec in events:
        state = evolve(state or DeploymentState(id=deployment_id), rec)
    return state


async def wait_for_checkpoint(
    sessions: async_sessionmaker[AsyncSession],
    min_seq: int,
    *,
    wait_s: float,
    poll_s: float = 0.02,
    name: str = DEFAULT_CHECKPOINT,
) -> bool:
    """True once the read model reached `min_seq`; False after `wait_s` (read your writes)."""
    deadline = time.monotonic() + wait_s
    while True:
        async with sessions() as session:
            if await read_checkpoint(session, name) >= min_seq:
                return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(poll_s)


class DeploymentWatch:
    """Folds one deployment from the store incrementally, to tell when it ended (live logs)."""

    def __init__(self, events: EventSource, deployment_id: str) -> None:
        self.events = events
        self.deployment_id = deployment_id
        self.state: DeploymentState | None = None

    async def refresh(self) -> DeploymentState | None:
        after = self.state.last_seq if self.state is not None else 0
        for msg in await aggregate_messages(
            self.events, Aggregate.DEPLOYMENT, self.deployment_id, after_seq=after
        ):
            rec = Recorded(msg.seq, msg.stored_at, msg.raw, decode(msg.raw))
            self.state = evolve(self.state or DeploymentState(id=self.deployment_id), rec)
        return self.state

    async def ended(self) -> bool:
        state = await self.refresh()
        return state is not None and state.status in ENDED
