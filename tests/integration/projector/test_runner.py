"""The projector loop against real NATS and a real database (PostgreSQL and SQLite)."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from libs.events import Recorded
from libs.events.subjects import EVENTS_STREAM, PROJECTOR_CONSUMER
from libs.eventstore import BootstrapOptions, JetStreamEventStore, bootstrap
from libs.infra import EmbeddedNats
from services.projector.db import make_engine, migrate, sessions
from services.projector.project import Projector
from services.projector.runner import ProjectorRunner
from tests.integration.projector.helpers import (
    assert_projection_is_the_fold,
    checkpoint_of,
    fast_settings,
    running,
    seed,
    wait_until,
)


class SimulatedCrash(BaseException):
    """The process dies: not an error the loop may catch and retry."""


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every sequence any projector in this test applied, in order."""
    seqs: list[int] = []
    real = Projector._apply

    async def spy(self: Projector, session: Any, rec: Recorded, staged: Any) -> None:
        seqs.append(rec.seq)
        await real(self, session, rec, staged)

    monkeypatch.setattr(Projector, "_apply", spy)
    return seqs


async def test_a_crash_between_commit_and_ack_applies_nothing_twice(
    pnc: NATS, pstore: JetStreamEventStore, read_url: str, applied: list[int]
) -> None:
    await migrate(read_url)
    engine = make_engine(read_url)
    settings = fast_settings()
    try:
        first_part = await seed(pnc, deployments=20, seed=1)
        crashing = ProjectorRunner(pnc, pstore, sessions(engine), settings)
        acks = 0

        async def die_before_ack(msgs: list[Any]) -> None:
            nonlocal acks
            acks += 1
            raise SimulatedCrash

        stop = asyncio.Event()
        task = asyncio.create_task(crashing.run(stop))
        await wait_until(lambda: crashing.checkpoint >= first_part, what="first catch-up")
        crashing.ack = die_before_ack  # type: ignore[method-assign]
        last = await seed(pnc, deployments=20, seed=2)
        with pytest.raises(SimulatedCrash):
            await asyncio.wait_for(task, 20)
        assert acks == 1
        committed = await checkpoint_of(sessions(engine))
        assert first_part < committed  # the batch was committed, its messages never acked

        restarted = ProjectorRunner(pnc, pstore, sessions(engine), settings)
        acked: list[tuple[int, int]] = []  # (stream seq, delivery count)
        real_ack = restarted.ack

        async def record_acks(msgs: list[Any]) -> None:
            acked.extend((m.metadata.sequence.stream, m.metadata.num_delivered) for m in msgs)
            await real_ack(msgs)

        restarted.ack = record_acks  # type: ignore[method-assign]
        async with running(restarted):
            await wait_until(lambda: restarted.checkpoint >= last, what="catch-up after crash")
            js = pnc.jetstream()

            async def all_acked() -> bool:
                info = await js.consumer_info(EVENTS_STREAM, PROJECTOR_CONSUMER)
                return bool(info.num_ack_pending == 0 and info.ack_floor.stream_seq == last)

            await wait_until(all_acked, what="every delivery acked")
        # The crashed batch came back (delivered twice) and was acked without being applied.
        # (Deliveries the dead instance had received past it come back too: skipped the same way.)
        redelivered = {seq for seq, count in acked if count > 1}
        assert {seq for seq in redelivered if seq <= committed}
        assert collections.Counter(applied).most_common(1)[0][1] == 1
        assert sorted(applied) == list(range(1, last + 1))
        await assert_projection_is_the_fold(pstore, sessions(engine))
    finally:
        await engine.dispose()


async def _messages(pnc: NATS, first: int, count: int) -> list[Any]:
    """Real deliveries of seq first..first+count-1 from a consumer of their own."""
    js = pnc.jetstream()
    psub = await js.pull_subscribe(
        "events.>",
        durable=None,
        stream=EVENTS_STREAM,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=first,
            ack_policy=AckPolicy.EXPLICIT,
        ),
    )
    msgs = await psub.fetch(count, timeout=5)
    assert [m.metadata.sequence.stream for m in msgs] == list(range(first, first + count))
    return msgs


