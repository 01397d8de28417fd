"""No request fails while traffic switches: ten deploys and a rollback under continuous load,
through a client that opens a connection per request and one that keeps a single connection."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from libs.events.states import DeploymentState, DeploymentStatus
from tests.integration.routing.service_support import Load, World, answers

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("routing")]


def completed(state: DeploymentState) -> bool:
    return state.status is DeploymentStatus.COMPLETED


async def test_ten_switches_and_a_rollback_under_load_fail_no_request(world: World) -> None:
    await world.configure()
    host = world.env_host()
    deps = [await world.deploy("v0")]
    await world.wait(deps[0], completed)
    await world.served(host, answers("v0"))
    async with httpx.AsyncClient() as admin:
        config_before = (await admin.get(f"http://{world.settings.caddy_admin}/config/")).json()

    loads = [Load(world.settings.edge_port, host, keep_alive=k) for k in (False, True)]
    threads = [threading.Thread(target=load.run, daemon=True) for load in loads]
    for t in threads:
        t.start()
    try:
        for n in range(1, 11):
            deps.append(await world.deploy(f"v{n}"))
            await world.wait(deps[-1], completed)
            await world.served(host, answers(f"v{n}"), timeout=2)
            await asyncio.sleep(0.3)  # drain: in-flight requests on the old replica finish
            await world.teardown(deps[-2])
        rollback = await world.rollback(deps[5])
        await world.wait(rollback, completed)
        await world.served(host, answers("v5"), timeout=2)
        await asyncio.sleep(0.3)
        await world.teardown(deps[-1])
        await asyncio.sleep(0.5)
    finally:
        for load in loads:
            load.stop.set()
        for t in threads:
            await asyncio.to_thread(t.join, 30)

    for load in loads:
        kind = "keep-alive" if load.keep_alive else "new connection per request"
        assert load.failures == [], f"{kind}: {load.failures[:5]}"
        assert load.ok > 100, f"{kind}: only {load.ok} requests"
        assert {f"v{n}" for n in range(11)} <= load.bodies, f"{kind}: {sorted(load.bodies)}"
    async with httpx.AsyncClient() as admin:
        config_after = (await admin.get(f"http://{world.settings.caddy_admin}/config/")).json()
    assert config_after == config_before  # every switch was a route file rename: no reload
