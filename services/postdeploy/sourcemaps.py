"""CaptureSourceMapsJob: the `*.map` files of the build output, stored by commit.

Static builds: the deployment's static directory when this host has it, else the static object
(tar or tar.gz) it was deployed from. Images: maps anywhere outside the system directories and
`node_modules` (dependencies' maps are theirs, not the app's). Each map is stored as
`sourcemaps/<commit>/<path>`, so an error tracker can find it from the commit of a stack trace.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import tempfile
from pathlib import Path

from libs.archives import ArchiveError, ArchiveLimits
from libs.archives.formats import open_archive
from libs.archives.rules import MemberKind
from libs.artifacts import ArtifactNotFound, Artifacts, ArtifactStore
from libs.containers.runtime import ContainerRuntimeError, DockerUnavailable, ImageNotFound
from libs.events.outputs import ArtifactOutput, DeployStaticOutput
from libs.events.states import DeploymentState
from libs.events.subjects import ObjectPrefix, object_name
from libs.events.values import JobType
from libs.jobs import JobContext, JobError, JobSkip
from libs.records import image_of
from services.postdeploy.ports import ImageFiles

MAX_MAPS = 2000
MAX_MAP_BYTES = 50 * 1024 * 1024
SYSTEM_DIRS = (
    "bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "run", "sbin",
    "sys", "usr", "var",
)  # fmt: skip


def safe_relpath(name: str) -> str | None:
    """A normalised relative path, or None for one that is absolute or climbs out."""
    norm = posixpath.normpath(name.replace("\\", "/")).lstrip("/")
    if norm in ("", ".") or norm == ".." or norm.startswith("../"):
        return None
    return norm


def is_source_map(path: str) -> bool:
    return path.endswith(".map") and "node_modules" not in path.split("/")


def is_app_source_map(path: str) -> bool:
    """In an image: a map outside the system directories and dependencies."""
    return is_source_map(path) and path.split("/", 1)[0] not in SYSTEM_DIRS


def commit_of(state: DeploymentState) -> str | None:
    if state.source.commit_sha:
        return state.source.commit_sha
    out = state.output_of(JobType.DOWNLOAD_REPO) or {}
    commit = out.get("commit_sha")
    return str(commit) if commit else None


def static_output(state: DeploymentState) -> DeployStaticOutput | None:
    """Where the static files are: the deploy job's root, and the object they came from (the
    deploy job's, else the build's)."""
    for jt in (JobType.DEPLOY_STATIC, JobType.DEPLOY_STATIC_BUNDLE):
        out = state.output_of(jt)
        if out is not None:
            deployed = DeployStaticOutput.model_validate(out)
            if deployed.static_object is None:
                built = state.output_of(JobType.BUILD_IMAGE) or {}
                source = built.get("static_object") or state.source.static_object
                if source:
                    deployed = deployed.model_copy(update={"static_object": str(source)})
            return deployed
    return None


def sourcemap_object(key: str, path: str) -> str:
    return object_name(ObjectPrefix.SOURCEMAPS, key, path)


def _maps_in_dir(root: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "node_modules")
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            rel = safe_relpath(path.relative_to(root).as_posix())
            if rel is None or not is_source_map(rel) or path.is_symlink():
                continue
            if path.stat().st_size <= MAX_MAP_BYTES and len(found) < MAX_MAPS:
                found[rel] = path.read_bytes()
    return found


def _maps_in_archive(archive: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with open_archive(archive, ArchiveLimits()) as (_, entries):
        for entry in entries:
            member = entry.member
            rel = safe_relpath(member.name)
            if member.kind is not MemberKind.FILE or rel is None or not is_source_map(rel):
                continue
            if member.size <= MAX_MAP_BYTES and len(found) < MAX_MAPS:
                found[rel] = b"".join(entry.chunks())
    return found


async def _static_maps(
    out: DeployStaticOutput, objects: ArtifactStore
) -> tuple[dict[str, bytes], str]:
    root = Path(out.static_root)
    if await asyncio.to_thread(root.is_dir):
        return await asyncio.to_thread(_maps_in_dir, root), f"static files {root}"
    if not out.static_object:
        raise JobError(f"static files {root} are gone and no object holds them", "no_output")
    with tempfile.TemporaryDirectory(prefix="slipway-maps-") as tmp:
        archive = Path(tmp) / "static"
        try:
            await objects.get_file(out.static_object, archive)
        except ArtifactNotFound:
            raise JobError(f"static object {out.static_object} is gone", "no_output") from None
        try:
            maps = await asyncio.to_thread(_maps_in_archive, archive)
        except ArchiveError as exc:
            raise JobError(
                f"static object {out.static_object}: {exc.reason}", "bad_output"
            ) from None
    return maps, f"static object {out.static_object}"


async def capture_source_maps(
    ctx: JobContext,
    *,
    files: ImageFiles | None,
    objects: Artifacts,
) -> ArtifactOutput:
    state = ctx.state
    commit = commit_of(state)
    key = commit or f"deployment-{ctx.deployment_id}"
    static = static_output(state)
    image = image_of(state)
    if static is not None:
        maps, where = await _static_maps(static, objects)
    elif image is not None:
        if files is None:
            raise JobSkip("no Docker Engine to read the image from")
        try:
            maps = await files.read(
                image, is_app_source_map, labels=ctx.labels, max_file_bytes=MAX_MAP_BYTES
            )
        except ImageNotFound as exc:
            raise JobError(str(exc), "image_missing") from None
        except DockerUnavailable as exc:
            raise JobError(str(exc), "docker_unavailable") from None
        except ContainerRuntimeError as exc:
            raise JobError(str(exc), "docker_error") from None
        where = f"image {image}"
    else:
        raise JobSkip("no build output to look in (neither static files nor an image)")
    names = []
    for rel in sorted(maps)[:MAX_MAPS]:
        name = sourcemap_object(key, rel)
        await objects.put_bytes(name, maps[rel])
        names.append(name)
    n = len(names)
    if n:
        summary = f"{n} source map{'s' if n != 1 else ''} captured from {where}"
        summary += f" for commit {commit[:12]}" if commit else ""
    else:
        summary = f"no source maps in {where}"
    ctx.log.info(summary)
    return ArtifactOutput(
        objects=tuple(names),
        summary=summary,
        details={"commit": commit, "key": key, "files": sorted(maps)[:MAX_MAPS], "source": where},
    )
