"""The routing desired state and its Caddy config (pure)."""

from __future__ import annotations

import pytest

from libs.events.catalog import EnvironmentConfigured
from libs.events.states import DeploymentState, EnvironmentState, JobState, JobStatus, Route
from libs.events.values import ContainerInfo, JobType
from services.routing.desired import (
    FALLBACK_ID,
    MAINTENANCE,
    DeploymentRoute,
    EnvironmentRoute,
    Target,
    caddy_config,
    deployment_route,
    desired_state,
    environment_route,
)

DEP = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"


def _routes(config: dict[str, object]) -> list[dict[str, object]]:
    return config["apps"]["http"]["servers"]["slipway"]["routes"]  # type: ignore[index, no-any-return]


def test_config_has_one_plain_http_server_with_addressable_routes_and_a_404_fallback() -> None:
    desired = desired_state(
        [EnvironmentRoute("shop", "production", Target("upstreams", ("127.0.0.1:1", "h:2")))],
        [DeploymentRoute(DEP, "shop", Target("static", root="/srv/x"))],
        "localhost",
    )
    config = caddy_config(desired, ":9090", "127.0.0.1:3019")
    assert config["admin"] == {"listen": "127.0.0.1:3019"}
    server = config["apps"]["http"]["servers"]["slipway"]
    assert server["listen"] == [":9090"]
    assert server["automatic_https"] == {"disable": True}
    env, dep, fallback = _routes(config)
    assert env["@id"] == "env.shop.production"
    assert env["match"] == [{"host": ["production.shop.localhost", "shop.localhost"]}]
    proxy = env["handle"][0]  # type: ignore[index]
    assert proxy["upstreams"] == [{"dial": "127.0.0.1:1"}, {"dial": "h:2"}]
    assert proxy["load_balancing"]["selection_policy"] == {"policy": "round_robin"}
    assert proxy["load_balancing"]["try_duration"] == "5s"
    assert "health_checks" not in proxy
    assert dep["match"] == [{"host": ["d-0f1e2d3c.shop.localhost"]}]
    assert dep["handle"] == [{"handler": "file_server", "root": "/srv/x"}]
    assert fallback["@id"] == FALLBACK_ID
    assert fallback["handle"][0]["status_code"] == 404  # type: ignore[index]


def test_maintenance_is_a_static_503_page() -> None:
    config = caddy_config(desired_state([EnvironmentRoute("a", "b", MAINTENANCE)], [], "x"))
    handler = _routes(config)[0]["handle"][0]  # type: ignore[index]
    assert handler["handler"] == "static_response"
    assert handler["status_code"] == 503


def test_equal_inputs_in_any_order_give_equal_configs() -> None:
    one = EnvironmentRoute("a", "prod", MAINTENANCE)
    two = EnvironmentRoute("b", "prod", Target("static", root="/r"))
    assert caddy_config(desired_state([one, two], [], "x")) == caddy_config(
        desired_state([two, one], [], "x")
    )


def test_route_for_finds_a_host_with_or_without_port() -> None:
    desired = desired_state([EnvironmentRoute("a", "staging", MAINTENANCE, "A.example")], [], "x")
    assert desired.route_for("staging.a.x:8080") is not None
    assert desired.route_for("a.example") is not None
    assert desired.route_for("a.x") is None  # only production owns the project host


@pytest.mark.parametrize(
    ("kind", "upstreams", "root", "message"),
    [
        ("upstreams", (), None, "at least one"),
        ("upstreams", ("no-port",), None, "host:port"),
        ("upstreams", ("h:99999",), None, "host:port"),
        ("static", (), None, "root"),
    ],
)
def test_bad_targets_are_refused(
    kind: str, upstreams: tuple[str, ...], root: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Target(kind, upstreams, root)  # type: ignore[arg-type]


def _env(route: Route | None) -> EnvironmentState:
    config = EnvironmentConfigured(project="shop", environment="production", domain="shop.io")
    return EnvironmentState(id="shop_production", config=config, route=route)


def test_environment_route_follows_the_latest_traffic_switch() -> None:
    assert environment_route(_env(None)) is None
    up = environment_route(_env(Route("deployment", DEP, ("127.0.0.1:5",), None, 1, 9)))
    assert up is not None and up.target == Target("upstreams", ("127.0.0.1:5",))
    assert up.domain == "shop.io"
    static = environment_route(_env(Route("deployment", DEP, (), "/srv/d", 1, 9)))
    assert static is not None and static.target == Target("static", root="/srv/d")
    paused = environment_route(_env(Route("maintenance", DEP, ("127.0.0.1:5",), None, 1, 9)))
    assert paused is not None and paused.target == MAINTENANCE


def _dep(**changes: object) -> DeploymentState:
    return DeploymentState(id=DEP, project="shop", environment="production", **changes)  # type: ignore[arg-type]


def test_deployment_route_serves_its_replicas_in_order() -> None:
    containers = (
        ContainerInfo(id="b", name="b", host="127.0.0.1", port=2, replica=1),
        ContainerInfo(id="a", name="a", host="127.0.0.1", port=1, replica=0),
    )
    route = deployment_route(_dep(containers=containers))
    assert route is not None
    assert route.target.upstreams == ("127.0.0.1:1", "127.0.0.1:2")
    paused = deployment_route(_dep(containers=containers, paused=True))
    assert paused is not None and paused.target == MAINTENANCE


def test_deployment_route_serves_static_files_until_they_are_pruned() -> None:
    job = JobState(
        id="deploy-static",
        type=JobType.DEPLOY_STATIC,
        depends_on=(),
        optional=False,
        order=0,
        segment=0,
        status=JobStatus.SUCCESS,
        attempt=1,
        output={"static_root": "/srv/d"},
    )
    route = deployment_route(_dep(jobs={"deploy-static": job}))
    assert route is not None and route.target == Target("static", root="/srv/d")
    assert deployment_route(_dep(jobs={"deploy-static": job}, pruned=frozenset({"static"}))) is None
    assert deployment_route(_dep()) is None
