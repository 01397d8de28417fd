"""PullExternalImageJob and VerifyLocalImageJob (§4, §5): make sure the image to run is local.

Both answer `ImageOutput` (id, digest, size, exposed ports); the DeployImageJob after them runs
exactly that image id.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from libs.archives import ArchiveError, read_docker_save_manifest
from libs.artifacts import ArtifactNotFound, ArtifactStore
from libs.containers.runtime import (
    ImageInfo,
    ImageNotFound,
    ImageStore,
    InvalidImageArchive,
    RegistryAuth,
    RegistryError,
)
from libs.events.outputs import ImageOutput
from libs.events.values import DeploymentType
from libs.jobs import JobContext, JobError
from services.deploy.variables import (
    REGISTRY_PASSWORD,
    REGISTRY_USER,
    VariableError,
    Variables,
)

PULL_POLICIES = ("missing", "always")
IMAGE_MISMATCH = "image id mismatch, refusing to deploy a changed image"


def image_output(info: ImageInfo) -> ImageOutput:
    return ImageOutput(
        image_id=info.id,
        digest=info.digest,
        size_bytes=info.size,
        exposed_ports=info.exposed_ports,
    )


async def registry_auth(ctx: JobContext, variables: Variables) -> RegistryAuth | None:
    """Registry credentials from the secrets KV at the snapshot's revisions, when it names them."""
    state = ctx.state
    wanted = {
        n: r for n, r in state.config.variables.items() if n in (REGISTRY_USER, REGISTRY_PASSWORD)
    }
    if not wanted:
        return None
    try:
        values = await variables.resolve(state.project, state.environment, wanted)
    except VariableError as exc:
        raise JobError(str(exc), "variables") from None
    user, password = values.get(REGISTRY_USER), values.get(REGISTRY_PASSWORD)
    if not user or password is None:
        absent = REGISTRY_PASSWORD if user else REGISTRY_USER
        raise JobError(f"registry credentials are incomplete: {absent} is not set", "variables")
    return RegistryAuth(user, password)


async def pull_external_image(
    ctx: JobContext, images: ImageStore, variables: Variables
) -> ImageOutput:
    source = ctx.state.source
    ref = source.image_ref
    if not ref:
        raise JobError("the deployment names no image to pull (source.image_ref)", "bad_input")
    policy = source.pull or "missing"
    if policy not in PULL_POLICIES:
        raise JobError(f"unknown pull policy {policy!r} (use missing or always)", "bad_input")
    if policy == "missing":
        try:
            info = await images.image_info(ref)
        except ImageNotFound:
            pass
        else:
            ctx.log.info(f"using the local image {ref} ({info.id[:19]}): pull policy missing")
            return image_output(info)
    auth = await registry_auth(ctx, variables)
    who = f" as {auth.username}" if auth else ""
    ctx.log.info(f"pulling {ref}{who}")
    try:
        info = await images.pull(ref, auth)
    except RegistryError as exc:
        raise JobError(str(exc), "pull_failed") from None
    ctx.log.info(f"pulled {ref}: {info.id[:19]}, digest {info.digest or 'unknown'}")
    return image_output(info)


async def verify_local_image(
    ctx: JobContext, images: ImageStore, artifacts: ArtifactStore, work_dir: Path | None = None
) -> ImageOutput:
    state = ctx.state
    expected = state.source.image_id
    if not expected:
        raise JobError("the deployment records no image id to verify", "bad_input")
    if state.deployment_type is DeploymentType.ROLLBACK or not state.source.upload_object:
        return await _still_present(ctx, images, expected)
    return await _load_upload(ctx, images, artifacts, state.source.upload_object, work_dir)


async def _still_present(ctx: JobContext, images: ImageStore, image_id: str) -> ImageOutput:
    try:
        info = await images.image_info(image_id)
    except ImageNotFound:
        source = ctx.state.source
        commit = source.commit_sha or source.image_ref or source.rollback_of or image_id
        raise JobError(f"image pruned — redeploy commit {commit}", "image_pruned") from None
    ctx.log.info(f"image {image_id[:19]} is still present")
    return image_output(info)


async def _load_upload(
    ctx: JobContext,
    images: ImageStore,
    artifacts: ArtifactStore,
    object_name: str,
    work_dir: Path | None,
) -> ImageOutput:
    expected = ctx.state.source.image_id
    assert expected is not None
    if work_dir is not None:
        await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="slipway-upload-", dir=work_dir) as tmp:
        tar = Path(tmp) / "image.tar"
        try:
            size = await artifacts.get_file(object_name, tar)
        except ArtifactNotFound:
            raise JobError(f"the uploaded image {object_name} is gone", "upload_missing") from None
        ctx.log.info(f"fetched {object_name} ({size} bytes)")
        # The archive names its image id (the sha256 of its config, checked while reading):
        # a changed upload is refused before anything reaches the engine.
        try:
            claimed = await asyncio.to_thread(read_docker_save_manifest, tar)
        except ArchiveError as exc:
            raise JobError(f"the uploaded image is unusable: {exc.reason}", "bad_upload") from None
        if claimed.image_id != expected:
            ctx.log.error(f"the upload holds {claimed.image_id}, recorded {expected}")
            raise JobError(IMAGE_MISMATCH, "image_mismatch")
        try:
            loaded = await images.load_image(tar)
        except InvalidImageArchive as exc:
            raise JobError(f"docker load refused the upload: {exc}", "bad_upload") from None
    if expected not in loaded:
        # The engine computed another id than the archive claimed: never run what we did not check.
        ctx.log.error(f"docker load produced {', '.join(loaded)}, recorded {expected}")
        raise JobError(IMAGE_MISMATCH, "image_mismatch")
    info = await images.image_info(expected)
    ctx.log.info(f"loaded {expected[:19]}: the recorded image id matches")
    return image_output(info)
