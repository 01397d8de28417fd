"""The routing desired state (§7). Pure.

Desired = the latest `TrafficSwitched` of each environment, plus one `d-<short id>` route for every
deployment with live containers or static files. The reconciler rebuilds it from the log and makes
Caddy match it (`caddy_config` turns it into Caddy's JSON and the route files).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from libs.events.hosts import deployment_host, environment_hosts
from libs.events.outputs import DeployStaticOutput
from libs.events.states import DeploymentState, EnvironmentState
from libs.events.values import JobType

MAINTENANCE_HTML = (
    "<!doctype html><html><head><meta charset=utf-8><title>Maintenance</title></head>"
    "<body style='font-family:sans-serif;text-align:center;padding-top:15vh'>"
    "<h1>Down for maintenance</h1><p>This app is paused. Please try again later.</p>"
    "</body></html>"
)


@dataclass(frozen=True)
class Target:
    """What a host serves: replicas (round-robin), a static directory, or the 503 page."""

    kind: Literal["upstreams", "static", "maintenance"]
    upstreams: tuple[str, ...] = ()  # host:port
    root: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "upstreams" and not self.upstreams:
            raise ValueError("an upstreams target needs at least one upstream")
        for upstream in self.upstreams:
            host, _, port = upstream.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"upstream {upstream!r} is not host:port")
        if self.kind == "static" and not self.root:
            raise ValueError("a static target needs a root directory")


MAINTENANCE = Target("maintenance")


@dataclass(frozen=True)
class SiteRoute:
    id: str  # Caddy `@id`: env.<project>.<env> or dep.<deployment id> (labels hold no dots)
    hosts: tuple[str, ...]
    target: Target


@dataclass(frozen=True)
class DesiredState:
    routes: tuple[SiteRoute, ...] = ()

    def route_for(self, host: str) -> SiteRoute | None:
        """The route a request for `host` takes (first match, as in Caddy)."""
        name = host.split(":", 1)[0].lower()
        return next((r for r in self.routes if name in r.hosts), None)


@dataclass(frozen=True)
class EnvironmentRoute:
    project: str
    environment: str
    target: Target
    domain: str | None = None


@dataclass(frozen=True)
class DeploymentRoute:
    deployment_id: str
    project: str
    target: Target


def desired_state(
    environments: Iterable[EnvironmentRoute],
    deployments: Iterable[DeploymentRoute],
    base_domain: str,
) -> DesiredState:
    """Environment routes first, then deployment routes; each group sorted, so equal inputs give
    equal configs and the reconciler can compare."""
    env_routes = sorted(
        (
            SiteRoute(
                id=f"env.{e.project}.{e.environment}",
                hosts=environment_hosts(e.project, e.environment, base_domain, e.domain),
                target=e.target,
            )
            for e in environments
        ),
        key=lambda r: r.id,
    )
    dep_routes = sorted(
        (
            SiteRoute(
                id=f"dep.{d.deployment_id}",
                hosts=(deployment_host(d.deployment_id, d.project, base_domain),),
                target=d.target,
            )
            for d in deployments
        ),
        key=lambda r: r.id,
    )
    return DesiredState(routes=(*env_routes, *dep_routes))


def environment_route(state: EnvironmentState) -> EnvironmentRoute | None:
    """The route of the environment's latest `TrafficSwitched`; None before the first one."""
    if state.route is None:
        return None
    if state.config is not None:
        project, environment = state.config.project, state.config.environment
    else:
        project, _, environment = state.id.partition("_")  # the id is <project>_<environment>
    route = state.route
    if route.mode == "maintenance":
        target = MAINTENANCE
    elif route.upstreams:
        target = Target("upstreams", upstreams=route.upstreams)
    elif route.static_root:
        target = Target("static", root=route.static_root)
    else:
        target = MAINTENANCE
    return EnvironmentRoute(
        project=project,
        environment=environment,
        target=target,
        domain=state.config.domain if state.config is not None else None,
    )


def deployment_route(
    state: DeploymentState, routed_static_root: str | None = None
) -> DeploymentRoute | None:
    """The `d-` route while the deployment has published containers or unpruned static files.

    `routed_static_root`: the files a static rollback routed (they belong to its target, which
    the caller has checked are not pruned)."""
    upstreams = tuple(
        f"{c.host}:{c.port}" for c in sorted(state.containers, key=lambda c: c.replica) if c.port
    )
    if upstreams:
        # A paused app's containers are stopped: its own host shows the maintenance page too.
        target = MAINTENANCE if state.paused else Target("upstreams", upstreams=upstreams)
        return DeploymentRoute(state.id, state.project, target)
    if "static" in state.pruned:
        return None
    root = static_root_of(state) or routed_static_root
    if root is None:
        return None
    target = MAINTENANCE if state.paused else Target("static", root=root)
    return DeploymentRoute(state.id, state.project, target)


def static_root_of(state: DeploymentState) -> str | None:
    """The directory a DeployStatic*Job placed, if any."""
    for job_type in (JobType.DEPLOY_STATIC, JobType.DEPLOY_STATIC_BUNDLE):
        out = state.output_of(job_type)
        if out is not None:
            return DeployStaticOutput.model_validate(out).static_root
    return None
