"""What a deployment routes to (pure): its live replicas, its static files, or, for the rollback of
a static deployment, the files of its target."""

from __future__ import annotations

from pathlib import Path

from libs.events.outputs import DeployImageOutput, RouteTrafficOutput
from libs.events.states import DeploymentState
from libs.events.values import ContainerInfo, JobType
from services.routing.desired import static_root_of
from services.routing.fence import RouteTarget


class NothingToRoute(Exception):
    """No containers, no static files: the message says what is missing."""


def upstreams_of(state: DeploymentState) -> tuple[str, ...]:
    """host:port of the replicas the latest deploy job started and that are still live; when
    that job left no output, every live container."""
    live = {c.id: c for c in state.containers if c.port}
    chosen: list[ContainerInfo] = list(live.values())
    out = state.output_of(JobType.DEPLOY_IMAGE)
    if out is not None:
        started = [
            live[c.id] for c in DeployImageOutput.model_validate(out).containers if c.id in live
        ]
        chosen = started or chosen
    return tuple(f"{c.host}:{c.port}" for c in sorted(chosen, key=lambda c: c.replica))


def routed_static_root(state: DeploymentState) -> str | None:
    out = state.output_of(JobType.ROUTE_TRAFFIC)
    return RouteTrafficOutput.model_validate(out).static_root if out is not None else None


def target_static_root(target: DeploymentState, static_dir: Path) -> str:
    """Where a rollback finds its target's files: what the target placed or routed, else the
    deploy service's convention `<static dir>/<deployment id>`."""
    if "static" in target.pruned:
        raise NothingToRoute(f"the static files of {target.id} were pruned — redeploy it")
    return (
        static_root_of(target)
        or routed_static_root(target)
        or str(Path(static_dir).absolute() / target.id)
    )


def route_target(
    state: DeploymentState, rollback_target: DeploymentState | None, static_dir: Path
) -> RouteTarget:
    upstreams = upstreams_of(state)
    if upstreams:
        return RouteTarget(upstreams=upstreams)
    root = static_root_of(state)
    if root is not None:
        return RouteTarget(static_root=root)
    if state.source.rollback_of:
        if rollback_target is None or not rollback_target.requested:
            raise NothingToRoute(f"rollback target {state.source.rollback_of} is unknown")
        return RouteTarget(static_root=target_static_root(rollback_target, static_dir))
    raise NothingToRoute("nothing to route: the deployment has no live containers and no files")
