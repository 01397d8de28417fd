"""The job types the clone service runs, wired to their collaborators."""

from __future__ import annotations

from libs.artifacts import ArtifactStore
from libs.events.values import JobType
from libs.jobs import JobContext, JobResult, JobTypeSpec
from libs.settings import Settings
from services.clone.credentials import CredentialsFor
from services.clone.download import download_repo
from services.clone.git import GitClient


def clone_jobs(
    settings: Settings, *, git: GitClient, artifacts: ArtifactStore, credentials: CredentialsFor
) -> dict[JobType, JobTypeSpec]:
    async def handle_download_repo(ctx: JobContext) -> JobResult:
        return await download_repo(ctx, git=git, artifacts=artifacts, credentials=credentials)

    return {JobType.DOWNLOAD_REPO: JobTypeSpec(handle_download_repo, settings.job_slots)}
