"""Helpers of the projector integration tests: seeding a log, running a projector, comparing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from nats.aio.client import Client as NATS
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from libs.events import Aggregate, Recorded, fold_deployment
from libs.events.envelope import Envelope
from libs.eventstore import Appended, JetStreamEventStore
from libs.records import deployment_record
from libs.settings import Settings
from services.projector import queries
from services.projector.project import read_checkpoint
from services.projector.runner import ProjectorRunner
from services.projector.schema import metadata
from tests.support.histories import build_log, publish_sealed, seal_all


def fast_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "lease_refresh_s": 0.3,
        "ack_wait_s": 1.0,
        "projector_fetch_wait_s": 0.2,
        "projector_standby_poll_s": 0.2,
        "projector_batch_size": 100,
        "projector_lag_log_s": 1.0,
        "min_seq_wait_s": 0.5,
    }
    values.update(overrides)
    return Settings(**values)


async def seed(nc: NATS, *, deployments: int = 40, seed: int = 1, projects: int = 3) -> int:
    """Publishes a realistic log; returns the stream's last sequence."""
    return await publish_sealed(
        nc, seal_all(build_log(deployments=deployments, seed=seed, projects=projects))
    )


async def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


async def checkpoint_of(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return await read_checkpoint(session)


@contextlib.asynccontextmanager
async def running(runner: ProjectorRunner) -> AsyncIterator[asyncio.Event]:
    """Runs the loop in a task; set the yielded event to stop it the way SIGTERM does."""
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 10)


async def all_events(store: JetStreamEventStore) -> list[Recorded]:
    return [e async for e in store.read_all()]


async def assert_projection_is_the_fold(
    store: JetStreamEventStore, sessions: async_sessionmaker[AsyncSession]
) -> int:
    """Every deployment's projected record equals the fold of its events; returns how many."""
    events = await all_events(store)
    by_id: dict[str, list[Recorded]] = {}
    for rec in events:
        if rec.envelope.aggregate is Aggregate.DEPLOYMENT:
            by_id.setdefault(rec.envelope.aggregate_id, []).append(rec)
    async with sessions() as session:
        assert await read_checkpoint(session) == events[-1].seq
        for did, recs in by_id.items():
            got = await queries.get_deployment(session, did)
            assert got == deployment_record(fold_deployment(recs, did)), did
        page = await queries.list_deployments(session, limit=200)
        assert len(page.items) == min(200, len(by_id))
    return len(by_id)


async def table_rows(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table, sorted: two models compare equal row for row."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = (await conn.execute(select(table))).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def append_all(store: JetStreamEventStore, envelopes: Sequence[Envelope]) -> list[Appended]:
    """Appends with the store's real, version-checked append, one event after the other."""
    last: dict[tuple[Aggregate, str], tuple[int, str | None]] = {}
    out = []
    for env in envelopes:
        key = (env.aggregate, env.aggregate_id)
        expected, prev_hash = last.get(key, (0, None))
        appended = await store.append(env, expected_seq=expected, prev_hash=prev_hash)
        last[key] = (appended.seq, appended.envelope.hash)
        out.append(appended)
    return out
