"""What a deployment routes to, and the routing view folded from the log (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from libs.events import catalog as ev
from libs.events.envelope import Envelope
from libs.events.fold import Recorded, fold_deployment
from libs.events.plans import initial_plan
from libs.events.values import ContainerInfo, DeploymentType, Preset, Source
from services.routing.desired import MAINTENANCE, Target
from services.routing.fence import RouteTarget
from services.routing.targets import NothingToRoute, route_target
from services.routing.view import RoutingView
from tests.factories import Story, dep_event, env_event, requested

ENV = "proj_prod"


def _c(cid: str, port: int, replica: int = 0) -> ContainerInfo:
    return ContainerInfo(id=cid, name=cid, host="127.0.0.1", port=port, replica=replica)


def _deployed(dep: str, *containers: ContainerInfo) -> Story:
    story = Story(dep).admit().run("pull").start("deploy")
    story.add(ev.ContainersStarted(job_id="deploy", attempt=1, containers=containers))
    return story.succeed("deploy", {"containers": [c.model_dump() for c in containers], "port": 80})


def test_upstreams_are_the_live_replicas_the_latest_deploy_job_started_in_replica_order() -> None:
    story = _deployed("d1", _c("b", 5002, 1), _c("a", 5001, 0))
    stray = _c("old", 4000)  # a crashed attempt's container the reconciler has not removed yet
    story.add(ev.ContainersStarted(job_id="deploy", attempt=1, containers=(stray,)))
    target = route_target(story.state, None, Path("/srv"))
    assert target == RouteTarget(upstreams=("127.0.0.1:5001", "127.0.0.1:5002"))


def test_a_static_deployment_routes_its_files() -> None:
    story = Story("s1", DeploymentType.STATIC_BUNDLE).admit().start("deploy-bundle")
    story.succeed("deploy-bundle", {"static_root": "/srv/static/s1"})
    assert route_target(story.state, None, Path("/srv")) == RouteTarget(
        static_root="/srv/static/s1"
    )


def _static_rollback(target: str) -> Story:
    plan = initial_plan(DeploymentType.ROLLBACK, rollback_preset=Preset.STATIC)
    story = Story("r1", DeploymentType.ROLLBACK, plan=plan)
    story.events[0] = dep_event(
        "r1",
        requested("r1", kind=DeploymentType.ROLLBACK, plan=plan).model_copy(
            update={"source": Source(static_object="bundles/x", rollback_of=target)}
        ),
        cause="req",
    )
    return story.admit()


def test_a_static_rollback_routes_its_targets_files() -> None:
    target = Story("s1", DeploymentType.STATIC_BUNDLE).admit().start("deploy-bundle")
    target.succeed("deploy-bundle", {"static_root": "/srv/static/s1"})
    rollback = _static_rollback("s1").state
    assert route_target(rollback, target.state, Path("/srv")).static_root == "/srv/static/s1"
    bare = Story("s1", DeploymentType.STATIC_BUNDLE).admit().state
    assert route_target(rollback, bare, Path("/srv")).static_root == "/srv/s1"


def test_nothing_to_route_is_a_clear_error() -> None:
    with pytest.raises(NothingToRoute, match="no live containers and no files"):
        route_target(Story("d1").admit().state, None, Path("/srv"))
    target = Story("s1", DeploymentType.STATIC_BUNDLE).admit()
    target.add(ev.ArtifactPruned(kind="static", ref="/srv/s1"))
    with pytest.raises(NothingToRoute, match="pruned"):
        route_target(_static_rollback("s1").state, target.state, Path("/srv"))


# ---------------------------------------------------------------- the view


def _feed(view: RoutingView, events: list[Envelope], first: int = 1) -> list[bool]:
    at = datetime.now(UTC)
    return [
        view.apply(Recorded(seq=n, stored_at=at, raw=b"", envelope=e))
        for n, e in enumerate(events, first)
    ]


def test_the_view_routes_environments_by_the_latest_switch_and_deployments_by_containers() -> None:
    view = RoutingView("localhost")
    story = _deployed("d1", _c("a", 5001))
    configured = env_event(ENV, ev.EnvironmentConfigured(project="proj", environment="prod"))
    changed = _feed(view, [configured, *story.events])
    assert changed[0] is False  # configured, never switched: nothing served yet
    route = view.desired().route_for("d-d1.proj.localhost")
    assert route is not None and route.target == Target("upstreams", ("127.0.0.1:5001",))
    switch = ev.TrafficSwitched(
        mode="deployment", deployment_id="d1", upstreams=("127.0.0.1:5001",)
    )
    version = view.version
    assert _feed(view, [env_event(ENV, switch)], first=100) == [True]
    assert view.version == version + 1 and view.last_seq == 100
    env_route = view.desired().route_for("prod.proj.localhost")
    assert env_route is not None and env_route.target.upstreams == ("127.0.0.1:5001",)
    paused = env_event(ENV, ev.TrafficSwitched(mode="maintenance", deployment_id="d1"))
    _feed(view, [paused], first=101)
    env_route = view.desired().route_for("prod.proj.localhost")
    assert env_route is not None and env_route.target == MAINTENANCE
    removed = dep_event("d1", ev.ContainersRemoved(container_ids=("a",), reason="teardown"))
    _feed(view, [removed], first=102)
    assert view.desired().route_for("d-d1.proj.localhost") is None


def test_a_job_event_that_changes_no_route_does_not_bump_the_version() -> None:
    view = RoutingView("localhost")
    story = Story("d1").admit()
    _feed(view, story.events)
    version = view.version
    story.start("pull")
    assert _feed(view, story.events[-1:], first=50) == [False]
    assert view.version == version


def test_the_view_serves_a_static_rollback_at_its_own_host_until_its_target_is_pruned() -> None:
    view = RoutingView("localhost")
    target = Story("s1", DeploymentType.STATIC_BUNDLE).admit().start("deploy-bundle")
    target.succeed("deploy-bundle", {"static_root": "/srv/static/s1"})
    rollback = _static_rollback("s1")
    switch = ev.TrafficSwitched(mode="deployment", deployment_id="r1", static_root="/srv/static/s1")
    _feed(view, [*target.events, *rollback.events, env_event(ENV, switch)])
    route = view.desired().route_for("d-r1.proj.localhost")
    assert route is not None and route.target == Target("static", root="/srv/static/s1")
    pruned = dep_event("s1", ev.ArtifactPruned(kind="static", ref="/srv/static/s1"))
    _feed(view, [pruned], first=200)
    assert view.desired().route_for("d-r1.proj.localhost") is None
    assert view.desired().route_for("d-s1.proj.localhost") is None
    assert fold_deployment(rollback.events, "r1").source.rollback_of == "s1"
