"""The health service's job type, wired to its collaborators."""

from __future__ import annotations

import httpx

from libs.containers.jobs import docker_job
from libs.events.outputs import HealthCheckOutput
from libs.events.values import JobType
from libs.jobs import JobContext, JobTypeSpec
from libs.settings import Settings
from services.health.health_job import check_health
from services.health.probe import ContainerStates


def job_handlers(
    engine: ContainerStates, client: httpx.AsyncClient, settings: Settings
) -> dict[JobType, JobTypeSpec]:
    async def health_check(ctx: JobContext) -> HealthCheckOutput:
        return await check_health(ctx, engine, client)

    return {JobType.HEALTH_CHECK: JobTypeSpec(docker_job(health_check), settings.job_slots)}
