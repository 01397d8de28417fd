"""BuildImageJob (§4, §6): from the stored source to an image, or to stored static files."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from libs.archives import ArchiveError, ArchiveLimits, extract_archive
from libs.artifacts import ArtifactNotFound, ArtifactStore
from libs.events import plans
from libs.events.config import SlipwayToml
from libs.events.outputs import BuildImageOutput, DownloadRepoOutput
from libs.events.subjects import ObjectPrefix, object_name
from libs.events.values import ConfigSnapshot, JobType, Preset
from libs.jobs import JobContext, JobError, JobResult
from services.build.builder import BuildError, BuildSpec, BuiltImage, ImageBuilder, Stream
from services.build.context import BuildContextError, build_args, image_tag, prepare_context
from services.build.detect import detect
from services.build.slots import HostBuildSlots
from services.build.static_files import StaticOutputError, pack_static_dir, repack_static
from services.build.types import STATIC_EXPORT_PATH, Detection, DetectionError, DockerfileSettings


def static_object(deployment_id: str) -> str:
    return object_name(ObjectPrefix.STATIC, f"{deployment_id}.tar.gz")


def effective_toml(toml: SlipwayToml | None, config: ConfigSnapshot) -> SlipwayToml | None:
    """The environment's start command and port win over slipway.toml's (§5 precedence)."""
    if config.command is None and config.port is None:
        return toml
    base = toml or SlipwayToml()
    build = (
        base.build.model_copy(update={"start": config.command}) if config.command else base.build
    )
    deploy = base.deploy.model_copy(update={"port": config.port}) if config.port else base.deploy
    return base.model_copy(update={"build": build, "deploy": deploy})


def image_labels(ctx: JobContext) -> dict[str, str]:
    """The labels an image carries: its deployment and attempt (project, environment and job
    are in its tag). Docker's classic builder adds one uncached LABEL step per label after the
    first that changes (sorted by key), so every label here costs a warm rebuild ~0.1 s."""
    return {k: ctx.labels[k] for k in ("slipway.attempt", "slipway.deployment")}


def _source(ctx: JobContext) -> DownloadRepoOutput:
    output = ctx.state.output_of(JobType.DOWNLOAD_REPO)
    if output is None:
        raise JobError("no source: DownloadRepoJob has not succeeded", "no_source")
    return DownloadRepoOutput.model_validate(output)


async def build_image(
    ctx: JobContext, *, builder: ImageBuilder, artifacts: ArtifactStore, slots: HostBuildSlots
) -> JobResult:
    started = time.monotonic()
    source = _source(ctx)
    state, settings = ctx.state, ctx.settings
    try:
        tag = image_tag(state.project, state.environment, ctx.deployment_id)
    except BuildContextError as exc:
        raise JobError(str(exc), "bad_name") from None
    work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="slipway-build-"))
    try:
        root = await _fetch_source(ctx, artifacts, source.source_object, work)
        detection = await _detect(ctx, root, source.slipway_toml)
        ctx.log.info(f"preset {detection.preset} ({detection.kind}), decided by {detection.signal}")
        if detection.preset == "static":
            # Plain files: no build step, so no image and no Docker (works without an engine).
            stored = await _publish_plain_static(ctx, artifacts, root, detection, work)
            return JobResult(
                BuildImageOutput(
                    preset=detection.preset,
                    kind="static",
                    signal=detection.signal,
                    static_object=stored,
                    duration_s=round(time.monotonic() - started, 3),
                ),
                next_jobs=plans.build_tail(Preset.STATIC),
            )
        try:
            context = await asyncio.to_thread(
                prepare_context, root, detection, settings.build_ca_bundle
            )
        except BuildContextError as exc:
            raise JobError(str(exc), "bad_context") from None
        available = {
            "SLIPWAY_GIT_COMMIT_SHA": source.commit_sha,
            "SLIPWAY_GIT_BRANCH": state.source.branch or "",
            "SLIPWAY_DEPLOYMENT_ID": ctx.deployment_id,
            "SLIPWAY_PROJECT": state.project,
            "SLIPWAY_ENVIRONMENT": state.environment,
        }
        spec = BuildSpec(
            context=context,
            dockerfile=detection.dockerfile_path,
            tag=tag,
            buildargs=build_args(detection.dockerfile, available),
            labels=image_labels(ctx),
        )
        async with slots.acquire(ctx.log.info):
            built = await _build(ctx, builder, spec)
        if detection.kind == "static":
            stored = await _publish_static(ctx, builder, artifacts, built, work)
            return JobResult(
                BuildImageOutput(
                    preset=detection.preset,
                    kind="static",
                    signal=detection.signal,
                    static_object=stored,
                    duration_s=round(time.monotonic() - started, 3),
                ),
                next_jobs=plans.build_tail(Preset.STATIC),
            )
        ctx.log.info(f"image {built.tag} ({built.id[:19]})")
        return JobResult(
            BuildImageOutput(
                preset=detection.preset,
                kind="container",
                signal=detection.signal,
                image_id=built.id,
                image_tag=built.tag,
                exposed_ports=built.exposed_ports,
                duration_s=round(time.monotonic() - started, 3),
            ),
            next_jobs=plans.build_tail(Preset.CONTAINER),
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


async def _fetch_source(ctx: JobContext, artifacts: ArtifactStore, name: str, work: Path) -> Path:
    tarball = work / "source.tar.gz"
    try:
        await artifacts.get_file(name, tarball)
    except ArtifactNotFound:
        raise JobError(f"the source {name} is not in the object store", "no_source") from None
    limits = ArchiveLimits(
        max_files=ctx.settings.max_archive_files,
        max_expanded_bytes=ctx.settings.max_source_bytes,
    )
    root = work / "src"
    try:
        await asyncio.to_thread(extract_archive, tarball, root, limits)
    except ArchiveError as exc:
        raise JobError(
            f"the source tarball {name} is unusable: {exc.reason}", "bad_source"
        ) from None
    return root


async def _detect(ctx: JobContext, root: Path, toml: SlipwayToml | None) -> Detection:
    config = ctx.state.config
    try:
        return await asyncio.to_thread(
            detect,
            root,
            preset=config.preset,
            app_dir=config.app_dir,
            toml=effective_toml(toml, config),
            settings=DockerfileSettings.from_settings(ctx.settings),
        )
    except DetectionError as exc:
        raise JobError(f"cannot build this repository: {exc}", "detection") from None


async def _build(ctx: JobContext, builder: ImageBuilder, spec: BuildSpec) -> BuiltImage:
    timeout = ctx.settings.build_timeout_s
    ctx.log.info(f"docker build -t {spec.tag} -f {spec.dockerfile}")

    def log(line: str, stream: Stream) -> None:
        ctx.log.write(line, stream=stream, level="error" if stream == "stderr" else "info")

    try:
        async with asyncio.timeout(timeout):
            return await builder.build(spec, log)
    except TimeoutError:
        raise JobError(
            f"the build did not finish within {timeout:g} s (SLIPWAY_BUILD_TIMEOUT_S)", "timeout"
        ) from None
    except BuildError as exc:
        raise JobError(exc.message, exc.code) from None


async def _publish_plain_static(
    ctx: JobContext, artifacts: ArtifactStore, root: Path, detection: Detection, work: Path
) -> str:
    folder = root / detection.context_dir / (detection.static_output_dir or ".")
    packed = work / "static.tar.gz"
    try:
        files = await asyncio.to_thread(pack_static_dir, folder, packed, root)
    except StaticOutputError as exc:
        raise JobError(str(exc), "no_output") from None
    name = static_object(ctx.deployment_id)
    await artifacts.put_file(name, packed)
    ctx.log.info(f"{files} static files stored as {name} (no image needed)")
    return name


async def _publish_static(
    ctx: JobContext, builder: ImageBuilder, artifacts: ArtifactStore, built: BuiltImage, work: Path
) -> str:
    """Copy the files out of the image, store them, and drop the image (no app image is kept)."""
    exported = work / "export.tar"
    packed = work / "static.tar.gz"
    try:
        await builder.export_path(built.id, STATIC_EXPORT_PATH, exported, ctx.labels)
        base = STATIC_EXPORT_PATH.strip("/").rsplit("/", 1)[-1]
        files = await asyncio.to_thread(repack_static, exported, base, packed)
    except BuildError as exc:
        raise JobError(exc.message, exc.code) from None
    except StaticOutputError as exc:
        raise JobError(str(exc), "no_output") from None
    finally:
        try:
            await builder.remove_image(built.tag)
        except BuildError as exc:
            ctx.log.write(f"could not remove the build image: {exc.message}", level="warning")
    name = static_object(ctx.deployment_id)
    await artifacts.put_file(name, packed)
    ctx.log.info(f"{files} static files stored as {name}")
    return name


async def remove_attempt_image(ctx: JobContext, *, builder: ImageBuilder) -> None:
    """Cleanup of a cancelled or stale attempt: its own image only (matched by its labels)."""
    try:
        tag = image_tag(ctx.state.project, ctx.state.environment, ctx.deployment_id)
    except BuildContextError:
        return
    await builder.remove_image(tag, labels=image_labels(ctx))
