"""The deploy lifecycle on real containers: teardown after a route switch, and retention."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import docker
import httpx

from libs.containers.runtime import REPLICA_LABEL, ContainerSpec
from libs.events import catalog as ev
from libs.events import plans
from libs.events.envelope import Envelope, EventData, new_event
from libs.events.outputs import DeployImageOutput, ImageOutput
from libs.events.states import DeploymentStatus
from libs.events.subjects import Aggregate, environment_log_subject
from libs.events.values import ConfigSnapshot, DeploymentType, JobSpec, JobType, Source
from services.deploy.containers import attempt_labels, container_name
from tests.factories import dep_event
from tests.integration.deploy.deploy_support import write_image_tar
from tests.integration.deploy.runside import RunSide


async def _image_deploy(side: RunSide, image: str, cron: int) -> str:
    return await side.request(
        DeploymentType.IMAGE,
        Source(image_ref=image),
        plan=plans.initial_plan(DeploymentType.IMAGE),
        config=ConfigSnapshot(variables={"CRON_SECRET": cron}),
    )


async def test_a_newer_route_drains_stops_and_removes_the_previous_deployment(
    side: RunSide,
    deploy_app_image: str,
    http: httpx.AsyncClient,
    docker_client: docker.DockerClient,
) -> None:
    cron = await side.put_variable("CRON_SECRET", "s")
    await side.start_deploy()
    await side.start_health(http)
    await side.start_router()
    await side.start_lifecycle()
    done = DeploymentStatus.COMPLETED

    first = await _image_deploy(side, deploy_app_image, cron)
    old = await side.wait_for(first, lambda s: s.status is done)
    old_containers = DeployImageOutput.model_validate(old.jobs["deploy"].output).containers
    second = await _image_deploy(side, deploy_app_image, cron)
    new = await side.wait_for(second, lambda s: s.status is done)

    old = await side.wait_for(first, lambda s: s.status is DeploymentStatus.STOPPED)
    assert old.end_reason == f"superseded by {second}"
    assert old.superseded_by == second and old.end_by == "deploy"
    assert old.containers == ()
    for c in old_containers:
        assert not docker_client.containers.list(all=True, filters={"id": c.id}, sparse=True)
    events = [
        e for e in await side.events(first) if e.type in ("ContainersRemoved", "DeploymentStopped")
    ]
    assert [e.type for e in events] == ["ContainersRemoved", "DeploymentStopped"]
    assert isinstance(events[0].data, ev.ContainersRemoved)
    assert events[0].data.reason == "teardown"

    # The new deployment keeps serving.
    for c in DeployImageOutput.model_validate(new.jobs["deploy"].output).containers:
        assert (await http.get(f"http://{c.host}:{c.port}/")).status_code == 200
    assert (await side.state(second)).status is done
    lines = [r["line"] for r in await side.log_lines(environment_log_subject(side.env_id))]
    assert any(f"superseded by {second}: draining 1 container(s)" in line for line in lines)
    assert any("listening on 8000" in line for line in lines)  # the old container's last logs


async def _loaded_images(side: RunSide, tmp_path: Path, count: int) -> list[str]:
    ids = []
    for n in range(count):
        tar = tmp_path / f"image-{n}.tar"
        marker = f"{uuid.uuid4()} {n}".encode()
        write_image_tar(tar, {"marker": (marker, 0o644)}, tag=None)
        ids += await side.runtime.load_image(tar)
    return ids


async def _finished_pull(side: RunSide, image_id: str) -> str:
    """A deployment whose pull recorded `image_id` and which has since been stopped."""
    dep = await side.request(
        DeploymentType.IMAGE,
        Source(image_ref="example/app:1"),
        plan=(JobSpec(id="pull", type=JobType.PULL_EXTERNAL_IMAGE),),
    )
    output = ImageOutput(image_id=image_id).model_dump(mode="json")
    loaded = await side.repo.load(Aggregate.DEPLOYMENT, dep)
    await side.repo.append(
        loaded,
        [
            _event(
                dep,
                ev.JobStarted(
                    job_id="pull", job_type=JobType.PULL_EXTERNAL_IMAGE, attempt=1, executor="t"
                ),
            ),
            _event(dep, ev.JobSucceeded(job_id="pull", attempt=1, output=output)),
            _event(dep, ev.DeploymentStopped(reason="superseded", by="test")),
        ],
    )
    return dep


def _event(dep: str, data: EventData) -> Envelope:
    return new_event(
        data,
        aggregate=Aggregate.DEPLOYMENT,
        aggregate_id=dep,
        causation_id=f"{dep}-{data.event_type()}",
        actor="test",
        correlation_id=dep,
    )


async def test_retention_prunes_images_beyond_the_last_ten_but_never_the_routed_one(
    side: RunSide, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    images = await _loaded_images(side, tmp_path, 12)
    try:
        deps = [await _finished_pull(side, image) for image in images]
        # The oldest is routed (say, a rollback target kept live): never pruned.
        switched = new_event(
            ev.TrafficSwitched(mode="deployment", deployment_id=deps[0]),
            aggregate=Aggregate.ENVIRONMENT,
            aggregate_id=side.env_id,
            causation_id="route",
            actor="test",
        )
        await side.repo.execute(Aggregate.ENVIRONMENT, side.env_id, lambda _: [switched])
        lifecycle = await side.start_lifecycle()  # its first pass applies retention

        await side.wait_for(deps[1], lambda s: "image" in s.pruned, timeout=20)
        assert await lifecycle.apply_retention() == []  # nothing more, nothing twice
        assert not await side.runtime.image_exists(images[1])
        assert all([await side.runtime.image_exists(i) for i in images if i != images[1]])
        state = await side.state(deps[1])
        assert state.pruned == frozenset({"image"})
        recorded = [e.data for e in await side.events(deps[1]) if e.type == "ArtifactPruned"]
        assert recorded == [ev.ArtifactPruned(kind="image", ref=images[1])]
        for dep in [deps[0], *deps[2:]]:
            assert (await side.state(dep)).pruned == frozenset()
    finally:
        for image in images:
            await asyncio.to_thread(_remove_image, docker_client, image)


def _remove_image(client: docker.DockerClient, image: str) -> None:
    try:
        client.images.remove(image, force=True)
    except docker.errors.ImageNotFound:
        pass


async def _live(client: docker.DockerClient, dep: str) -> list[str]:
    found = await asyncio.to_thread(
        client.containers.list,
        all=True,
        filters={"label": f"slipway.deployment={dep}"},
        sparse=True,
    )
    return [c.id for c in found]


async def _maintenance(side: RunSide, dep: str) -> None:
    switched = new_event(
        ev.TrafficSwitched(mode="maintenance", deployment_id=dep),
        aggregate=Aggregate.ENVIRONMENT,
        aggregate_id=side.env_id,
        causation_id=f"maintenance-{dep}",
        actor="routing",
    )
    await side.repo.execute(Aggregate.ENVIRONMENT, side.env_id, lambda _: [switched])


async def test_a_routed_deployment_stopped_or_paused_keeps_its_containers_until_the_route_moves(
    side: RunSide,
    deploy_app_image: str,
    http: httpx.AsyncClient,
    docker_client: docker.DockerClient,
) -> None:
    cron = await side.put_variable("CRON_SECRET", "s")
    await side.start_deploy()
    await side.start_health(http)
    await side.start_router()
    await side.start_lifecycle()
    for end, reason in [
        (ev.DeploymentStopped(reason="stopped by user", by="tok"), "stopped"),
        (ev.DeploymentPaused(by="tok"), "paused"),
    ]:
        dep = await _image_deploy(side, deploy_app_image, cron)
        await side.wait_for(dep, lambda s: s.status is DeploymentStatus.COMPLETED)
        await side.repo.execute(Aggregate.DEPLOYMENT, dep, lambda _, e=end, d=dep: [_event(d, e)])
        await asyncio.sleep(4 * side.settings.reconcile_interval_s)
        assert await _live(docker_client, dep), "removed while traffic still went to it"

        await _maintenance(side, dep)
        for _ in range(100):
            if not await _live(docker_client, dep):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the {reason} deployment's containers were not removed")
        state = await side.wait_for(dep, lambda s: not s.containers)
        removed = [e.data for e in await side.events(dep) if e.type == "ContainersRemoved"]
        assert [r.reason for r in removed] == [reason]
        assert state.status.value == reason


async def test_the_reconciler_removes_a_lost_attempts_containers_and_keeps_the_current_ones(
    side: RunSide, deploy_app_image: str, docker_client: docker.DockerClient
) -> None:
    """A deploy attempt whose holder was lost (a higher attempt claimed the job) leaves its
    containers behind: the reconciler removes exactly those, never the current attempt's."""
    dep = await side.request(
        DeploymentType.IMAGE,
        Source(image_ref=deploy_app_image),
        plan=(JobSpec(id="deploy", type=JobType.DEPLOY_IMAGE),),
    )
    ids = {}
    for attempt in (1, 2):
        loaded = await side.repo.load(Aggregate.DEPLOYMENT, dep)
        started = ev.JobStarted(
            job_id="deploy", job_type=JobType.DEPLOY_IMAGE, attempt=attempt, executor="t"
        )
        claim = dep_event(dep, started, cause=f"claim-{attempt}", job_id="deploy", attempt=attempt)
        await side.repo.append(loaded, [claim])
        labels = attempt_labels(side.project, side.environment, dep, "deploy", attempt)
        spec = ContainerSpec(
            name=container_name(side.project, side.environment, dep, attempt, 0),
            image=deploy_app_image,
            port=8000,
            labels={**labels, REPLICA_LABEL: "0"},
        )
        ids[attempt] = (await side.runtime.run(spec)).id

    lifecycle = await side.start_lifecycle()
    removed = await lifecycle.reconcile_containers()

    assert [(r.deployment_id, r.reason) for r in removed] == [(dep, "stale attempt")]
    assert [c.info.id for c in removed[0].containers] == [ids[1]]
    assert not docker_client.containers.list(all=True, filters={"id": ids[1]}, sparse=True)
    [kept] = docker_client.containers.list(filters={"id": ids[2]})
    assert kept.status == "running"
    # The lost attempt never recorded its containers, so the deployment's record has none to
    # drop; the environment's log says what went.
    assert not [e for e in await side.events(dep) if isinstance(e.data, ev.ContainersRemoved)]
    lines = [r["line"] for r in await side.log_lines(environment_log_subject(side.env_id))]
    name = container_name(side.project, side.environment, dep, 1, 0)
    assert any(f"removed {name} (stale attempt)" in line for line in lines)
    # A second pass finds nothing more to do.
    assert await lifecycle.reconcile_containers() == []