async def test_a_fetched_batch_after_a_gap_is_filled_from_the_store(
    pnc: NATS, pstore: JetStreamEventStore, read_url: str, applied: list[int]
) -> None:
    await migrate(read_url)
    engine = make_engine(read_url)
    try:
        last = await seed(pnc, deployments=10)
        runner = ProjectorRunner(pnc, pstore, sessions(engine), fast_settings())
        await runner.read_checkpoint()
        await runner.catch_up(until_seq=50)
        # Deliveries of 61..70 arrive while 51..60 went to an instance that died.
        await runner.handle(await _messages(pnc, 61, 10))
        assert runner.checkpoint == 70
        assert applied == list(range(1, 71))
        # A redelivery of what is already applied is acked and skipped.
        await runner.handle(await _messages(pnc, 55, 10))
        assert applied == list(range(1, 71))
        await runner.catch_up()
        assert runner.checkpoint == last
        await assert_projection_is_the_fold(pstore, sessions(engine))
    finally:
        await engine.dispose()


async def test_a_second_instance_stands_by_and_takes_over_when_the_first_stops(
    pnc: NATS, pstore: JetStreamEventStore, read_url: str, applied: list[int]
) -> None:
    await migrate(read_url)
    engine = make_engine(read_url)
    settings = fast_settings()
    try:
        await seed(pnc, deployments=5)
        first = ProjectorRunner(pnc, pstore, sessions(engine), settings, holder="first")
        second = ProjectorRunner(pnc, pstore, sessions(engine), settings, holder="second")
        async with running(first) as stop_first:
            await wait_until(lambda: first.role == "active", what="first active")
            async with running(second):
                await wait_until(lambda: second.role == "standby", what="second standby")
                await asyncio.sleep(1.0)
                assert (first.role, second.role) == ("active", "standby")
                last = await seed(pnc, deployments=5, seed=3)
                await wait_until(lambda: first.checkpoint >= last, what="first applies")
                stop_first.set()
                await wait_until(lambda: first.role == "stopped", what="first stopped")
                await wait_until(lambda: second.role == "active", what="second takes over")
                last = await seed(pnc, deployments=5, seed=4)
                await wait_until(lambda: second.checkpoint >= last, what="second applies")
                status = (await second.status()).to_dict()
                assert status["lag"] == 0 and status["role"] == "active"
        assert sorted(applied) == list(range(1, last + 1))
        await assert_projection_is_the_fold(pstore, sessions(engine))
    finally:
        await engine.dispose()


async def test_the_loop_outlives_a_nats_outage(tmp_path: Any) -> None:
    """NATS goes away under an active projector (its lock refresh fails, taking it again fails
    while the server is down) and comes back: the same loop takes the lock again and applies
    what is appended after, nothing twice. (The database plays no part: SQLite only.)"""
    read_url = f"sqlite+aiosqlite:///{tmp_path / 'readmodel.db'}"
    await migrate(read_url)
    engine = make_engine(read_url)
    server = EmbeddedNats(tmp_path / "nats").start()
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    try:
        await bootstrap(nc, BootstrapOptions(lease_ttl_s=2.0))
        store = JetStreamEventStore(nc)
        runner = ProjectorRunner(nc, store, sessions(engine), fast_settings(), holder="one")
        last = await seed(nc, deployments=5)
        async with running(runner):
            await wait_until(lambda: runner.checkpoint >= last, what="first catch-up")
            server.stop()
            # Longer than two request timeouts: the refresh fails, then taking the lock again.
            await asyncio.sleep(14.0)
            assert runner.role != "stopped"
            server.start()
            await wait_until(lambda: nc.is_connected, what="reconnect")
            last = await seed(nc, deployments=5, seed=9)
            await wait_until(lambda: runner.checkpoint >= last, timeout=60, what="after outage")
            assert runner.role == "active"
        await assert_projection_is_the_fold(store, sessions(engine))
    finally:
        await nc.close()
        server.stop()
        await engine.dispose()
