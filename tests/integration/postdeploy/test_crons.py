"""Crons end to end: a deployed app's `[[crons]]` are registered, called through the real Caddy
with the environment's bearer secret, replaced by a redeploy and removed when it stops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client as NATS

from libs.containers.docker import DockerContainerRuntime
from libs.events.states import DeploymentStatus, JobStatus
from libs.events.subjects import KV_CRONS, cron_filter, environment_id
from libs.events.values import JobType
from libs.eventstore import Repository
from libs.settings import Settings
from services.postdeploy.adapters.kv_crons import KvCronStore
from services.routing.adapters.caddy_proxy import CaddyAdminProxy
from tests.integration.postdeploy.toys import World, container_plan, env_log

TWO_CRONS = """
[[crons]]
schedule = "* * * * *"
path = "/cron/a"

[[crons]]
schedule = "*/2 * * * *"
path = "/cron/b"
method = "POST"
"""
ONE_CRON = """
[[crons]]
schedule = "* * * * *"
path = "/cron/c"
"""
PLAN = container_plan((JobType.CONFIGURE_CRONS,))


def crons_done(s: Any) -> bool:
    return bool(s.jobs["crons"].status is not JobStatus.PENDING and s.jobs["crons"].finished_at)


async def cron_keys(nc: NATS, env_id: str) -> list[str]:
    store = KvCronStore(await nc.jetstream().key_value(KV_CRONS), nc.jetstream())
    return [e.record.key for e in await store.entries(cron_filter(env_id))]


async def keys_become(nc: NATS, env_id: str, wanted: list[str], timeout: float = 15) -> list[str]:
    end = time.monotonic() + timeout
    keys = await cron_keys(nc, env_id)
    while keys != wanted and time.monotonic() < end:
        await asyncio.sleep(0.1)
        keys = await cron_keys(nc, env_id)
    return keys


async def calls_until(
    world: World, dep: str, pred: Callable[[list[dict[str, Any]]], bool], timeout: float = 30
) -> list[dict[str, Any]]:
    end = time.monotonic() + timeout
    while True:
        calls = [c for c in await world.app_calls(dep) if c["path"].startswith("/cron/")]
        if pred(calls):
            return calls
        if time.monotonic() > end:
            raise AssertionError(f"the app got {calls}")
        await asyncio.sleep(0.2)


def world_for(
    nc: NATS, repo: Repository, settings: Settings, edge: CaddyAdminProxy, image: str
) -> World:
    return World(nc, repo, settings, proxy=edge, runtime=DockerContainerRuntime(), app_image=image)


async def test_both_crons_are_registered_and_the_app_is_called_with_the_bearer_secret(
    pnc: NATS, prepo: Repository, pd_settings: Settings, edge: CaddyAdminProxy,
    python_base_image: str,
) -> None:  # fmt: skip
    world = world_for(pnc, prepo, pd_settings, edge, python_base_image)
    secret = await world.put_cron_secret("prod")
    env_id = environment_id(world.project, "prod")
    async with world.running():
        dep = await world.deploy(PLAN, toml=TWO_CRONS)
        state = await world.wait(dep, crons_done)
        assert state.jobs["crons"].status is JobStatus.SUCCESS, state.jobs["crons"].error
        assert state.status is DeploymentStatus.COMPLETED
        assert state.jobs["crons"].output["summary"] == "2 crons registered"
        assert await cron_keys(pnc, env_id) == [f"{env_id}.{dep}.0", f"{env_id}.{dep}.1"]
        # One schedule minute is one second here: both run within a few.
        calls = await calls_until(
            world, dep, lambda cs: {"/cron/a", "/cron/b"} <= {c["path"] for c in cs}
        )
        await asyncio.sleep(0.5)  # let the runs in flight reach the log
        log = await env_log(pnc, env_id)
    assert {c["auth"] for c in calls} == {f"Bearer {secret}"}
    assert ("POST", "/cron/b") in {(c["method"], c["path"]) for c in calls}
    slots = [(c["path"], c["slot"]) for c in calls]
    assert len(slots) == len(set(slots))
    runs = [line for line in log if line["line"].startswith("cron ")]
    assert any(
        "GET /cron/a [* * * * *] -> 200 in" in r["line"] and r["level"] == "info" for r in runs
    ), runs
    assert all(r["job"] == "env" for r in runs)


async def test_a_redeploy_replaces_the_crons_and_stopping_it_removes_them(
    pnc: NATS, prepo: Repository, pd_settings: Settings, edge: CaddyAdminProxy,
    python_base_image: str,
) -> None:  # fmt: skip
    world = world_for(pnc, prepo, pd_settings, edge, python_base_image)
    await world.put_cron_secret("prod")
    env_id = environment_id(world.project, "prod")
    async with world.running():
        first = await world.deploy(PLAN, toml=TWO_CRONS)
        await world.wait(first, lambda s: s.jobs["crons"].status is JobStatus.SUCCESS)
        await calls_until(world, first, lambda cs: len(cs) >= 1)

        second = await world.deploy(PLAN, toml=ONE_CRON)
        state = await world.wait(second, lambda s: s.jobs["crons"].status is JobStatus.SUCCESS)
        assert state.jobs["crons"].output["details"]["replaced"] == 2
        assert await cron_keys(pnc, env_id) == [f"{env_id}.{second}.0"]
        await calls_until(world, second, lambda cs: any(c["path"] == "/cron/c" for c in cs))
        await asyncio.sleep(1.0)  # a run of the first deployment may have been in flight
        before = len(await world.app_calls(first))
        await asyncio.sleep(2.5)
        assert len(await world.app_calls(first)) == before  # the old schedules are gone

        await world.stop(second)
        assert await keys_become(pnc, env_id, []) == []
        await asyncio.sleep(1.0)
        stopped_at = len(await world.app_calls(second))
        await asyncio.sleep(2.5)
        assert len(await world.app_calls(second)) == stopped_at
        log = [line["line"] for line in await env_log(pnc, env_id)]
    assert f"removed 1 cron(s) of deployment {second} (stopped)" in log


async def test_stopping_a_deployment_removes_only_its_own_crons(
    pnc: NATS, prepo: Repository, pd_settings: Settings, edge: CaddyAdminProxy,
    python_base_image: str,
) -> None:  # fmt: skip
    world = world_for(pnc, prepo, pd_settings, edge, python_base_image)
    await world.put_cron_secret("prod")
    await world.put_cron_secret("staging")
    async with world.running():
        prod = await world.deploy(PLAN, toml=ONE_CRON)
        staging = await world.deploy(PLAN, toml=TWO_CRONS, environment="staging")
        for dep in (prod, staging):
            await world.wait(dep, lambda s: s.jobs["crons"].status is JobStatus.SUCCESS)
        await world.stop(staging)
        staging_env = environment_id(world.project, "staging")
        assert await keys_become(pnc, staging_env, []) == []
        prod_env = environment_id(world.project, "prod")
        assert await cron_keys(pnc, prod_env) == [f"{prod_env}.{prod}.0"]
