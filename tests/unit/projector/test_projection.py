"""Projection edge cases that need no second dialect (SQLite)."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from libs.events import Aggregate, DeploymentType, Recorded, fold_deployment
from libs.events import catalog as ev
from services.projector.db import UnsupportedDatabase, make_engine, migrate_sync
from services.projector.project import BatchOutOfOrder, Projector, StaleHistory
from services.projector.queries import get_deployment, list_deployments
from services.projector.records import deployment_record
from services.projector.schema import Checkpoint, Deployment
from tests.unit.projector.support import Db, FakeLog, image_run, requested


async def test_a_batch_out_of_stream_order_is_refused(db: Db) -> None:
    log, did = FakeLog(), str(uuid.uuid4())
    log.deployment(did, requested(did))
    log.deployment(did, ev.DeploymentAdmitted(deployment_id=did))
    log.deployment(did, ev.DeploymentPaused(by="u"))
    projector = Projector(log.load)
    async with db.sessions() as session:
        with pytest.raises(BatchOutOfOrder):
            await projector.apply_batch(session, [log.events[0], log.events[2]])
    async with db.sessions() as session:
        with pytest.raises(BatchOutOfOrder):
            await projector.apply_batch(session, [log.events[1], log.events[0]])
        assert await session.get(Deployment, did) is None


async def test_a_history_that_lags_the_read_model_is_refused(db: Db) -> None:
    log, did = FakeLog(), str(uuid.uuid4())
    log.deployment(did, requested(did))
    log.deployment(did, ev.DeploymentAdmitted(deployment_id=did))
    async with db.sessions() as session:
        await Projector(log.load).apply_batch(session, log.events[:2])
    log.deployment(did, ev.DeploymentPaused(by="u"))

    async def lagging(aggregate: Aggregate, aggregate_id: str) -> list[Recorded]:
        return log.of(aggregate, aggregate_id)[:1]  # a replica that has not seen seq 2 yet

    async with db.sessions() as session:
        with pytest.raises(StaleHistory, match="ends at seq 1"):
            await Projector(lagging).apply_batch(session, log.events[2:])
    async with db.sessions() as session:
        assert await session.scalar(select(Checkpoint.seq)) == 2


async def test_evicted_states_are_rebuilt_from_their_events(db: Db) -> None:
    log = FakeLog()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for did in (first, second):
        log.deployment(did, requested(did, kind=DeploymentType.IMAGE))
    image_run(log, first)
    image_run(log, second)
    projector = Projector(log.load, cache_size=1)
    for rec in log.events:  # one event per batch: the two deployments keep evicting each other
        async with db.sessions() as session:
            await projector.apply_batch(session, [rec])
    assert log.loads > 0
    async with db.sessions() as session:
        for did in (first, second):
            expected = deployment_record(fold_deployment(log.of(Aggregate.DEPLOYMENT, did), did))
            assert await get_deployment(session, did) == expected


async def test_naive_timestamps_are_refused_before_they_reach_the_database(db: Db) -> None:
    async with db.sessions() as session:
        session.add(
            Deployment(
                id="x",
                type="git",
                status="pending",
                project="p",
                environment="e",
                created_at=datetime(2030, 1, 1),
                seq=1,
            )
        )
        with pytest.raises(Exception, match="naive datetime"):
            await session.commit()


@pytest.mark.parametrize("url", ["mysql://db/x", "postgresql://u@h/db", "sqlite:///x.db"])
def test_unsupported_database_urls_are_refused_with_a_hint(url: str) -> None:
    with pytest.raises(UnsupportedDatabase, match=r"postgresql\+asyncpg://"):
        make_engine(url)


def test_migrations_run_without_an_event_loop(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sync.db'}"
    migrate_sync(url)
    migrate_sync(url)
    assert (tmp_path / "sync.db").stat().st_size > 0


async def test_rows_without_a_stored_record_are_read_back_from_their_columns(db: Db) -> None:
    log, did = FakeLog(), str(uuid.uuid4())
    log.deployment(did, requested(did, kind=DeploymentType.IMAGE))
    image_run(log, did)
    async with db.sessions() as session:
        await Projector(log.load).apply_batch(session, log.events)
    async with db.sessions() as session, session.begin():
        await session.execute(update(Deployment).values(record=None))  # as before revision 0002
    expected = deployment_record(fold_deployment(log.events, did))
    async with db.sessions() as session:
        assert await get_deployment(session, did) == expected
        assert (await list_deployments(session)).items == [expected]
