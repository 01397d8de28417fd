"""DeployStaticJob and DeployStaticBundleJob: files from the object store into the static root.

Each deployment gets `<static_dir>/<deployment id>/`. The archive is fetched and extracted (with
the safety rules of `libs.archives`) into a directory of this attempt, then renamed into place, so
the proxy never serves a half-written tree and a retried attempt simply replaces it.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from libs.archives import ArchiveError, ArchiveLimits, extract_archive
from libs.artifacts import ArtifactNotFound, ArtifactStore
from libs.events.outputs import BuildImageOutput, DeployStaticOutput
from libs.events.values import JobType
from libs.jobs import JobContext, JobError

INCOMING = ".incoming"


def static_root(static_dir: Path, deployment_id: str) -> Path:
    return static_dir / deployment_id


def archive_limits(ctx: JobContext) -> ArchiveLimits:
    return ArchiveLimits(
        max_files=ctx.settings.max_archive_files,
        max_expanded_bytes=ctx.settings.max_archive_expanded_bytes,
    )


async def deploy_static(
    ctx: JobContext, artifacts: ArtifactStore, static_dir: Path
) -> DeployStaticOutput:
    """The static output of this deployment's build."""
    out = ctx.state.output_of(JobType.BUILD_IMAGE)
    name = BuildImageOutput.model_validate(out).static_object if out is not None else None
    name = name or ctx.state.source.static_object
    if not name:
        raise JobError("the build produced no static files to deploy", "bad_input")
    return await publish_archive(ctx, artifacts, static_dir, name)


async def deploy_static_bundle(
    ctx: JobContext, artifacts: ArtifactStore, static_dir: Path
) -> DeployStaticOutput:
    """The uploaded bundle (tar.gz or zip), validated by the gateway and checked again here."""
    name = ctx.state.source.bundle
    if not name:
        raise JobError("the deployment names no static bundle (source.bundle)", "bad_input")
    return await publish_archive(ctx, artifacts, static_dir, name)


async def publish_archive(
    ctx: JobContext, artifacts: ArtifactStore, static_dir: Path, name: str
) -> DeployStaticOutput:
    root = static_root(static_dir, ctx.deployment_id)
    work = static_dir / INCOMING / f"{ctx.deployment_id}-{ctx.job.id}-a{ctx.attempt}"
    await asyncio.to_thread(_fresh_dir, work)
    try:
        archive = work / "archive"
        try:
            size = await artifacts.get_file(name, archive)
        except ArtifactNotFound:
            raise JobError(
                f"the static files {name} are gone from the object store", "missing"
            ) from None
        ctx.log.info(f"fetched {name} ({size} bytes)")
        try:
            summary = await asyncio.to_thread(
                extract_archive, archive, work / "site", archive_limits(ctx)
            )
        except ArchiveError as exc:
            raise JobError(
                f"the static files cannot be deployed: {exc.reason}", "bad_archive"
            ) from None
        ctx.log.info(
            f"extracted {summary.files} file(s), {summary.expanded_bytes} bytes ({summary.format})"
        )
        await ctx.fence()
        await asyncio.to_thread(_swap_in, work / "site", root, work / "previous")
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
    ctx.log.info(f"serving from {root}")
    return DeployStaticOutput(static_root=str(root), static_object=name, files=summary.files)


def _fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def _swap_in(site: Path, root: Path, previous: Path) -> None:
    # An earlier attempt may have finished its rename before it was lost: replace its tree.
    if root.exists():
        root.rename(previous)
    site.rename(root)
    root.chmod(0o755)
