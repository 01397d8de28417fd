"""The routing service with real NATS, Caddy and Docker: deployments driven through the job
mechanism (toy deploy and health handlers), requests through the edge with a Host header."""

from __future__ import annotations

import asyncio

import pytest

from libs.events import catalog as ev
from libs.events import plans
from libs.events.outputs import MarkCompleteOutput, RouteTrafficOutput
from libs.events.states import DeploymentState, DeploymentStatus, JobStatus
from libs.events.subjects import Aggregate
from libs.events.values import DeploymentType, JobType, Preset
from tests.integration.routing.service_support import SLOW_MARK, USER, World, answers

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("routing")]


def completed(state: DeploymentState) -> bool:
    return state.status is DeploymentStatus.COMPLETED


async def test_a_static_and_an_image_deployment_are_served_at_their_environment_and_own_hosts(
    world: World,
) -> None:
    await world.configure("production", domain=f"{world.project}.example")
    await world.configure("staging")
    static = await world.deploy("static v1", env="staging", kind=DeploymentType.STATIC_BUNDLE)
    image = await world.deploy("image v1")
    image_state = await world.wait(image, completed)
    static_state = await world.wait(static, completed)

    for host in (
        world.env_host("production"),
        f"{world.project}.localhost",  # production also answers at the project host
        f"{world.project}.example",  # and at its custom domain
        world.dep_host(image),
    ):
        await world.served(host, answers("image v1"))
    for host in (world.env_host("staging"), world.dep_host(static)):
        await world.served(host, answers("static v1"))
    assert (await world.get("nothing.localhost"))[0] == 404

    route = RouteTrafficOutput.model_validate(image_state.output_of(JobType.ROUTE_TRAFFIC))
    assert route.host == world.env_host("production")
    assert route.deployment_host == world.dep_host(image)
    assert route.upstreams == tuple(f"{c.host}:{c.port}" for c in image_state.containers)
    env = await world.environment("production")
    assert env.route is not None and env.route.seq == route.traffic_seq
    static_route = RouteTrafficOutput.model_validate(static_state.output_of(JobType.ROUTE_TRAFFIC))
    assert static_route.static_root == str(world.settings.static_dir.absolute() / static)
    done = MarkCompleteOutput.model_validate(
        static_state.output_of(JobType.MARK_DEPLOYMENT_COMPLETE)
    )
    assert done.url == f"http://{world.env_host('staging')}:{world.settings.edge_port}"


@pytest.mark.parametrize("slow", ["older", "newer"])
async def test_of_two_racing_deployments_the_older_never_serves_and_ends_superseded(
    world: World, slow: str
) -> None:
    await world.configure()
    host = world.env_host()
    older = await world.deploy(f"older {SLOW_MARK}" if slow == "older" else "older")
    await world.wait(older, lambda s: s.jobs["deploy"].status is not JobStatus.PENDING)
    newer = await world.request(f"newer {SLOW_MARK}" if slow == "newer" else "newer")
    await world.admit(newer)  # from here on, the older one must never be served

    seen: list[tuple[int, str]] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + 60
    while loop.time() < end:
        seen.append(await world.get(host))
        states = [await world.state(d) for d in (older, newer)]
        if states[0].ended is not None and completed(states[1]):
            break
        await asyncio.sleep(0.02)
    for _ in range(20):  # and a little longer: the older's route job is over, it stays unserved
        seen.append(await world.get(host))
        await asyncio.sleep(0.02)

    assert not [s for s in seen if "older" in s[1]], "the older deployment was served"
    assert seen[-1] == (200, f"newer {SLOW_MARK}" if slow == "newer" else "newer")
    state = await world.state(older)
    jobs = [(j.id, j.status.value, j.attempt) for j in state.ordered_jobs]
    assert state.status is DeploymentStatus.STOPPED, jobs
    assert (state.superseded_by, state.end_by) == (newer, "routing")
    assert state.end_reason == f"superseded by {newer}"
    assert state.jobs["route"].status is not JobStatus.SUCCESS


async def test_pause_shows_the_maintenance_page_resume_serves_again_and_a_stop_shows_it(
    world: World,
) -> None:
    await world.configure()
    host = world.env_host()
    dep = await world.deploy("app v1")
    await world.wait(dep, completed)
    await world.served(host, answers("app v1"))

    await world.append(Aggregate.DEPLOYMENT, dep, ev.DeploymentPaused(by=USER))
    _, page = await world.served(host, lambda s, _: s == 503)
    assert "maintenance" in page.lower()
    assert (await world.get(world.dep_host(dep)))[0] == 503  # its own host too
    env = await world.environment()
    assert env.route is not None and (env.route.mode, env.route.deployment_id) == (
        "maintenance",
        dep,
    )
    await world.teardown(dep, reason="paused")  # deploy stops it once the route moved

    segment = plans.resume_segment(Preset.CONTAINER, 1)
    await world.append(Aggregate.DEPLOYMENT, dep, ev.DeploymentResumed(by=USER, segment=segment))
    state = await world.wait(dep, completed)
    assert state.jobs["route-r1"].status is JobStatus.SUCCESS
    await world.served(host, answers("app v1"))

    await world.append(
        Aggregate.DEPLOYMENT, dep, ev.DeploymentStopped(reason="stopped by user", by=USER)
    )
    await world.served(host, lambda s, _: s == 503)
    env = await world.environment()
    assert env.route is not None and env.route.mode == "maintenance"
