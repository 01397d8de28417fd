"""HealthCheckJob (§7): probe every replica the deploy job started until healthy, or fail.

Healthy = every replica answers 2xx (or the expected status) on `http://<host>:<port><path>`,
confirmed once more; the schedule and limits are `services.health.probe.wait_healthy`'s. A crashed
container fails the job at once; its last 100 log lines go to the job log.
"""

from __future__ import annotations

import httpx

from libs.events.outputs import DeployImageOutput, DownloadRepoOutput, HealthCheckOutput
from libs.events.states import DeploymentState, JobStatus
from libs.events.values import JobType
from libs.jobs import JobContext, JobError
from services.health.probe import (
    CRASHED,
    ContainerStates,
    all_replicas,
    crash_check,
    http_probe,
    wait_healthy,
)

LOG_TAIL = 100
DEFAULT_PATH = "/"


def deployed(state: DeploymentState, job_id: str) -> DeployImageOutput:
    """The output of the DeployImageJob this health check follows (its dependency)."""
    job = state.jobs[job_id]
    for dep in job.depends_on:
        before = state.jobs.get(dep)
        if (
            before is not None
            and before.type is JobType.DEPLOY_IMAGE
            and before.status is JobStatus.SUCCESS
        ):
            return DeployImageOutput.model_validate(before.output)
    out = state.output_of(JobType.DEPLOY_IMAGE)
    if out is None:
        raise JobError("no DeployImageJob output to check", "bad_input")
    return DeployImageOutput.model_validate(out)


def health_target(state: DeploymentState) -> tuple[str, int | None]:
    """Path and expected status: environment setting > slipway.toml > `/` and any 2xx."""
    out = state.output_of(JobType.DOWNLOAD_REPO)
    toml = DownloadRepoOutput.model_validate(out).slipway_toml if out is not None else None
    path = state.config.health_path
    if path == DEFAULT_PATH and toml is not None and toml.health.path:
        path = toml.health.path
    expected = state.config.expected_status
    if expected is None and toml is not None:
        expected = toml.health.expected_status
    return path, expected


async def check_health(
    ctx: JobContext, engine: ContainerStates, client: httpx.AsyncClient
) -> HealthCheckOutput:
    out = deployed(ctx.state, ctx.job.id)
    if not out.containers:
        raise JobError("the deploy job started no container", "bad_input")
    path, expected = health_target(ctx.state)
    urls = [f"http://{c.host}:{c.port}{path}" for c in out.containers]
    ctx.log.info(f"probing {', '.join(urls)}; healthy = {expected or '2xx'}")
    timeout = ctx.settings.health_request_timeout_s
    probe = all_replicas([http_probe(u, client, timeout_s=timeout) for u in urls], expected)
    result = await wait_healthy(
        probe,
        crash_check(engine, [c.id for c in out.containers], tail=LOG_TAIL),
        ctx.settings,
        ctx.log.info,
        expected_status=expected,
    )
    if result.healthy:
        return result.output()
    if result.failure_code == CRASHED:
        head, _, rest = result.reason.partition("\n")
        banner, _, output = rest.partition("\n")
        if banner:
            ctx.log.error(banner.strip("- "))
        if output:
            ctx.log.write(output, stream="stdout", level="error")
        raise JobError(f"{head} (its last {LOG_TAIL} log lines are in the job log)", CRASHED)
    raise JobError(result.reason, result.failure_code or "unhealthy")
