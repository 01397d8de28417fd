from __future__ import annotations

import asyncio

from libs.events.values import CronSpec
from libs.settings import Settings
from services.postdeploy.adapters.fakes import (
    FakeClock,
    FakeCronSecrets,
    FakeCronStore,
    FakeEdgeCaller,
    FakeEnvLog,
    FakeRunnerLock,
)
from services.postdeploy.cron_runner import SLOT_HEADER, CronRunner
from services.postdeploy.cron_schedule import CronClock
from services.postdeploy.crons import register

START = 1_750_000_020.0  # a whole minute
EVERY_MINUTE = CronSpec(schedule="* * * * *", path="/api/cron")


def runner(
    store: FakeCronStore,
    clock: FakeClock,
    *,
    caller: FakeEdgeCaller | None = None,
    lock: FakeRunnerLock | None = None,
    log: FakeEnvLog | None = None,
    secret: str | None = "s3cret",
) -> CronRunner:
    secrets = FakeCronSecrets({("shop", "prod"): secret} if secret else {})
    return CronRunner(
        store=store,
        lock=lock or FakeRunnerLock(),
        caller=caller or FakeEdgeCaller(),
        secrets=secrets,
        env_log=log or FakeEnvLog(),
        settings=Settings(edge_port=8080, base_domain="example.test", cron_minute_s=60.0),
        now=clock,
    )


async def registered(store: FakeCronStore, *specs: CronSpec, admission: int = 1) -> None:
    await register(
        store,
        project="shop",
        environment="prod",
        deployment_id=f"d{admission}",
        admission=admission,
        specs=specs or (EVERY_MINUTE,),
        now=START + 1,
        clock=CronClock(60.0),
    )


async def test_a_due_cron_calls_the_environment_host_with_the_bearer_secret() -> None:
    store, clock, caller = FakeCronStore(), FakeClock(START + 1), FakeEdgeCaller()
    await registered(store)
    r = runner(store, clock, caller=caller)
    clock.advance(60)
    await r.tick()
    await r.drain()
    (call,) = caller.calls
    assert (call.method, call.host, call.path) == ("GET", "prod.shop.example.test", "/api/cron")
    assert call.headers["Authorization"] == "Bearer s3cret"
    assert call.headers[SLOT_HEADER] == "2025-06-15T15:08:00Z"


async def test_every_run_goes_to_the_environment_log_with_status_and_duration() -> None:
    store, clock, log = FakeCronStore(), FakeClock(START + 1), FakeEnvLog()
    await registered(store)
    r = runner(store, clock, caller=FakeEdgeCaller(status=503, duration_s=0.25), log=log)
    clock.advance(60)
    await r.tick()
    await r.drain()
    ((env_id, line, level),) = log.lines
    assert env_id == "shop_prod"
    assert "GET /api/cron" in line and "503" in line and "0.250s" in line
    assert level == "error"
    record = (await store.entries())[0].record
    assert (record.last_status, record.last_duration_s, record.runs) == (503, 0.25, 1)


async def test_an_app_that_does_not_answer_is_logged_with_the_reason() -> None:
    store, clock, log = FakeCronStore(), FakeClock(START + 1), FakeEnvLog()
    await registered(store)
    r = runner(store, clock, caller=FakeEdgeCaller(status=None), log=log)
    clock.advance(60)
    await r.tick()
    await r.drain()
    assert "failed (connection refused)" in log.lines[0][1]
    assert (await store.entries())[0].record.last_error == "connection refused"


async def test_a_slot_fires_once_however_often_the_runner_looks() -> None:
    store, clock, caller = FakeCronStore(), FakeClock(START + 1), FakeEdgeCaller()
    await registered(store)
    r = runner(store, clock, caller=caller)
    clock.advance(60)
    for _ in range(5):
        await r.tick()
        clock.advance(5)
    await r.drain()
    assert len(caller.calls) == 1


