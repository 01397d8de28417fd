"""The deploy and health services as wired by their main modules, with no Docker Engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from libs.events import catalog as ev
from libs.events.outputs import DeployImageOutput
from libs.events.states import DeploymentState
from libs.events.values import ContainerInfo, DeploymentType, JobSpec, JobType, Source
from services.deploy import main as deploy_main
from services.health import main as health_main
from tests.integration.deploy.runside import RunSide, run_side

UNREACHABLE = "Docker is not available: Docker Engine unreachable at tcp://127.0.0.1:9"


def _ended(state: DeploymentState) -> bool:
    return state.ended is not None


async def test_without_docker_both_services_keep_running_and_docker_jobs_fail_clearly(
    own_nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    async with run_side(own_nats_url, tmp_path) as side:
        settings = side.settings.model_copy(update={"nats_url": own_nats_url})
        stop = asyncio.Event()
        services = [
            asyncio.create_task(deploy_main.run(settings, stop)),
            asyncio.create_task(health_main.run(settings, stop)),
        ]
        try:
            pulls = [
                await side.request(
                    DeploymentType.IMAGE,
                    Source(image_ref="example/app:1"),
                    plan=(JobSpec(id="pull", type=JobType.PULL_EXTERNAL_IMAGE),),
                )
                for _ in range(2)
            ]
            for dep in pulls:
                state = await side.wait_for(dep, _ended)
                assert (state.jobs["pull"].error or "").startswith(UNREACHABLE)
                assert state.jobs["pull"].failure_code == "docker_unavailable"

            health = await _deployed_then_health(side)
            state = await side.wait_for(health, _ended)
            assert (state.jobs["health"].error or "").startswith(UNREACHABLE)
            assert not any(t.done() for t in services)
        finally:
            stop.set()
            await asyncio.gather(*services)


async def _deployed_then_health(side: RunSide) -> str:
    """A deployment whose deploy job is done (a container nobody can inspect): health is next."""
    plan = (
        JobSpec(id="deploy", type=JobType.DEPLOY_IMAGE),
        JobSpec(id="health", type=JobType.HEALTH_CHECK, depends_on=("deploy",)),
    )
    container = ContainerInfo(id="c" * 64, name="n", host="127.0.0.1", port=9)
    output = DeployImageOutput(containers=(container,), port=3000).model_dump(mode="json")
    done = (
        ev.JobStarted(job_id="deploy", job_type=JobType.DEPLOY_IMAGE, attempt=1, executor="t"),
        ev.JobSucceeded(job_id="deploy", attempt=1, output=output),
    )
    return await side.request(
        DeploymentType.IMAGE, Source(image_ref="x/y:1"), plan=plan, prelude=done
    )
