"""The routing desired state (§7) and the Caddy JSON config that serves it. Pure.

Desired = the latest `TrafficSwitched` of each environment, plus one `d-<short id>` route for every
deployment with live containers or static files. The reconciler rebuilds it from the log and makes
Caddy match it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from libs.events.hosts import deployment_host, environment_hosts
from libs.events.outputs import DeployStaticOutput
from libs.events.states import DeploymentState, EnvironmentState
from libs.events.values import JobType

SERVER = "slipway"
FALLBACK_ID = "slipway.fallback"
MAINTENANCE_HTML = (
    "<!doctype html><html><head><meta charset=utf-8><title>Maintenance</title></head>"
    "<body style='font-family:sans-serif;text-align:center;padding-top:15vh'>"
    "<h1>Down for maintenance</h1><p>This app is paused. Please try again later.</p>"
    "</body></html>"
)
NOT_FOUND_BODY = "No app is deployed at this host.\n"


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
    if state.config is None or state.route is None:
        return None
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
        project=state.config.project,
        environment=state.config.environment,
        target=target,
        domain=state.config.domain,
    )


def deployment_route(state: DeploymentState) -> DeploymentRoute | None:
    """The `d-` route while the deployment has published containers or unpruned static files."""
    upstreams = tuple(
        f"{c.host}:{c.port}" for c in sorted(state.containers, key=lambda c: c.replica) if c.port
    )
    if upstreams:
        # A paused app's containers are stopped: its own host shows the maintenance page too.
        target = MAINTENANCE if state.paused else Target("upstreams", upstreams=upstreams)
        return DeploymentRoute(state.id, state.project, target)
    if "static" in state.pruned:
        return None
    for job_type in (JobType.DEPLOY_STATIC, JobType.DEPLOY_STATIC_BUNDLE):
        out = state.output_of(job_type)
        if out is not None:
            root = DeployStaticOutput.model_validate(out).static_root
            return DeploymentRoute(state.id, state.project, Target("static", root=root))
    return None


def _handler(target: Target, try_duration: str, try_interval: str) -> dict[str, Any]:
    if target.kind == "upstreams":
        return {
            "handler": "reverse_proxy",
            "upstreams": [{"dial": u} for u in target.upstreams],
            # No health checks: a failed dial is retried on the next replica for try_duration,
            # so a request arriving during a switch waits instead of getting a 502.
            "load_balancing": {
                "selection_policy": {"policy": "round_robin"},
                "try_duration": try_duration,
                "try_interval": try_interval,
            },
        }
    if target.kind == "static":
        return {"handler": "file_server", "root": target.root}
    return {
        "handler": "static_response",
        "status_code": 503,
        "headers": {
            "Content-Type": ["text/html; charset=utf-8"],
            "Retry-After": ["60"],
            "Cache-Control": ["no-store"],
        },
        "body": MAINTENANCE_HTML,
    }


def caddy_config(
    desired: DesiredState,
    edge_listen: str = ":8080",
    admin: str = "127.0.0.1:2019",
    *,
    try_duration: str = "5s",
    try_interval: str = "100ms",
) -> dict[str, Any]:
    """The full Caddy JSON config: one server `slipway`, plain HTTP, a route per site with its
    `@id`, and a 404 fallback."""
    routes: list[dict[str, Any]] = [
        {
            "@id": r.id,
            "match": [{"host": list(r.hosts)}],
            "handle": [_handler(r.target, try_duration, try_interval)],
            "terminal": True,
        }
        for r in desired.routes
    ]
    routes.append(
        {
            "@id": FALLBACK_ID,
            "handle": [
                {
                    "handler": "static_response",
                    "status_code": 404,
                    "headers": {"Content-Type": ["text/plain; charset=utf-8"]},
                    "body": NOT_FOUND_BODY,
                }
            ],
        }
    )
    return {
        "admin": {"listen": admin},
        "apps": {
            "http": {
                "servers": {
                    SERVER: {
                        "listen": [edge_listen],
                        "automatic_https": {"disable": True},
                        "routes": routes,
                    }
                }
            }
        },
    }
