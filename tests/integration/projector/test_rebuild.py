"""Rebuild: a fresh model from sequence 1, swapped in atomically while everything keeps running."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from nats.aio.client import Client as NATS
from sqlalchemy import text

from libs.eventstore import JetStreamEventStore
from services.projector import queries
from services.projector.db import make_engine, migrate, sessions
from services.projector.rebuild import RebuildInProgress, rebuild
from services.projector.runner import ProjectorRunner
from tests.integration.projector.helpers import (
    assert_projection_is_the_fold,
    fast_settings,
    running,
    seed,
    table_rows,
    wait_until,
)


async def test_a_rebuild_produces_tables_identical_to_the_live_projection(
    pnc: NATS, pstore: JetStreamEventStore, read_url: str
) -> None:
    await migrate(read_url)
    engine = make_engine(read_url)
    try:
        last = await seed(pnc, deployments=60)
        runner = ProjectorRunner(pnc, pstore, sessions(engine), fast_settings())
        await runner.read_checkpoint()
        await runner.catch_up()
        live = await table_rows(engine)
        assert len(live["deployments"]) == 60 and len(live["jobs"]) > 300
        report = await rebuild(read_url, pstore, batch_size=64)
        assert (report.events, report.checkpoint) == (last, last)
        # The same pool (connections that ran statements before the swap) sees the new model,
        # row for row what the live projection had.
        assert await table_rows(engine) == live
        fresh = make_engine(read_url)
        try:
            assert await table_rows(fresh) == live
        finally:
            await fresh.dispose()
        await assert_projection_is_the_fold(pstore, sessions(engine))
    finally:
        await engine.dispose()


async def test_a_rebuild_while_events_arrive_and_queries_run_loses_nothing(
    pnc: NATS, pstore: JetStreamEventStore, read_url: str
) -> None:
    await migrate(read_url)
    engine = make_engine(read_url)
    read = sessions(engine)
    answered, errors = 0, []
    try:
        await seed(pnc, deployments=80, seed=1)
        runner = ProjectorRunner(pnc, pstore, read, fast_settings())
        async with running(runner):
            await wait_until(lambda: runner.checkpoint > 0, what="projector started")

            async def publish() -> None:
                for n in range(2, 12):
                    await seed(pnc, deployments=6, seed=n)
                    await asyncio.sleep(0.05)

            async def query() -> None:
                nonlocal answered
                while True:
                    try:
                        async with read() as session:
                            page = await queries.list_deployments(session, limit=20)
                            for item in page.items[:3]:
                                assert await queries.get_deployment(session, item["id"])
                        answered += 1
                    except AssertionError:
                        raise
                    except Exception as exc:
                        errors.append(exc)
                    await asyncio.sleep(0.005)

            publisher = asyncio.create_task(publish())
            reader = asyncio.create_task(query())
            report = await rebuild(read_url, pstore, batch_size=50)
            await publisher
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            last = await pstore.last_seq()
            await wait_until(lambda: runner.checkpoint >= last, what="the projector catches up")
        assert report.checkpoint > 0
        assert errors == [] and answered > 10
        await assert_projection_is_the_fold(pstore, read)
    finally:
        await engine.dispose()


async def test_a_second_rebuild_of_the_same_database_is_refused(
    pstore: JetStreamEventStore, postgres_database: str
) -> None:
    await migrate(postgres_database)
    engine = make_engine(postgres_database)
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text("SELECT pg_advisory_lock(:k)"), {"k": 0x5C1F_3A7E_0B11_D000 >> 1}
            )
            with pytest.raises(RebuildInProgress):
                await rebuild(postgres_database, pstore)
    finally:
        await engine.dispose()
