"""The ConfigureCronsJob handler and its cleanup."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from libs.events.outputs import ArtifactOutput
from libs.events.states import EnvironmentState
from libs.events.subjects import environment_id
from libs.jobs import Fenced, JobContext, JobError, JobSkip
from services.postdeploy.cron_schedule import CronClock
from services.postdeploy.crons import (
    CronsUnreadable,
    Superseded,
    admission_number,
    crons_of,
    newer_route_owner,
    register,
    registration_output,
    remove_deployment,
)
from services.postdeploy.ports import CronStore

EnvironmentReader = Callable[[str], Awaitable[EnvironmentState]]


async def configure_crons(
    ctx: JobContext,
    *,
    store: CronStore,
    environments: EnvironmentReader,
    clock: CronClock,
    now: Callable[[], float] = time.time,
) -> ArtifactOutput:
    state = ctx.state
    try:
        specs = crons_of(state)
    except CronsUnreadable as exc:
        raise JobError(str(exc), "bad_config") from None
    env = await environments(environment_id(state.project, state.environment))
    number = admission_number(env, ctx.deployment_id)
    newer = newer_route_owner(env, ctx.deployment_id, number)
    if newer is not None:
        raise JobSkip(f"superseded by {newer}: the environment runs that deployment's crons")
    await ctx.fence()
    try:
        reg = await register(
            store,
            project=state.project,
            environment=state.environment,
            deployment_id=ctx.deployment_id,
            admission=number,
            specs=specs,
            now=now(),
            clock=clock,
        )
    except Superseded as exc:
        raise JobSkip(str(exc)) from None
    # Ended while we wrote: the lifecycle consumer may have looked before our records existed.
    latest = await ctx.refresh()
    if latest.ended is not None:
        await remove_deployment(store, state.project, state.environment, ctx.deployment_id)
        raise Fenced(f"deployment {latest.status.value} while registering its crons; removed")
    for r in reg.registered:
        ctx.log.info(f"cron {r.method} {r.path} [{r.schedule}, {r.timezone}] registered")
    if reg.replaced:
        ctx.log.info(f"removed {len(reg.replaced)} cron(s) of the previous deployment")
    return registration_output(reg, specs)


async def remove_crons_if_ended(ctx: JobContext, *, store: CronStore) -> None:
    """Cleanup: only an ended deployment loses its crons (a stale attempt shares the keys of the
    attempt that replaced it, so it must not touch them)."""
    state = await ctx.refresh()
    if state.ended is not None:
        await remove_deployment(store, state.project, state.environment, ctx.deployment_id)
