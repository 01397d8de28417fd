"""The Caddy reconciler on an in-memory log and the fake proxy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from libs.events import catalog as ev
from libs.events.envelope import Envelope
from libs.events.fold import Recorded
from libs.events.states import DeploymentState, DeploymentStatus
from services.routing.adapters.fake_proxy import FakeProxy
from services.routing.desired import MAINTENANCE, Target
from services.routing.lifecycle import cause_of, wants_maintenance
from services.routing.reconciler import CaddyReconciler
from tests.factories import Story, env_event
from tests.unit.routing.fakes import MemoryLog

ENV = "proj_prod"
HOST = "prod.proj.localhost"


def _switch(*upstreams: str) -> Envelope:
    return env_event(
        ENV, ev.TrafficSwitched(mode="deployment", deployment_id="d1", upstreams=upstreams)
    )


async def test_it_serves_the_log_at_start_and_confirms_every_later_switch() -> None:
    log, proxy = MemoryLog(), FakeProxy()
    log.append(env_event(ENV, ev.EnvironmentConfigured(project="proj", environment="prod")))
    log.append(_switch("127.0.0.1:5001"))
    reconciler = CaddyReconciler(log, proxy, base_domain="localhost", check_interval_s=0.05)
    await reconciler.start()
    try:
        await reconciler.wait_confirmed(2, 2)
        route = proxy.route_for(HOST)
        assert route is not None and route.target == Target("upstreams", ("127.0.0.1:5001",))
        seq = log.append(_switch("127.0.0.1:5002"))
        await reconciler.wait_confirmed(seq, 2)
        route = proxy.route_for(HOST)
        assert route is not None and route.target.upstreams == ("127.0.0.1:5002",)
        unrelated = log.append(Story("d9").events[0])
        await reconciler.wait_confirmed(unrelated, 2)  # nothing to change: confirmed at once
    finally:
        await reconciler.stop()


async def test_an_unreachable_proxy_delays_the_confirmation_until_it_answers() -> None:
    log, proxy = MemoryLog(), FakeProxy()
    reconciler = CaddyReconciler(
        log, proxy, base_domain="localhost", check_interval_s=0.05, retry_s=0.02
    )
    await reconciler.start()
    try:
        proxy.available = False
        seq = log.append(_switch("127.0.0.1:5001"))
        await asyncio.sleep(0.2)
        assert reconciler.confirmed_seq < seq
        assert reconciler.last_error is not None and "unreachable" in reconciler.last_error
        proxy.available = True
        await reconciler.wait_confirmed(seq, 2)
        assert reconciler.last_error is None
    finally:
        await reconciler.stop()


async def test_a_view_behind_the_log_writes_nothing_until_it_caught_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("services.routing.reconciler.CATCH_UP_S", 0.1)
    log, proxy = MemoryLog(), FakeProxy()
    reconciler = CaddyReconciler(
        log, proxy, base_domain="localhost", check_interval_s=0.05, retry_s=0.02
    )
    await reconciler.start()
    try:
        await reconciler.wait_confirmed(0, 2)
        applied = proxy.applied
        log.unseen = 1  # another replica may already have written what that event says
        seq = log.append(_switch("127.0.0.1:5001"))
        await asyncio.sleep(0.3)
        assert proxy.applied == applied and reconciler.confirmed_seq < seq
        assert reconciler.last_error is not None and "this view only at" in reconciler.last_error
        log.unseen = 0
        await reconciler.wait_confirmed(seq, 2)
    finally:
        await reconciler.stop()


async def test_a_proxy_restarted_empty_gets_its_config_back_at_the_next_check() -> None:
    log, proxy = MemoryLog(), FakeProxy()
    seq = log.append(_switch("127.0.0.1:5001"))
    reconciler = CaddyReconciler(log, proxy, base_domain="localhost", check_interval_s=0.05)
    await reconciler.start()
    try:
        await reconciler.wait_confirmed(seq, 2)
        desired = reconciler.view.desired()
        proxy.restart_empty()
        assert not await proxy.matches(desired)
        for _ in range(100):
            if await proxy.matches(desired):
                break
            await asyncio.sleep(0.02)
        assert await proxy.matches(desired)
    finally:
        await reconciler.stop()


def test_maintenance_is_wanted_when_paused_or_stopped_by_a_user_only() -> None:
    base = DeploymentState(id="d1", requested=True)
    assert wants_maintenance(DeploymentState(id="d1", paused=True))
    assert wants_maintenance(
        DeploymentState(id="d1", ended=DeploymentStatus.STOPPED, end_by="tok_admin")
    )
    superseded = DeploymentState(
        id="d1", ended=DeploymentStatus.STOPPED, end_by="deploy", superseded_by="d2"
    )
    assert not wants_maintenance(superseded)
    assert not wants_maintenance(DeploymentState(id="d1", ended=DeploymentStatus.FAILED))
    assert not wants_maintenance(base)


def test_the_cause_of_maintenance_is_the_last_pause_or_stop() -> None:
    story = Story("d1").admit()
    story.add(ev.DeploymentPaused(by="tok")).add(ev.DeploymentResumed(by="tok"))
    story.add(ev.DeploymentPaused(by="tok"))
    assert cause_of(story.events, story.state) is story.events[-1]
    story.add(ev.DeploymentStopped(reason="stopped by user", by="tok"))
    assert cause_of(story.events, story.state) is story.events[-1]
    assert MAINTENANCE.kind == "maintenance"


class SwallowingLog(MemoryLog):
    """A follow that eats a cancellation, as Python 3.11's wait_for inside a client call can."""

    async def follow(
        self, subject_filter: str = "", *, from_seq: int = 1
    ) -> AsyncIterator[Recorded]:
        swallowed = False
        while True:
            try:
                await asyncio.sleep(0.2)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed = True  # the first one only: a race, not a rule
            if False:  # an async generator that never yields
                yield self.records[0]


async def test_stop_returns_even_when_the_follow_swallows_the_cancellation() -> None:
    reconciler = CaddyReconciler(
        SwallowingLog(), FakeProxy(), base_domain="localhost", check_interval_s=0.05
    )
    await reconciler.start()
    await asyncio.sleep(0.05)
    stopping = asyncio.create_task(reconciler.stop())
    done, _ = await asyncio.wait({stopping}, timeout=8)
    if not done:
        stopping.cancel()
    assert stopping in done, "stop() hung on a loop that swallowed its cancellation"
