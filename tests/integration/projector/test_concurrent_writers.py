"""Two projector instances at once on PostgreSQL: the checkpoint row lock serialises them."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from libs.events import DeploymentType, fold_deployment
from services.projector.project import CheckpointMismatch, Projector, advance_checkpoint
from services.projector.queries import get_deployment
from services.projector.records import deployment_record
from tests.unit.projector.support import Db, FakeLog, image_run, requested


async def test_a_writer_blocked_behind_another_fails_once_the_other_commits(db: Db) -> None:
    log, did = FakeLog(), str(uuid.uuid4())
    log.deployment(did, requested(did, kind=DeploymentType.IMAGE))
    image_run(log, did)
    name = f"concurrent-{did}"
    first, rest = log.events[:1], log.events[1:]
    async with db.sessions() as session:
        await Projector(log.load, checkpoint=name).apply_batch(session, first)

    async def second_writer() -> int:
        async with db.sessions() as session:
            return await Projector(log.load, checkpoint=name).apply_batch(session, rest)

    async with db.sessions() as holder, holder.begin():
        # Another instance is mid-batch: it has moved the checkpoint but not committed yet.
        await advance_checkpoint(holder, name, rest[0].seq, rest[-1].seq)
        loser = asyncio.create_task(second_writer())
        await asyncio.sleep(0.5)
        assert not loser.done(), "the second writer must wait for the checkpoint row"
    with pytest.raises(CheckpointMismatch) as caught:
        await loser
    assert caught.value.actual == rest[-1].seq
    async with db.sessions() as session:
        record = await get_deployment(session, did)
    # Only the first event was ever written: the holder moved the checkpoint and nothing else.
    assert record == deployment_record(fold_deployment(first, did))
