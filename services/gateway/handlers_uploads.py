"""Uploads (§10): an image tarball (`docker save`) or a static bundle, as multipart field `file`.

Checked before anything is stored or appended: auth (middleware), size, content type, the target,
then the archive itself (422). A repeat with the same `Idempotency-Key` answers with the existing
deployment before the body is even read.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from libs.archives import ArchiveLimits, read_docker_save_manifest, validate_archive
from libs.events.subjects import ObjectPrefix, object_name
from libs.events.values import DeploymentType, Source
from services.gateway.handlers import (
    ENV_PATH,
    create_deployment,
    deps,
    new_deployment_id,
    request_key,
)
from services.gateway.http_io import json_response
from services.gateway.intake import Target, resolve_target, snapshot
from services.gateway.uploads import ReceivedFile, discard, receive_file

router = APIRouter()


async def _prepare(
    request: Request, project: str, environment: str, scope: str
) -> tuple[Target, str, Response | None]:
    d = deps(request)
    target = await resolve_target(d.directory, project, environment)
    key = request_key(request)
    dep_id = new_deployment_id(target, scope, key)
    request.state.deployment_id = dep_id
    if key is not None:
        found = await d.deployments.existing(dep_id)
        if found is not None:
            return target, dep_id, json_response(found.record, found.status)
    return target, dep_id, None


async def _store(request: Request, received: ReceivedFile, name: str) -> None:
    await deps(request).artifacts.put_file(name, received.path)


@router.post(ENV_PATH + "/deploy/image-upload", status_code=202, tags=["deployments"])
async def deploy_image_upload(request: Request, project: str, environment: str) -> Response:
    """multipart `file`: the output of `docker save` (tar or tar.gz)."""
    target, dep_id, repeat = await _prepare(request, project, environment, "image-upload")
    if repeat is not None:
        return repeat
    settings = deps(request).settings
    received = await receive_file(
        request.headers, request.stream(), limit=settings.max_image_upload_bytes
    )
    with discard(received):
        info = await asyncio.to_thread(read_docker_save_manifest, received.path)
        name = object_name(ObjectPrefix.UPLOADS, f"{dep_id}.tar")
        await _store(request, received, name)
    return await create_deployment(
        request,
        target,
        scope="image-upload",
        kind=DeploymentType.IMAGE_UPLOAD,
        source=Source(upload_object=name, image_id=info.image_id),
        config=snapshot(target.config),
        deployment_id=dep_id,
    )


@router.post(ENV_PATH + "/deploy/static", status_code=202, tags=["deployments"])
async def deploy_static(request: Request, project: str, environment: str) -> Response:
    """multipart `file`: a tar.gz or zip of the files to serve."""
    target, dep_id, repeat = await _prepare(request, project, environment, "static")
    if repeat is not None:
        return repeat
    settings = deps(request).settings
    received = await receive_file(
        request.headers, request.stream(), limit=settings.max_static_bundle_bytes
    )
    limits = ArchiveLimits(
        max_files=settings.max_archive_files,
        max_expanded_bytes=settings.max_archive_expanded_bytes,
    )
    with discard(received):
        await asyncio.to_thread(validate_archive, received.path, limits)
        name = object_name(ObjectPrefix.BUNDLES, dep_id)
        await _store(request, received, name)
    return await create_deployment(
        request,
        target,
        scope="static",
        kind=DeploymentType.STATIC_BUNDLE,
        source=Source(bundle=name),
        config=snapshot(target.config),
        deployment_id=dep_id,
    )