async def test_a_missed_run_after_downtime_runs_once_not_once_per_slot() -> None:
    store, clock, caller = FakeCronStore(), FakeClock(START + 1), FakeEdgeCaller()
    await registered(store)
    r = runner(store, clock, caller=caller)
    clock.advance(10 * 60)  # ten slots passed while no runner was up
    await r.tick()
    await r.tick()
    await r.drain()
    assert len(caller.calls) == 1
    assert caller.calls[0].headers[SLOT_HEADER] == "2025-06-15T15:17:00Z"


async def test_two_runners_that_both_think_they_hold_the_lock_never_fire_a_slot_twice() -> None:
    store, clock = FakeCronStore(), FakeClock(START + 1)
    await registered(store, EVERY_MINUTE, CronSpec(schedule="*/2 * * * *", path="/b"))
    a_calls, b_calls = FakeEdgeCaller(), FakeEdgeCaller()
    a, b = runner(store, clock, caller=a_calls), runner(store, clock, caller=b_calls)
    for _ in range(6):
        clock.advance(60)
        await asyncio.gather(a.tick(), b.tick())
    await asyncio.gather(a.drain(), b.drain())
    slots = [(c.path, c.headers[SLOT_HEADER]) for c in a_calls.calls + b_calls.calls]
    assert len(slots) == len(set(slots)) == 6 + 3


async def test_a_runner_without_the_lock_fires_nothing() -> None:
    store, clock, caller = FakeCronStore(), FakeClock(START + 1), FakeEdgeCaller()
    await registered(store)
    r = runner(store, clock, caller=caller, lock=FakeRunnerLock(held=False))
    clock.advance(600)
    assert await r.tick() == []
    assert caller.calls == []


async def test_an_environment_without_a_cron_secret_is_called_without_authorization() -> None:
    store, clock, caller = FakeCronStore(), FakeClock(START + 1), FakeEdgeCaller()
    await registered(store)
    r = runner(store, clock, caller=caller, secret=None)
    clock.advance(60)
    await r.tick()
    await r.drain()
    assert "Authorization" not in caller.calls[0].headers


async def test_stale_records_of_an_older_deployment_are_removed_not_fired() -> None:
    store, clock, caller = FakeCronStore(), FakeClock(START + 1), FakeEdgeCaller()
    await registered(store, admission=2)
    older = (await store.entries())[0].record
    await store.create(
        older.model_copy(update={"key": "shop_prod.d1.0", "deployment_id": "d1", "admission": 1})
    )
    r = runner(store, clock, caller=caller)
    clock.advance(60)
    await r.tick()
    await r.drain()
    assert [e.record.key for e in await store.entries()] == ["shop_prod.d2.0"]
    assert len(caller.calls) == 1


async def test_stopping_the_runner_releases_the_lock() -> None:
    lock = FakeRunnerLock()
    r = runner(FakeCronStore(), FakeClock(START), lock=lock)
    await r.stop()
    assert lock.releases == 1


class SwallowingLock(FakeRunnerLock):
    """A lock call that eats a cancellation, as Python 3.11's wait_for inside a client call can."""

    swallowed = False

    async def hold(self) -> bool:
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            if self.swallowed:
                raise
            self.swallowed = True  # the first one only: a race, not a rule
        return False


async def test_stop_returns_even_when_the_cancellation_is_swallowed() -> None:
    r = CronRunner(
        store=FakeCronStore(),
        lock=SwallowingLock(),
        caller=FakeEdgeCaller(),
        secrets=FakeCronSecrets({}),
        env_log=FakeEnvLog(),
        settings=Settings(cron_tick_s=0.1),
        now=FakeClock(START),
    ).start()
    await asyncio.sleep(0.05)  # inside hold(): the cancel will land there
    stopping = asyncio.create_task(r.stop())
    done, _ = await asyncio.wait({stopping}, timeout=6)
    loop_task = r._loop_task
    for task in (stopping, loop_task):  # a hung stop must not outlive the test
        if task is not None and not task.done():
            task.cancel()
    assert stopping in done, "stop() hung on a loop that swallowed its cancellation"
    await asyncio.sleep(0.3)
    assert loop_task is not None and loop_task.done()
