"""The deploy service's job types, wired to their collaborators (thin: parse, call, return)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from libs.artifacts import ArtifactStore
from libs.containers.jobs import docker_job
from libs.containers.runtime import ContainerRuntime, ImageStore
from libs.events.outputs import DeployImageOutput, DeployStaticOutput, ImageOutput
from libs.events.values import JobType
from libs.eventstore import Repository
from libs.jobs import JobContext, JobTypeSpec
from libs.settings import Settings
from services.deploy import deploy_job, image_jobs, static_jobs
from services.deploy.variables import Variables


@dataclass(frozen=True)
class DeployDeps:
    runtime: ContainerRuntime
    images: ImageStore
    variables: Variables
    artifacts: ArtifactStore
    repo: Repository
    static_dir: Path
    work_dir: Path | None = None  # temp files of uploads; default the system temp dir
    network: str | None = None  # compose: containers join it instead of publishing ports


def job_handlers(deps: DeployDeps, settings: Settings) -> dict[JobType, JobTypeSpec]:
    async def pull_external_image(ctx: JobContext) -> ImageOutput:
        return await image_jobs.pull_external_image(ctx, deps.images, deps.variables)

    async def verify_local_image(ctx: JobContext) -> ImageOutput:
        return await image_jobs.verify_local_image(ctx, deps.images, deps.artifacts, deps.work_dir)

    async def deploy_image(ctx: JobContext) -> DeployImageOutput:
        return await deploy_job.deploy_image(
            ctx, deps.runtime, deps.variables, deps.repo, network=deps.network
        )

    async def remove_attempt(ctx: JobContext) -> None:
        await deploy_job.remove_attempt_containers(ctx, deps.runtime, deps.repo)

    async def deploy_static(ctx: JobContext) -> DeployStaticOutput:
        return await static_jobs.deploy_static(ctx, deps.artifacts, deps.static_dir)

    async def deploy_static_bundle(ctx: JobContext) -> DeployStaticOutput:
        return await static_jobs.deploy_static_bundle(ctx, deps.artifacts, deps.static_dir)

    slots = settings.job_slots
    return {
        JobType.PULL_EXTERNAL_IMAGE: JobTypeSpec(docker_job(pull_external_image), slots),
        JobType.VERIFY_LOCAL_IMAGE: JobTypeSpec(docker_job(verify_local_image), slots),
        JobType.DEPLOY_IMAGE: JobTypeSpec(docker_job(deploy_image), slots, remove_attempt),
        JobType.DEPLOY_STATIC: JobTypeSpec(deploy_static, slots),
        JobType.DEPLOY_STATIC_BUNDLE: JobTypeSpec(deploy_static_bundle, slots),
    }
