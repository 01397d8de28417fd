"""Crashes: the routing service killed right after its claim, and Caddy restarted with its
autosaved config or with none."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from libs.events.states import DeploymentState, DeploymentStatus, JobStatus
from libs.infra import EmbeddedCaddy
from tests.integration.routing.service_support import RoutingProcess, World, answers

pytestmark = pytest.mark.docker


def completed(state: DeploymentState) -> bool:
    return state.status is DeploymentStatus.COMPLETED


async def restart(edge: EmbeddedCaddy, *, keep_config: bool) -> float:
    await asyncio.to_thread(edge.stop)
    if not keep_config:
        edge.autosave_path.unlink()
    await asyncio.to_thread(edge.start)
    return asyncio.get_running_loop().time()


async def test_a_routing_service_killed_after_its_claim_applies_the_route_after_restart(
    world: World, edge: EmbeddedCaddy, tmp_path: Path
) -> None:
    await world.configure()
    host = world.env_host()
    log = tmp_path / "routing.log"
    holding = RoutingProcess(world.settings, log, SLIPWAY_ROUTE_HOLD_AFTER_CLAIM_S="120")
    await asyncio.to_thread(holding.start)
    try:
        first = await world.deploy("v1")
        await world.wait(first, lambda s: s.jobs["route"].status is JobStatus.RUNNING)
        loop = asyncio.get_running_loop()
        end = loop.time() + 30
        while (route := (await world.environment()).route) is None or route.deployment_id != first:
            assert loop.time() < end, "no TrafficSwitched"
            await asyncio.sleep(0.05)
    finally:
        holding.kill()  # SIGKILL, right after TrafficSwitched was appended
    state = await world.state(first)
    assert state.jobs["route"].status is JobStatus.RUNNING  # claimed, never confirmed
    await restart(edge, keep_config=False)  # and Caddy lost everything meanwhile
    assert await world.get(host) != (200, "v1")

    service = RoutingProcess(world.settings, log)
    await asyncio.to_thread(service.start)
    try:
        state = await world.wait(first, completed, timeout=60)
        assert state.jobs["route"].attempt == 2  # the lost holder's job, taken over
        await world.served(host, answers("v1"), timeout=5)
        await world.served(world.dep_host(first), answers("v1"), timeout=5)

        second = await world.deploy("v2")
        await world.wait(second, completed)
        await world.served(host, answers("v2"), timeout=5)
        wanted = {host: "v2", world.dep_host(first): "v1", world.dep_host(second): "v2"}
        for keep in (True, False):  # --resume with its autosave, then an empty config
            started = await restart(edge, keep_config=keep)
            for h, body in wanted.items():
                await world.served(h, answers(body), timeout=5)
            assert asyncio.get_running_loop().time() - started < 5
    finally:
        await asyncio.to_thread(service.stop)
