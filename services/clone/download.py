"""DownloadRepoJob (§4, §5): the exact commit, packed into the object store for the build."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from libs.artifacts import ArtifactStore
from libs.events.outputs import DownloadRepoOutput
from libs.events.subjects import ObjectPrefix, object_name
from libs.jobs import JobContext, JobError, JobResult
from services.clone.credentials import BadCredential, CredentialsFor, git_auth
from services.clone.git import CheckoutRequest, GitClient, GitError, Stream
from services.clone.sources import SourceError, app_dir_of, pack_source, read_slipway_toml
from services.clone.urls import UnsafeRepoUrl, parse_commit, parse_ref, parse_repo_url


def source_object(deployment_id: str) -> str:
    return object_name(ObjectPrefix.SOURCES, f"{deployment_id}.tar.gz")


def checkout_request(ctx: JobContext) -> CheckoutRequest:
    """Everything git will be given, checked first: a refusal here means nothing ran."""
    source = ctx.state.source
    settings = ctx.settings
    try:
        url = parse_repo_url(source.repo_url, allow_local=settings.allow_local_repos)
        commit = parse_commit(source.commit_sha) if source.commit_sha else None
        ref = parse_ref(source.branch) if source.branch and commit is None else None
    except UnsafeRepoUrl as exc:
        raise JobError(str(exc), "bad_source") from None
    return CheckoutRequest(
        url=url,
        commit=commit,
        ref=ref,
        allow_local=settings.allow_local_repos,
        timeout_s=settings.clone_timeout_s,
        max_bytes=settings.max_source_bytes,
    )


async def download_repo(
    ctx: JobContext, *, git: GitClient, artifacts: ArtifactStore, credentials: CredentialsFor
) -> JobResult:
    request = checkout_request(ctx)
    state = ctx.state
    try:
        auth = await git_auth(request.url, credentials(state.project, state.environment))
    except BadCredential as exc:
        raise JobError(str(exc), "bad_credential") from None
    request = replace(request, auth=auth)
    what = request.commit or request.ref or "the default branch"
    ctx.log.info(f"checking out {what} of {request.url}")

    def log(line: str, stream: Stream) -> None:
        ctx.log.write(line, stream=stream)

    work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="slipway-clone-"))
    try:
        checkout = work / "src"
        try:
            commit = await git.checkout(request, checkout, log)
        except GitError as exc:
            raise JobError(exc.message, exc.code) from None
        ctx.log.info(f"commit {commit.sha[:12]}: {commit.message.splitlines()[0][:100]}")
        try:
            app_dir = app_dir_of(checkout, state.config.app_dir)
            toml = read_slipway_toml(checkout, app_dir)
            tarball = work / "source.tar.gz"
            size = await asyncio.to_thread(
                pack_source, checkout, tarball, ctx.settings.max_source_bytes
            )
        except SourceError as exc:
            raise JobError(str(exc), exc.code) from None
        name = source_object(ctx.deployment_id)
        await artifacts.put_file(name, tarball)
        ctx.log.info(f"source stored as {name} ({size} bytes)")
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
    return JobResult(
        DownloadRepoOutput(
            commit_sha=commit.sha,
            commit_message=commit.message,
            author=commit.author,
            committed_at=commit.committed_at or None,
            source_object=name,
            size_bytes=size,
            slipway_toml=toml,
        )
    )
