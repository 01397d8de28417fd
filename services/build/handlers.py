"""The job types the build service runs, wired to their collaborators."""

from __future__ import annotations

from libs.artifacts import ArtifactStore
from libs.events.values import JobType
from libs.jobs import JobContext, JobResult, JobTypeSpec
from libs.settings import Settings
from services.build.build_job import build_image, remove_attempt_image
from services.build.builder import ImageBuilder
from services.build.slots import HostBuildSlots


def build_jobs(
    settings: Settings,
    *,
    builder: ImageBuilder,
    artifacts: ArtifactStore,
    slots: HostBuildSlots | None = None,
) -> dict[JobType, JobTypeSpec]:
    """BuildImageJob with `settings.build_slots` slots in this process and, through `slots`, on
    this host."""
    host_slots = slots or HostBuildSlots(settings.build_slot_dir, settings.build_slots)

    async def handle_build_image(ctx: JobContext) -> JobResult:
        return await build_image(ctx, builder=builder, artifacts=artifacts, slots=host_slots)

    async def cleanup(ctx: JobContext) -> None:
        await remove_attempt_image(ctx, builder=builder)

    return {
        JobType.BUILD_IMAGE: JobTypeSpec(handle_build_image, settings.build_slots, cleanup),
    }
