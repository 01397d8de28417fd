"""The four post-deploy jobs bound to their collaborators (thin: everything is in the modules)."""

from __future__ import annotations

from dataclasses import dataclass

from libs.artifacts import Artifacts
from libs.events.states import EnvironmentState
from libs.events.subjects import Aggregate
from libs.events.values import JobType
from libs.eventstore import FreshStates, Repository
from libs.jobs import JobContext, JobResult, JobTypeSpec
from services.postdeploy.cron_schedule import CronClock
from services.postdeploy.crons_job import configure_crons, remove_crons_if_ended
from services.postdeploy.ports import (
    CronStore,
    EdgeCaller,
    ImageFiles,
    Screenshotter,
    VulnerabilityScanner,
)
from services.postdeploy.scan import scan_vulnerabilities
from services.postdeploy.screenshot import take_screenshot
from services.postdeploy.sourcemaps import capture_source_maps


@dataclass
class PostDeploy:
    """Everything the jobs need; `files` is None when there is no Docker Engine."""

    repo: Repository
    crons: CronStore
    objects: Artifacts
    browser: Screenshotter
    files: ImageFiles | None
    scanner: VulnerabilityScanner | None
    clock: CronClock
    edge: EdgeCaller | None = None
    docker_missing: str | None = None


def job_handlers(deps: PostDeploy, slots: int) -> dict[JobType, JobTypeSpec]:
    environments = FreshStates(deps.repo, Aggregate.ENVIRONMENT)

    async def environment(env_id: str) -> EnvironmentState:
        state: EnvironmentState = (await environments.loaded(env_id)).state
        return state

    async def crons(ctx: JobContext) -> JobResult:
        out = await configure_crons(
            ctx, store=deps.crons, environments=environment, clock=deps.clock
        )
        return JobResult(out)

    async def crons_cleanup(ctx: JobContext) -> None:
        await remove_crons_if_ended(ctx, store=deps.crons)

    async def screenshot(ctx: JobContext) -> JobResult:
        out = await take_screenshot(ctx, browser=deps.browser, objects=deps.objects, edge=deps.edge)
        return JobResult(out)

    async def scan(ctx: JobContext) -> JobResult:
        out = await scan_vulnerabilities(
            ctx,
            files=deps.files,
            scanner=deps.scanner,
            objects=deps.objects,
            docker_missing=deps.docker_missing,
        )
        return JobResult(out)

    async def sourcemaps(ctx: JobContext) -> JobResult:
        return JobResult(await capture_source_maps(ctx, files=deps.files, objects=deps.objects))

    async def image_cleanup(ctx: JobContext) -> None:
        if deps.files is not None:
            await deps.files.remove_leftovers(ctx.labels)

    return {
        JobType.CONFIGURE_CRONS: JobTypeSpec(crons, slots, crons_cleanup),
        JobType.TAKE_SCREENSHOT: JobTypeSpec(screenshot, slots),
        JobType.SCAN_VULNERABILITIES: JobTypeSpec(scan, slots, image_cleanup),
        JobType.CAPTURE_SOURCE_MAPS: JobTypeSpec(sourcemaps, slots, image_cleanup),
    }
