"""RouteTrafficJob and MarkDeploymentCompleteJob (thin: the fence, the claims and the reconciler
do the work)."""

from __future__ import annotations

import asyncio
from typing import Protocol

from libs.events import subjects
from libs.events.hosts import deployment_host, environment_hosts
from libs.events.outputs import MarkCompleteOutput, RouteTrafficOutput
from libs.events.states import DeploymentState
from libs.events.subjects import Aggregate
from libs.jobs import JobContext, JobError
from libs.settings import Settings
from services.routing.claims import Claimed, RouteClaims
from services.routing.fence import NotAdmitted, RouteTarget
from services.routing.lifecycle import MaintenanceSwitch
from services.routing.targets import NothingToRoute, route_target


class Confirmer(Protocol):
    async def wait_confirmed(self, seq: int, timeout_s: float) -> None: ...


class RoutingHandlers:
    def __init__(
        self,
        claims: RouteClaims,
        maintenance: MaintenanceSwitch,
        confirmer: Confirmer,
        settings: Settings,
    ) -> None:
        self.claims = claims
        self.maintenance = maintenance
        self.confirmer = confirmer
        self.settings = settings

    async def route_traffic(self, ctx: JobContext) -> RouteTrafficOutput:
        state = await ctx.fence()
        env_id = subjects.environment_id(state.project, state.environment)
        target = await self._target(state)
        cause = ctx.started_event_id or f"{ctx.deployment_id}/{ctx.job.id}/{ctx.attempt}"
        ctx.log.info(f"claiming {env_id} for {_describe(target)}")
        # Shielded: once the claim is stored, the maintenance check after it must run even if
        # the deployment ends meanwhile (a user stop racing the claim must not leave it routed).
        claimed = await asyncio.shield(self._claim(ctx, env_id, target, cause))
        if not isinstance(claimed, Claimed):
            ctx.log.info(f"refused: superseded by {claimed}; the deployment is stopped")
            await self.claims.stop_superseded(ctx.deployment_id, claimed, cause=cause)
            await asyncio.Event().wait()  # the executor sees the deployment end and cancels us
            raise AssertionError("unreachable")
        ctx.log.info(f"route claimed (TrafficSwitched seq {claimed.seq}); waiting for Caddy")
        if self.settings.route_hold_after_claim_s:
            await asyncio.sleep(self.settings.route_hold_after_claim_s)
        try:
            await self.confirmer.wait_confirmed(claimed.seq, self.settings.route_confirm_timeout_s)
        except TimeoutError:
            raise JobError(
                f"Caddy did not serve the route within {self.settings.route_confirm_timeout_s:g}s "
                "(is its admin API reachable?); the route stays claimed and is applied as soon "
                "as Caddy answers",
                "proxy-unavailable",
            ) from None
        ctx.log.info("Caddy serves the route")
        env = await self.claims.state(env_id)
        domain = env.config.domain if env.config is not None else state.config.domain
        base = self.settings.base_domain
        return RouteTrafficOutput(
            host=environment_hosts(state.project, state.environment, base, domain)[0],
            deployment_host=deployment_host(ctx.deployment_id, state.project, base),
            upstreams=target.upstreams,
            static_root=target.static_root,
            traffic_seq=claimed.seq,
        )

    async def _claim(
        self, ctx: JobContext, env_id: str, target: RouteTarget, cause: str
    ) -> Claimed | str:
        try:
            result = await self.claims.claim(
                env_id,
                ctx.deployment_id,
                target,
                job_id=ctx.job.id,
                attempt=ctx.attempt,
                cause=cause,
            )
        except NotAdmitted as exc:
            raise JobError(str(exc), "not-admitted") from None
        if not isinstance(result, Claimed):
            return result.by
        await self.maintenance.check(ctx.deployment_id)
        return result

    async def _target(self, state: DeploymentState) -> RouteTarget:
        rollback_target = None
        if state.source.rollback_of:
            loaded = await self.claims.repo.load(
                Aggregate.DEPLOYMENT, state.source.rollback_of, leader=True
            )
            rollback_target = loaded.state
        try:
            return route_target(state, rollback_target, self.settings.static_dir)
        except NothingToRoute as exc:
            raise JobError(str(exc), "nothing-to-route") from None

    async def mark_complete(self, ctx: JobContext) -> MarkCompleteOutput:
        state = ctx.state
        env = await self.claims.state(subjects.environment_id(state.project, state.environment))
        domain = env.config.domain if env.config is not None else state.config.domain
        return MarkCompleteOutput(url=environment_url(state, self.settings, domain))


def environment_url(state: DeploymentState, settings: Settings, domain: str | None = None) -> str:
    """`http://<env>.<project>.<base>[:port]` — plain HTTP on the edge port (§10)."""
    host = environment_hosts(state.project, state.environment, settings.base_domain, domain)[0]
    port = "" if settings.edge_port == 80 else f":{settings.edge_port}"
    return f"http://{host}{port}"


def _describe(target: RouteTarget) -> str:
    if target.static_root:
        return f"static files {target.static_root}"
    return "upstreams " + ", ".join(target.upstreams)
