"""HealthCheckJob failures, run by the job mechanism on real containers: the deployment fails with
the reason, a crash's output lands in the job log, and the reconciler removes the new containers."""

from __future__ import annotations

import asyncio

import docker
import httpx

from libs.events import plans
from libs.events.states import DeploymentStatus
from libs.events.subjects import job_log_subject
from libs.events.values import ConfigSnapshot, DeploymentType, Source
from tests.integration.deploy.runside import RunSide


async def _deploy_with(side: RunSide, image: str, http: httpx.AsyncClient, **variables: str) -> str:
    revisions = {name: await side.put_variable(name, value) for name, value in variables.items()}
    revisions["CRON_SECRET"] = await side.put_variable("CRON_SECRET", "s")
    await side.start_deploy()
    await side.start_health(http)
    await side.start_router()
    await side.start_lifecycle()
    return await side.request(
        DeploymentType.IMAGE,
        Source(image_ref=image),
        plan=plans.initial_plan(DeploymentType.IMAGE),
        config=ConfigSnapshot(variables=revisions, health_path="/healthz"),
    )


async def _containers_of(client: docker.DockerClient, dep: str) -> list[str]:
    found = await asyncio.to_thread(
        client.containers.list,
        all=True,
        filters={"label": f"slipway.deployment={dep}"},
        sparse=True,
    )
    return [c.id for c in found]


async def _until_removed(client: docker.DockerClient, dep: str) -> None:
    for _ in range(150):
        if not await _containers_of(client, dep):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"containers of {dep} were not removed")


async def test_an_app_answering_500_fails_the_deployment_and_its_containers_are_removed(
    side: RunSide,
    deploy_app_image: str,
    http: httpx.AsyncClient,
    docker_client: docker.DockerClient,
) -> None:
    dep = await _deploy_with(side, deploy_app_image, http, HEALTH_STATUS="500")
    state = await side.wait_for(dep, lambda s: s.status is DeploymentStatus.FAILED)

    health = state.jobs["health"]
    assert health.failure_code == "unhealthy_5xx"
    assert "answered 5xx for 2 s" in (health.error or "")
    assert "HealthCheckJob failed" in (state.end_reason or "")
    lines = [r["line"] for r in await side.log_lines(job_log_subject(dep, "health"))]
    assert any(line.endswith("/healthz; healthy = 2xx") for line in lines)
    assert sum(line.startswith("health probe ") for line in lines) >= 3
    assert state.jobs["route"].status.value == "pending"

    await _until_removed(docker_client, dep)
    state = await side.wait_for(dep, lambda s: not s.containers)
    removed = [e.data for e in await side.events(dep) if e.type == "ContainersRemoved"]
    assert removed and removed[-1].reason == "failed"


async def test_a_crashing_container_fails_at_once_with_its_last_log_lines_in_the_job_log(
    side: RunSide,
    deploy_app_image: str,
    http: httpx.AsyncClient,
    docker_client: docker.DockerClient,
) -> None:
    dep = await _deploy_with(side, deploy_app_image, http, CRASH="1")
    state = await side.wait_for(dep, lambda s: s.status is DeploymentStatus.FAILED)

    health = state.jobs["health"]
    assert health.failure_code == "crashed"
    assert "container" in (health.error or "")
    assert "last 100 log lines are in the job log" in (health.error or "")
    records = await side.log_lines(job_log_subject(dep, "health"))
    output = [r["line"] for r in records if r["stream"] == "stdout"]
    assert "fatal: cannot reach the database" in output
    assert len(output) <= 100
    assert "boot step 119" in output and "boot step 0" not in output

    await _until_removed(docker_client, dep)
