"""DeployImageJob (§7): start the replicas of the deployment's image, record them, succeed.

Idempotent under retries: container names and labels carry the attempt, `run` returns a container
that already has its name, and a stale attempt removes only its own containers (`cleanup`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from libs.containers.runtime import ContainerRuntime
from libs.events.outputs import DeployImageOutput, DownloadRepoOutput
from libs.events.states import DeploymentState
from libs.events.subjects import Aggregate
from libs.events.values import DeploymentType, JobType
from libs.eventstore import Repository
from libs.jobs import JobContext, JobError
from services.deploy.appends import record_removed, record_started
from services.deploy.containers import (
    DeployInput,
    DeployInputError,
    container_specs,
    deploy_input,
)
from services.deploy.variables import CRON_SECRET, VariableError, Variables

CLEANUP_GRACE_S = 2.0


async def _values(ctx: JobContext, variables: Variables) -> tuple[dict[str, str], str]:
    """User variables at the snapshot's revisions, and the environment's CRON_SECRET."""
    state = ctx.state
    try:
        values = await variables.resolve(state.project, state.environment, state.config.variables)
        cron = values.pop(CRON_SECRET, None)
        if cron is None:
            cron = await variables.cron_secret(state.project, state.environment)
    except VariableError as exc:
        raise JobError(str(exc), "variables") from None
    return values, cron


async def _rollback_target(repo: Repository, state: DeploymentState) -> DeploymentState | None:
    if state.deployment_type is not DeploymentType.ROLLBACK or not state.source.rollback_of:
        return None
    loaded = await repo.load(Aggregate.DEPLOYMENT, state.source.rollback_of, leader=True)
    return loaded.state if loaded.exists else None


def _with_target(inp: DeployInput, target: DeploymentState | None) -> DeployInput:
    """A rollback has no DownloadRepoJob: its slipway.toml (port, replicas, start command) and
    commit are the target's, as its config snapshot is."""
    if target is None or inp.toml is not None:
        return inp
    out = target.output_of(JobType.DOWNLOAD_REPO)
    repo_out = DownloadRepoOutput.model_validate(out) if out is not None else None
    return dataclasses.replace(
        inp,
        toml=repo_out.slipway_toml if repo_out else None,
        commit_sha=inp.commit_sha
        or target.source.commit_sha
        or (repo_out.commit_sha if repo_out else None),
    )


async def deploy_image(
    ctx: JobContext,
    runtime: ContainerRuntime,
    variables: Variables,
    repo: Repository,
    *,
    network: str | None = None,
) -> DeployImageOutput:
    state = ctx.state
    values, cron = await _values(ctx, variables)
    try:
        inp = deploy_input(
            state,
            ctx.job.id,
            ctx.attempt,
            variables=values,
            cron_secret=cron,
            network=network,
        )
        inp = _with_target(inp, await _rollback_target(repo, state))
        specs = container_specs(inp)
    except DeployInputError as exc:
        raise JobError(str(exc), "bad_input") from None
    port = specs[0].port
    names = ", ".join(sorted(values)) or "none"
    ctx.log.info(
        f"starting {len(specs)} replica(s) of {inp.image[:19]} on container port {port}; "
        f"variables: {names}"
    )
    await ctx.fence()
    started = await asyncio.gather(*(runtime.run(spec) for spec in specs))
    for info in started:
        ctx.log.info(f"replica {info.replica}: {info.name} at {info.host}:{info.port}")
    await record_started(repo, ctx.deployment_id, ctx.job.id, ctx.attempt, started, ctx.executor)
    return DeployImageOutput(containers=tuple(started), port=port)


async def remove_attempt_containers(
    ctx: JobContext, runtime: ContainerRuntime, repo: Repository
) -> None:
    """Cleanup of a stale or stopped attempt: its own containers only (by its labels)."""
    mine = await runtime.list(ctx.labels)
    for found in mine:
        await runtime.stop_and_remove(
            found.info.id, min(ctx.settings.stop_grace_s, CLEANUP_GRACE_S)
        )
    if mine:
        ended = ctx.state.ended
        reason = ended.value if ended is not None else "stale attempt"
        with contextlib.suppress(Exception):
            await record_removed(repo, ctx.deployment_id, [m.info.id for m in mine], reason)
